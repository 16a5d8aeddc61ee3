"""The checks that guard a calibration before its parameters may go live.

Pure functions over a `PairCalibration`; the `item_calibration` asset reports them as asset
checks (ERROR severity, one result over every exam code), and `published_item_parameters`
evaluates them again itself for each exam code, so a set that failed is never activated, whatever
ran before, while the other exam codes' sets still go live.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from orchestration.calibration import (
    A_RANGE,
    B_RANGE,
    C_RANGE,
    DRIFT_LIMIT,
    MAX_SE_B,
    PairCalibration,
    plausible,
)

# A calibration that had to screen out more than this share of its re-estimated items is
# implausible as a whole (a broken scale, bad data upstream): nothing of it is published.
MAX_SCREENED_SHARE = 0.2


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    description: str
    details: dict = field(default_factory=dict)


def parameter_bounds(pair: PairCalibration) -> CheckOutcome:
    """Every item about to be published has a, b, c in range and finite SEs, and at most 20% of
    the re-estimated items had to be screened out as implausible."""
    publish = pair.calibrated[~pair.calibrated["is_anchor"]]
    bad = ~plausible(publish)
    screened = (
        pair.items["screened_out"].to_numpy(dtype=bool)
        if "screened_out" in pair.items
        else np.zeros(len(pair.items), dtype=bool)
    )
    estimated = len(publish) + int(screened.sum())
    share = float(screened.sum() / estimated) if estimated else 0.0
    offenders = publish[bad]["question_version_id"].astype(int).tolist()
    return CheckOutcome(
        "parameter_bounds",
        bool(not bad.any() and share <= MAX_SCREENED_SHARE),
        f"{int(bad.sum())} of {len(publish)} items to publish outside a∈{A_RANGE}, b∈{B_RANGE}, "
        f"c∈{C_RANGE} or without finite SEs (SE(b) ≤ {MAX_SE_B}); {int(screened.sum())} of "
        f"{estimated} re-estimated items screened out ({share:.0%}, limit "
        f"{MAX_SCREENED_SHARE:.0%})",
        {
            "offending_versions": offenders[:50],
            "screened_out_versions": pair.items.loc[screened, "question_version_id"]
            .astype(int)
            .tolist()[:50],
            "n_checked": len(publish),
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
