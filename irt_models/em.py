"""Bock-Aitkin EM for the 3PL on a sparse person × item response matrix: the two steps and priors.

The response matrix is held as one sparse indicator matrix S of shape persons × 2J: column j
marks a correct answer to item j, column J + j a wrong one. With T the 2J × Q table of
log P_j(θ_q) (top) and log(1 − P_j(θ_q)) (bottom), the E-step is a single sparse product
S·T (each person's log-likelihood at every quadrature point), and the expected counts of the
M-step are Sᵀ·posterior (Bock & Aitkin 1981). No loop runs over persons.

Priors: c ~ Beta(5, 17), a ~ LogNormal(μ_a, 0.5) (log a ~ N(μ_a, 0.5²), the density of a),
none on b. μ_a is 0 unless the caller floats it to the bank's own mean log a
(`irt_models.calibration`, ``float_a_prior``). Estimates are posterior modes in (a, b, c); the M-step
works in (log a, b, logit c), which moves the mode nowhere since no Jacobian is added.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, logit

from irt_models._types import FloatArray, IntArray, ResponseArray

#: c ~ Beta(C_PRIOR_ALPHA, C_PRIOR_BETA): mode 0.2, mean 0.227 (mirt's customary guessing prior).
C_PRIOR_ALPHA, C_PRIOR_BETA = 5.0, 17.0
#: log a ~ N(LOG_A_PRIOR_MEAN, LOG_A_PRIOR_SD²).
LOG_A_PRIOR_MEAN, LOG_A_PRIOR_SD = 0.0, 0.5

# Box on the working parameters: keeps a Heywood case (a → ∞, c → 1) finite when priors are off.
_LOG_A_BOUNDS = (np.log(0.05), np.log(8.0))
_B_BOUNDS = (-8.0, 8.0)
_LOGIT_C_BOUNDS = (logit(1e-4), logit(0.6))


@dataclass
class Quadrature:
    """Equally spaced standard-normal points z_q on [−limit, limit] with discrete normal weights.

    θ_q = μ + σ·z_q for a latent N(μ, σ²) (μ = 0, σ = 1 unless anchors fix the scale).
    """

    z: FloatArray
    log_w: FloatArray

    @classmethod
    def normal(cls, n_quad: int, limit: float = 6.0) -> Quadrature:
        """Points and log-weights w_q ∝ φ(z_q), normalised to sum to one."""
        if n_quad < 41:
            raise ValueError(f"n_quad must be at least 41 (got {n_quad})")
        z = np.linspace(-limit, limit, n_quad)
        log_w = -0.5 * z * z
        log_w -= np.log(np.exp(log_w).sum())
        return cls(z=z, log_w=log_w)


def response_matrix(
    person: IntArray,
    item: IntArray,
    correct: ResponseArray,
    n_persons: int,
    n_items: int,
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Sparse S (persons × 2J, CSR) and Sᵀ (CSR) from integer-coded long responses."""
    col = item + n_items * (1 - correct.astype(np.int64))
    s = sp.csr_matrix(
        (np.ones(person.size), (person, col)), shape=(n_persons, 2 * n_items), dtype=np.float64
    )
    s.sum_duplicates()
    return s, s.T.tocsr()


def log_table(theta: FloatArray, a: FloatArray, b: FloatArray, c: FloatArray) -> FloatArray:
    """2J × Q table [log P_j(θ_q); log(1 − P_j(θ_q))] of the 3PL (D = 1), computed stably."""
    z = a[:, None] * (theta[None, :] - b[:, None])
    np.clip(z, -700.0, 700.0, out=z)
    e = np.exp(z)
    l1e = np.log1p(e)
    log_p = np.log(c[:, None] + e) - l1e
    log_q = np.log1p(-c)[:, None] - l1e
    return np.vstack([log_p, log_q])


def e_step(
    s: sp.csr_matrix, st: sp.csr_matrix, table: FloatArray, log_w: FloatArray
) -> tuple[FloatArray, FloatArray, float]:
    """Posterior over the quadrature for every person, and the expected counts per item.

    log f_p(q) = (S·T)_pq + log w_q; posterior π_pq = f_p(q)/Σ_q f_p(q); marginal log-likelihood
    Σ_p log Σ_q f_p(q) (Bock & Aitkin 1981). Returns (posterior N × Q, counts 2J × Q = Sᵀπ,
    marginal log-likelihood); counts[:J] are expected correct answers r_jq, counts[J:] wrong.
    """
    lp = s @ table
    lp += log_w
    m = lp.max(axis=1, keepdims=True)
    lp -= m
    np.exp(lp, out=lp)
    tot = lp.sum(axis=1, keepdims=True)
    lp /= tot
    loglik = float(m.sum() + np.log(tot).sum())
    return lp, st @ lp, loglik


def log_prior(
    a: FloatArray, c: FloatArray, use_c: bool, log_a_mean: float = LOG_A_PRIOR_MEAN
) -> float:
    """Σ over free items of log LogNormal(a; μ_a, 0.5) + log Beta(c; 5, 17), up to constants."""
    la = np.log(a)
    out = float(np.sum(-la - 0.5 * ((la - log_a_mean) / LOG_A_PRIOR_SD) ** 2))
    if use_c:
        out += float(np.sum((C_PRIOR_ALPHA - 1) * np.log(c) + (C_PRIOR_BETA - 1) * np.log1p(-c)))
    return out


def to_working(a: FloatArray, b: FloatArray, c: FloatArray, use_c: bool) -> FloatArray:
    """Stack (log a, b, logit c) as an items × k array (k = 3 for the 3PL, 2 for the 2PL)."""
    cols = [np.log(a), b] + ([logit(c)] if use_c else [])
    return np.column_stack(cols)


def from_working(x: FloatArray, use_c: bool) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Inverse of `to_working`: (a, b, c) with c = 0 for the 2PL."""
    a = np.exp(x[:, 0])
    b = x[:, 1].copy()
    c = expit(x[:, 2]) if use_c else np.zeros_like(a)
    return a, b, c


def clip_working(x: FloatArray) -> FloatArray:
    """Project working parameters onto the box that keeps estimates finite."""
    x[:, 0] = np.clip(x[:, 0], *_LOG_A_BOUNDS)
    x[:, 1] = np.clip(x[:, 1], *_B_BOUNDS)
    if x.shape[1] == 3:
        x[:, 2] = np.clip(x[:, 2], *_LOGIT_C_BOUNDS)
    return x


def m_step(
    x: FloatArray,
    theta: FloatArray,
    r: FloatArray,
    w: FloatArray,
    *,
    use_c: bool,
    priors: bool,
    n_newton: int = 3,
    log_a_mean: float = LOG_A_PRIOR_MEAN,
) -> FloatArray:
    """Fisher-scoring M-step for every free item at once, in working parameters.

    Maximises Σ_q [r_q log P(θ_q) + w_q log(1 − P(θ_q))] + log prior, for items (rows of x,
    r, w). Gradient Σ_q (r_q − n_q P_q)/(P_q Q_q)·∂P_q, expected information
    Σ_q n_q ∂P_q ∂P_qᵀ/(P_q Q_q) (n_q = r_q + w_q), plus the prior's curvature; a few
    steps of at most 1 in any coordinate. Returns the updated x.
    """
    x = x.copy()
    n = r + w
    k = x.shape[1]
    for _ in range(n_newton):
        a = np.exp(x[:, 0])[:, None]
        b = x[:, 1][:, None]
        c = expit(x[:, 2])[:, None] if use_c else 0.0
        d = theta[None, :] - b
        s = expit(a * d)
        ds = s * (1.0 - s)
        p = c + (1.0 - c) * s
        q = (1.0 - c) * (1.0 - s)
        pq = np.maximum(p * q, 1e-300)
        derivs = [(1.0 - c) * ds * d * a, -(1.0 - c) * ds * a]  # ∂P/∂log a, ∂P/∂b
        if use_c:
            derivs.append(c * (1.0 - c) * (1.0 - s))  # ∂P/∂logit c
        resid = (r - n * p) / pq
        wgt = n / pq
        grad = np.stack([(resid * dp).sum(axis=1) for dp in derivs], axis=1)
        info = np.empty((x.shape[0], k, k))
        for i in range(k):
            for j in range(i, k):
                info[:, i, j] = info[:, j, i] = (wgt * derivs[i] * derivs[j]).sum(axis=1)
        if priors:
            la = x[:, 0]
            var_a = LOG_A_PRIOR_SD**2
            grad[:, 0] += -1.0 - (la - log_a_mean) / var_a
            info[:, 0, 0] += 1.0 / var_a
            if use_c:
                cc = expit(x[:, 2])
                grad[:, 2] += (C_PRIOR_ALPHA - 1) * (1 - cc) - (C_PRIOR_BETA - 1) * cc
                info[:, 2, 2] += (C_PRIOR_ALPHA + C_PRIOR_BETA - 2) * cc * (1 - cc)
        info[:, np.arange(k), np.arange(k)] += 1e-8
        step = np.linalg.solve(info, grad[..., None])[..., 0]
        step = np.clip(step, -1.0, 1.0)
        x = clip_working(x + step)
        if np.abs(step).max() < 1e-7:
            break
    return x


def latent_moments(post_sum: FloatArray, theta: FloatArray) -> tuple[float, float]:
    """Mean and SD of the latent distribution from Σ_p π_pq (Bock & Aitkin 1981, eq. 23-style)."""
    wts = post_sum / post_sum.sum()
    mu = float(wts @ theta)
    sd = float(np.sqrt(wts @ (theta - mu) ** 2))
    return mu, sd
