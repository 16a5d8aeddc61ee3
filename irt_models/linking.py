"""Scale linking and anchor drift between two calibrations of the same items.

A free calibration sits on its own sample's N(0, 1) scale; before its anchors' b can be compared
with the published ones it is put on the published scale by the mean-sigma transformation
(Marco 1977; Kolen & Brennan 2014, §6.2): θ* = A·θ + B with A = SD(b_ref)/SD(b_new),
B = mean(b_ref) − A·mean(b_new), hence b* = A·b + B, a* = a/A, c* = c.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["DriftReport", "anchor_drift", "mean_sigma"]


def mean_sigma(b_new: npt.ArrayLike, b_ref: npt.ArrayLike) -> tuple[float, float]:
    """Slope A and intercept B of the mean-sigma link taking the new scale onto the reference."""
    b_new, b_ref = np.asarray(b_new, dtype=float), np.asarray(b_ref, dtype=float)
    if b_new.size < 2 or b_new.size != b_ref.size:
        raise ValueError("mean-sigma linking needs at least two common items, aligned")
    sd_new = b_new.std()
    A = float(b_ref.std() / sd_new) if sd_new > 0 else 1.0
    return A, float(b_ref.mean() - A * b_new.mean())


@dataclass
class DriftReport:
    """Per-anchor Δb after linking, their mean |Δb| and the link used (θ* = slope·θ + intercept)."""

    items: pd.DataFrame
    mean_abs_delta_b: float
    slope: float
    intercept: float


def anchor_drift(free_items: pd.DataFrame, anchors: pd.DataFrame) -> DriftReport:
    """Drift of anchors: link a free re-estimation (item, a, b, c rows, e.g.
    `CalibrationResult.items`) to the published anchors by mean-sigma over the common calibrated
    items, then Δb = A·b_free + B − b_anchor per item (SPEC: mean |Δb| > 0.3 blocks publishing)."""
    free = free_items
    if "calibrated" in free.columns:
        free = free[free["calibrated"]]
    both = anchors[["item", "a", "b", "c"]].merge(
        free[["item", "a", "b", "c"]], on="item", suffixes=("_anchor", "_free")
    )
    A, B = mean_sigma(both["b_free"], both["b_anchor"])
    both["b_linked"] = A * both["b_free"] + B
    both["a_linked"] = both["a_free"] / A
    both["delta_b"] = both["b_linked"] - both["b_anchor"]
    mad = float(both["delta_b"].abs().mean())
    return DriftReport(items=both, mean_abs_delta_b=mad, slope=A, intercept=B)
