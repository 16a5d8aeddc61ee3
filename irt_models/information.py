"""Standard errors of calibrated 3PL items from the observed information (Louis 1982).

For item j, the observed-data information block is

    I_j = Σ_q ∂²P_jq (w_jq/Q_jq − r_jq/P_jq)  +  Σ_{responses of j} s_r s_rᵀ  −  ∇² log prior,

where r_jq, w_jq are the expected correct/wrong counts at θ_q, ∂²P the Hessian of P in (a, b, c)
and s_r = Σ_q π_{p(r)q} ∂ log P(x_r | θ_q) the response's score under its person's posterior
(Fisher's identity). The first two terms are Louis's "complete information minus missing
information" restricted to the item's own block; SEs are √diag(I_j⁻¹). Items whose block is not
positive definite fall back to the expected complete-data information, so no calibrated item
gets a NaN SE.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

from irt_models._types import BoolArray, FloatArray
from irt_models.em import C_PRIOR_ALPHA, C_PRIOR_BETA, LOG_A_PRIOR_MEAN, LOG_A_PRIOR_SD


def _derivatives(
    theta: FloatArray, a: FloatArray, b: FloatArray, c: FloatArray, use_c: bool
) -> tuple[FloatArray, FloatArray, list[FloatArray], dict[tuple[int, int], FloatArray]]:
    """P, Q and the first and second derivatives of P in (a, b, c) at every (item, θ_q)."""
    a_, b_, c_ = a[:, None], b[:, None], c[:, None]
    d = theta[None, :] - b_
    s: FloatArray = expit(a_ * d)  # scipy has no type information
    s1 = s * (1.0 - s)
    s2 = s1 * (1.0 - 2.0 * s)
    g = 1.0 - c_
    p = c_ + g * s
    q = g * (1.0 - s)
    first = [g * s1 * d, -g * s1 * a_]
    second = {
        (0, 0): g * s2 * d * d,
        (0, 1): g * (-s2 * a_ * d - s1),
        (1, 1): g * s2 * a_ * a_,
    }
    if use_c:
        first.append(1.0 - s)
        second[(0, 2)] = -s1 * d
        second[(1, 2)] = s1 * a_
        second[(2, 2)] = np.zeros_like(s)
    return p, q, first, second


def prior_curvature(
    a: FloatArray, c: FloatArray, use_c: bool, priors: bool, log_a_mean: float = LOG_A_PRIOR_MEAN
) -> FloatArray:
    """−∇² log prior in (a, b, c) per item: LogNormal(μ_a, 0.5) on a, Beta(5, 17) on c."""
    k = 3 if use_c else 2
    out = np.zeros((a.size, k, k))
    if not priors:
        return out
    var = LOG_A_PRIOR_SD**2
    std = (np.log(a) - log_a_mean) / var
    out[:, 0, 0] = -(1.0 + std - 1.0 / var) / (a * a)
    if use_c:
        out[:, 2, 2] = (C_PRIOR_ALPHA - 1) / c**2 + (C_PRIOR_BETA - 1) / (1 - c) ** 2
    return out


def item_information(
    st: sp.csr_matrix,
    post: FloatArray,
    theta: FloatArray,
    a: FloatArray,
    b: FloatArray,
    c: FloatArray,
    r: FloatArray,
    w: FloatArray,
    *,
    use_c: bool,
    priors: bool,
    log_a_mean: float = LOG_A_PRIOR_MEAN,
) -> tuple[FloatArray, FloatArray]:
    """Louis observed-information blocks (J × k × k) and expected complete-data blocks.

    ``st`` is the 2J × persons transpose of the indicator matrix of `irt_models.em` (CSR),
    ``post`` the final posterior (persons × Q).
    Returns (observed, expected), both including the prior's curvature.
    """
    n_items = a.size
    k = 3 if use_c else 2
    p, q, first, second = _derivatives(theta, a, b, c, use_c)
    pq = np.maximum(p * q, 1e-300)
    n = r + w
    expected = np.empty((n_items, k, k))
    observed = np.empty((n_items, k, k))
    curv = w / np.maximum(q, 1e-300) - r / np.maximum(p, 1e-300)
    for i in range(k):
        for j in range(i, k):
            expected[:, i, j] = expected[:, j, i] = (n * first[i] * first[j] / pq).sum(axis=1)
            observed[:, i, j] = observed[:, j, i] = (second[(i, j)] * curv).sum(axis=1)
    # per-response scores s_r = Σ_q π_pq g(x_r, θ_q) with g = ∂P/P (correct), −∂P/Q (wrong),
    # one column of Sᵀ (one item side) at a time: a small BLAS product, no per-person loop
    table = np.stack(
        [np.vstack([f / np.maximum(p, 1e-300), -f / np.maximum(q, 1e-300)]) for f in first],
        axis=2,
    )  # 2J × Q × k
    outer = np.zeros((n_items, k, k))
    indptr, persons = st.indptr, st.indices
    for col in range(2 * n_items):
        lo, hi = indptr[col], indptr[col + 1]
        if hi > lo:
            score = post[persons[lo:hi]] @ table[col]
            outer[col % n_items] += score.T @ score
    observed += outer
    prior = prior_curvature(a, c, use_c, priors, log_a_mean)
    return observed + prior, expected + prior


def standard_errors(observed: FloatArray, expected: FloatArray) -> tuple[FloatArray, BoolArray]:
    """√diag of the inverse information per item; a block that is not positive definite uses
    the expected complete-data information instead. Returns (se J × k, used_fallback J)."""
    se = np.empty(observed.shape[:2])
    fallback = np.zeros(observed.shape[0], dtype=bool)
    for idx in range(observed.shape[0]):
        for mat, is_fb in ((observed[idx], False), (expected[idx], True)):
            try:
                chol = np.linalg.cholesky(mat)
            except np.linalg.LinAlgError:
                continue
            inv_l = np.linalg.inv(chol)
            se[idx] = np.sqrt((inv_l * inv_l).sum(axis=0))
            fallback[idx] = is_fb
            break
        else:
            se[idx] = np.inf
            fallback[idx] = True
    return se, fallback
