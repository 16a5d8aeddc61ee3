"""The three-parameter logistic (3PL) item response model on the logistic metric (D = 1).

    P(θ) = c + (1 − c) / (1 + exp(−a (θ − b)))          (Birnbaum 1968)

Every function here broadcasts an ability array against item arrays: the result has shape
``theta.shape + a.shape`` (scalar θ gives one value per item; a vector of abilities and a vector of
items give an abilities × items matrix; all-scalar arguments give a NumPy scalar, which the
annotations, like NumPy's own stubs, count as a 0-d array). Logarithms are computed without
forming P first, so they stay finite far in the tails.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import expit, log_expit

from irt_models._types import FloatArray

#: Name of the metric every parameter of this package is expressed in. Stored parameter sets
#: record it so a later reader never mixes the logistic metric with the normal-ogive one (D = 1.7).
METRIC = "logistic_D1"
#: The scaling constant of that metric.
D = 1.0


def _outer(
    theta: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    theta = np.asarray(theta, dtype=float)
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    c = np.asarray(c, dtype=float)
    a, b, c = np.broadcast_arrays(a, b, c)
    return theta.reshape(theta.shape + (1,) * a.ndim), a, b, c


def logit_3pl(
    theta: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike | None = None
) -> FloatArray:
    """Linear predictor z = D·a·(θ − b) with D = 1, broadcast as ``theta.shape + a.shape``."""
    th, a, b, _ = _outer(theta, a, b, 0.0 if c is None else c)
    return D * a * (th - b)


def prob_3pl(
    theta: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike
) -> FloatArray:
    """Probability of a correct answer, P(θ) = c + (1 − c)·σ(a(θ − b)), σ the logistic function.

    Shape ``theta.shape + a.shape`` (Birnbaum 1968; logistic metric D = 1).
    """
    th, a, b, c = _outer(theta, a, b, c)
    z = D * a * (th - b)
    s: FloatArray = expit(z)  # scipy has no type information: say what its ufunc returns here
    return c + (1.0 - c) * s


def log_prob_3pl(
    theta: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """log P(θ) and log(1 − P(θ)) of the 3PL, computed stably in log space.

    log P = logaddexp(log c, log(1 − c) − softplus(−z)),
    log(1 − P) = log(1 − c) − softplus(z), with z = a(θ − b) and softplus(x) = log(1 + eˣ).
    Returns the pair (log_p, log_q), each of shape ``theta.shape + a.shape``.
    """
    th, a, b, c = _outer(theta, a, b, c)
    z = D * a * (th - b)
    return log_pq_from_logit(z, c)


def log_pq_from_logit(z: FloatArray, c: FloatArray) -> tuple[FloatArray, FloatArray]:
    """log P and log(1 − P) from the linear predictor z and guessing c (see `log_prob_3pl`)."""
    log1m_c = np.log1p(-c)
    with np.errstate(divide="ignore"):
        log_c = np.log(c)
    log_q = log1m_c + log_expit(-z)
    log_p = np.logaddexp(log_c, log1m_c + log_expit(z))
    return log_p, log_q


def info_3pl(
    theta: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike
) -> FloatArray:
    """Fisher information of a 3PL item, I(θ) = a² · (Q/P) · ((P − c)/(1 − c))²  (Lord 1980, eq. 5-17).

    With D = 1 and s = σ(a(θ − b)) this is a²(1 − c)(1 − s)s² / (c + (1 − c)s). Shape
    ``theta.shape + a.shape``.
    """
    th, a, b, c = _outer(theta, a, b, c)
    s = D * a * (th - b)
    shape = np.shape(s)
    s = np.array(s, dtype=float, ndmin=1)
    expit(s, out=s)
    num = (1.0 - s) * s
    num *= s
    num *= (D * a) ** 2 * (1.0 - c)
    den = (1.0 - c) * s
    den += c
    np.maximum(den, 1e-300, out=den)
    num /= den
    return num.reshape(shape)


def total_info_3pl(
    theta: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike
) -> FloatArray:
    """Test information, the sum of item informations over the items (last axis)."""
    total: FloatArray = info_3pl(theta, a, b, c).sum(axis=-1)  # numpy types .sum() as Any
    return total


def log_likelihood(
    theta: npt.ArrayLike,
    correct: npt.ArrayLike,
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    c: npt.ArrayLike,
) -> FloatArray:
    """Log-likelihood of a response pattern, Σ_i [x_i log P_i(θ) + (1 − x_i) log(1 − P_i(θ))].

    ``correct`` (0/1) is aligned with the item arrays; shape ``theta.shape``.
    """
    x = np.asarray(correct, dtype=bool)
    log_p, log_q = log_prob_3pl(theta, a, b, c)
    total: FloatArray = np.where(x, log_p, log_q).sum(axis=-1)  # numpy types .sum() as Any
    return total
