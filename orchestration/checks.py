"""The checks that guard a calibration before its parameters may go live.

Pure functions over a `PairCalibration`; the `item_calibration` asset evaluates them once per
partition (one exam code) and reports them as asset checks (ERROR and blocking for the blocking
ones, WARN for `anchor_drift`): a failed one stops that exam code's publishing only. The
outcomes are stored with the calibration, and `published_item_parameters` refuses a set whose
stored outcomes failed (a later run publishing the stored calibration alone), so a set that
failed a blocking check is never activated, whatever ran before. Drifted anchors alone never block: they were dropped from the anchor set and
re-estimated; only an unsafe link does (`linking`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from orchestration.calibration import (
    A_RANGE,
    B_RANGE,
    C_RANGE,
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
    # A failed blocking check keeps the set from going live; a failed warning is reported only.
    blocking: bool = True


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


def linking(pair: PairCalibration) -> CheckOutcome:
    """The free re-estimation could be linked onto the live scale safely (enough anchors left,
    not too many drifting, a plausible slope); see `orchestration.calibration.linking_problems`."""
    report = pair.linking
    if report is None:
        return CheckOutcome(
            "linking", True, "no anchors yet (first calibration of this exam code)", {}
        )
    summary = report.summary()
    link = report.link
    head = (
        f"{link.method}: A = {link.A:.3f}, B = {link.B:+.3f}; "
        if link
        else "no link (< 2 anchors re-estimated); "
    )
    text_ = (
        f"{head}{report.n_candidates - report.n_flagged} of {report.n_candidates} anchors kept"
        + (f"; UNSAFE: {'; '.join(report.problems)}" if report.problems else "")
    )
    return CheckOutcome("linking", report.safe, text_, summary)


def anchor_drift(pair: PairCalibration, limit: int = 20) -> CheckOutcome:
    """No anchor drifted after linking (a warning: drifted anchors were dropped from the anchor
    set and re-estimated as free items; `linking` decides whether that leaves a safe link)."""
    report = pair.linking
    if report is None or report.n_flagged == 0:
        n = 0 if report is None else report.n_candidates
        return CheckOutcome(
            "anchor_drift", True, f"no anchor drifted ({n} judged)", {}, blocking=False
        )
    flagged = report.items[report.items["flagged"]].sort_values("z", key=abs, ascending=False)
    rows = [
        {
            "question_version_id": int(r.question_version_id),
            "b_live": round(float(r.b_ref), 3),
            "b_linked": round(float(r.b_linked), 3),
            "delta_b": round(float(r.delta_b), 3),
            "delta_a": round(float(r.delta_a), 3),
            "z": round(float(r.z), 2),
            "reason": r.reason,
        }
        for r in flagged.head(limit).itertuples()
    ]
    return CheckOutcome(
        "anchor_drift",
        False,
        f"{report.n_flagged} of {report.n_candidates} anchors drifted after linking and were "
        f"dropped from the anchor set: {[r['question_version_id'] for r in rows]}",
        {"n_dropped": report.n_flagged, "n_candidates": report.n_candidates, "dropped": rows},
        blocking=False,
    )


CHECKS = (parameter_bounds, convergence, linking, anchor_drift)
CHECK_NAMES = tuple(f.__name__ for f in CHECKS)


# Severity of each check's asset check result (the outcome's own `blocking` says the same).
BLOCKING = {"parameter_bounds": True, "convergence": True, "linking": True, "anchor_drift": False}


def evaluate(pair: PairCalibration) -> list[CheckOutcome]:
    return [check(pair) for check in CHECKS]


def failed_blocking(checks: list[CheckOutcome]) -> tuple[str, ...]:
    """Names of the failed checks that keep a set from going live."""
    return tuple(c.name for c in checks if c.blocking and not c.passed)
