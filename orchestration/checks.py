"""The checks that guard a calibration before its parameters may go live.

Pure functions over a `PairCalibration`; the `item_calibration` asset reports them as blocking
asset checks, and `published_item_parameters` evaluates them again itself, so a set that failed
is never activated, whatever ran before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from orchestration.calibration import DRIFT_LIMIT, PairCalibration

# Plausible ranges for freshly estimated items (logistic metric, D = 1). The EM keeps estimates
# finite inside wider boxes (a ≤ 8, |b| ≤ 8, c ≤ 0.6); an estimate out here is degenerate
# (a miskeyed item, too few informative responses) and needs a person to look at it.
A_RANGE = (0.1, 4.0)
B_RANGE = (-6.0, 6.0)
C_RANGE = (0.0, 0.5)
MAX_SE_B = 2.0


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    description: str
    details: dict = field(default_factory=dict)


def parameter_bounds(pair: PairCalibration) -> CheckOutcome:
    """Every re-estimated item has a, b, c in range and finite standard errors."""
    free = pair.calibrated[~pair.calibrated["is_anchor"]]
    a, b, c = (free[k].to_numpy(dtype=float) for k in ("a", "b", "c"))
    se = free[["se_a", "se_b", "se_c"]].to_numpy(dtype=float)
    bad = (
        ~np.isfinite(a)
        | ~np.isfinite(b)
        | ~np.isfinite(c)
        | (a < A_RANGE[0])
        | (a > A_RANGE[1])
        | (b < B_RANGE[0])
        | (b > B_RANGE[1])
        | (c < C_RANGE[0])
        | (c > C_RANGE[1])
        | ~np.isfinite(se).all(axis=1)
        | (se[:, 1] > MAX_SE_B)
    )
    offenders = free[bad]
    return CheckOutcome(
        "parameter_bounds",
        not bool(bad.any()),
        f"{int(bad.sum())} of {len(free)} re-estimated items outside a∈{A_RANGE}, "
        f"b∈{B_RANGE}, c∈{C_RANGE} or without finite SEs (SE(b) ≤ {MAX_SE_B})",
        {
            "offending_versions": offenders["question_version_id"].astype(int).tolist()[:50],
            "n_checked": len(free),
        },
    )


def convergence(pair: PairCalibration) -> CheckOutcome:
    """The EM reached its tolerance (and so did the free re-estimation used for drift)."""
    ok = pair.converged and pair.free_converged is not False
    return CheckOutcome(
        "convergence",
        ok,
        f"EM {'converged' if pair.converged else 'did NOT converge'} after {pair.iterations} "
        "iterations"
        + ("" if pair.free_converged is not False else "; free re-estimation did NOT converge"),
        {"iterations": pair.iterations},
    )


def drift(pair: PairCalibration, limit: float = DRIFT_LIMIT) -> CheckOutcome:
    """Mean |Δb| of the anchors under a free re-estimation is at most `limit`."""
    value = pair.drift
    if value is None:
        return CheckOutcome(
            "drift", True, "no anchors yet (first calibration of this exam code)", {}
        )
    return CheckOutcome(
        "drift",
        value <= limit,
        f"mean |Δb| of {len(pair.drift_items)} anchors = {value:.3f} (limit {limit})",
        {"mean_abs_delta_b": value, "n_anchors": len(pair.drift_items)},
    )


CHECKS = (parameter_bounds, convergence, drift)
CHECK_NAMES = tuple(f.__name__ for f in CHECKS)


def evaluate(pair: PairCalibration) -> list[CheckOutcome]:
    return [check(pair) for check in CHECKS]
