"""The checks that guard publishing, on hand-made calibrations (no database)."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest

from orchestration.calibration import PairCalibration, plausible, select_anchors
from orchestration.checks import convergence, drift, evaluate, parameter_bounds


def _pair(**items_override) -> PairCalibration:
    n = 4
    items = pd.DataFrame(
        {
            "question_version_id": np.arange(1, n + 1),
            "question_id": np.arange(1, n + 1),
            "version": 1,
            "a": [0.8, 1.2, 1.5, 1.0],
            "b": [-1.0, 0.0, 0.5, 1.2],
            "c": [0.15, 0.2, 0.18, 0.22],
            "se_a": 0.1,
            "se_b": 0.12,
            "se_c": 0.03,
            "n": 800,
            "calibrated": True,
            "is_anchor": False,
        }
    )
    for col, (i, value) in items_override.items():
        items.loc[i, col] = value
    return PairCalibration(
        tenant_id=uuid.uuid4(), exam_code="STEP1", items=items, converged=True, iterations=40,
        n_persons=900, n_responses=3600, latent_mean=0.0, latent_sd=1.0, previous_set_id=None,
        n_anchors=0,
    )  # fmt: skip


def test_a_sound_calibration_passes_every_check() -> None:
    assert all(o.passed for o in evaluate(_pair()))


@pytest.mark.parametrize(
    "override",
    [
        {"a": (1, 0.05)},  # a miskeyed item: discrimination collapsed
        {"a": (2, 6.0)},
        {"b": (0, -7.5)},
        {"c": (3, 0.55)},
        {"se_b": (1, np.nan)},
        {"se_b": (2, 3.0)},
    ],
)
def test_out_of_range_parameters_fail_the_bounds_check(override) -> None:
    outcome = parameter_bounds(_pair(**override))
    assert not outcome.passed
    (col, (i, _)) = next(iter(override.items()))
    assert outcome.details["offending_versions"] == [i + 1]


def test_anchors_are_not_judged_by_the_bounds_check() -> None:
    pair = _pair(a=(1, 0.05))
    pair.items.loc[1, "is_anchor"] = True  # held fixed: not re-estimated here
    assert parameter_bounds(pair).passed


def test_convergence_check_reads_both_fits() -> None:
    pair = _pair()
    pair.converged = False
    assert not convergence(pair).passed
    pair = _pair()
    pair.free_converged = False
    assert not convergence(pair).passed


def test_drift_is_the_mean_absolute_shift_of_the_anchors() -> None:
    pair = _pair()
    assert drift(pair).passed and "no anchors" in drift(pair).description
    pair.drift_items = pd.DataFrame(
        {"question_version_id": [1, 2], "b_live": [0.0, 1.0], "b_free": [0.35, 0.7]}
    )
    assert pair.drift == pytest.approx(0.325)
    assert not drift(pair).passed
    pair.drift_items["b_free"] = [0.25, 0.7]
    assert drift(pair).passed  # mean |Δb| = 0.275


def test_anchors_are_live_well_measured_items_of_the_active_set() -> None:
    active = pd.DataFrame(
        {
            "question_version_id": [1, 2, 3, 4],
            "a": 1.0, "b": 0.0, "c": 0.2, "se_a": 0.1, "se_c": 0.02,
            "se_b": [0.10, 0.15, 0.16, 0.05],
            "n_respondents": [500, 900, 900, 499],
        }
    )  # fmt: skip
    live = pd.DataFrame({"question_version_id": [1, 2, 3]})  # 4 was replaced by a new version
    assert select_anchors(active, live)["item"].tolist() == [1, 2]


def test_screened_out_items_are_tolerated_up_to_a_fifth() -> None:
    pair = _pair()
    pair.items["screened_out"] = False
    pair.items.loc[0, ["calibrated", "screened_out"]] = [False, True]  # 1 of 4: 25%
    outcome = parameter_bounds(pair)
    assert not outcome.passed and outcome.details["screened_out_versions"] == [1]
    extra = pair.items.iloc[[1] * 4].assign(question_version_id=[5, 6, 7, 8])
    pair.items = pd.concat([pair.items, extra], ignore_index=True)  # 1 of 8: 12.5%
    assert parameter_bounds(pair).passed


def test_plausible_flags_degenerate_estimates() -> None:
    items = _pair().items
    assert plausible(items).all()
    items.loc[2, "b"] = 7.9  # the EM's box edge: an item nobody (or everybody) gets right
    items.loc[3, "se_c"] = np.inf
    assert plausible(items).tolist() == [True, True, False, False]
