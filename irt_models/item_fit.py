"""Item fit statistics of a calibrated 3PL bank, computed from sparse responses.

- RMSD (Köhler, Robitzsch & Hartig 2020; used operationally in PISA): the root mean squared
  difference between the posterior-weighted observed proportion correct r_jq/n_jq and the model
  P_j(θ_q), weighted by the item's expected respondents n_jq at θ_q. PISA flags RMSD > 0.12.
- Infit and outfit mean squares (Wright & Masters 1982) with each person at their EAP θ̂:
  outfit = mean of (x − P)²/(P(1 − P)), infit = Σ(x − P)² / Σ P(1 − P). Expected 1.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from irt_models._types import FloatArray, IntArray, ResponseArray
from irt_models.model import prob_3pl


def rmsd(
    theta: FloatArray, a: FloatArray, b: FloatArray, c: FloatArray, r: FloatArray, w: FloatArray
) -> FloatArray:
    """RMSD_j = √(Σ_q (n_jq/n_j)·(r_jq/n_jq − P_j(θ_q))²) from expected counts r, w (J × Q)."""
    n = r + w
    p_model = prob_3pl(theta, a, b, c).T  # J × Q
    with np.errstate(divide="ignore", invalid="ignore"):
        p_obs = np.where(n > 0, r / n, 0.0)
        weights = n / n.sum(axis=1, keepdims=True)
    msd: FloatArray = np.nansum(weights * (p_obs - p_model) ** 2, axis=1)  # numpy types it Any
    return np.sqrt(msd)


def infit_outfit(
    person_theta: FloatArray,
    person: IntArray,
    item: IntArray,
    correct: ResponseArray,
    a: FloatArray,
    b: FloatArray,
    c: FloatArray,
    n_items: int,
) -> tuple[FloatArray, FloatArray]:
    """Infit and outfit mean squares per item, persons at ``person_theta`` (their EAP θ̂).

    ``person``, ``item``, ``correct`` are the integer-coded responses.
    """
    z = a[item] * (person_theta[person] - b[item])
    p = c[item] + (1.0 - c[item]) * expit(z)
    var = np.maximum(p * (1.0 - p), 1e-12)
    sq = (correct - p) ** 2
    count = np.bincount(item, minlength=n_items)
    with np.errstate(divide="ignore", invalid="ignore"):
        outfit = np.bincount(item, weights=sq / var, minlength=n_items) / count
        infit = np.bincount(item, weights=sq, minlength=n_items) / np.bincount(
            item, weights=var, minlength=n_items
        )
    return infit, outfit
