"""The checks that guard publishing, on hand-made calibrations (no database)."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest

from irt_models.linking import link_anchors
from orchestration.calibration import (
    LinkingReport,
    PairCalibration,
    linking_problems,
    plausible,
    select_anchors,
)
from orchestration.checks import (
    anchor_drift,
    convergence,
    evaluate,
    failed_blocking,
    linking,
    parameter_bounds,
)


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


def _linked(n: int, shift=None, *, A=1.0, B=0.4, seed=3) -> LinkingReport:
    """Anchors with live parameters, and a free re-estimation on a scale θ_live = A·θ_free + B
    with small noise; ``shift`` adds to the true b of some anchors (drift)."""
    rng = np.random.default_rng(seed)
    a, b = rng.lognormal(0, 0.25, n), rng.normal(size=n)
    live = pd.DataFrame({"item": np.arange(n), "a": a, "b": b, "c": 0.2, "se_a": 0.06,
                         "se_b": 0.06})  # fmt: skip
    b_true = b + (0 if shift is None else shift)
    free = pd.DataFrame({
        "item": np.arange(n), "a": a * A * np.exp(rng.normal(0, 0.03, n)),
        "b": (b_true - B) / A + rng.normal(0, 0.03, n), "c": 0.2, "se_a": 0.06, "se_b": 0.06,
    })  # fmt: skip
    anchor_link = link_anchors(free, live)
    return LinkingReport(anchor_link, linking_problems(anchor_link))


def test_a_shifted_cohort_links_safely_and_drops_nothing() -> None:
    pair = _pair()
    assert linking(pair).passed and "no anchors" in linking(pair).description
    pair.linking = _linked(30, A=1.1, B=0.4)
    outcome = linking(pair)
    assert outcome.passed and outcome.details["dropped"] == 0
    assert outcome.description.startswith("stocking_lord: A = ")
    assert outcome.details["A"] == pytest.approx(1.1, abs=0.02)
    assert anchor_drift(pair).passed
    assert pair.metrics()["linking_B"] == pytest.approx(0.4, abs=0.03)
    assert pair.drift < 0.1


def test_drifted_anchors_warn_but_do_not_block() -> None:
    shift = np.zeros(30)
    shift[[4, 11, 20]] = -1.0
    pair = _pair()
    pair.linking = _linked(30, shift)
    assert linking(pair).passed
    warn = anchor_drift(pair)
    assert not warn.passed and not warn.blocking
    assert sorted(d["question_version_id"] for d in warn.details["dropped"]) == [4, 11, 20]
    assert all(d["delta_b"] < -0.8 for d in warn.details["dropped"])
    dropped = pair.metrics()["anchors_dropped"]
    assert [d["question_version_id"] for d in dropped] == [4, 11, 20]
    assert all("drift: linked Δb" in d["reason"] for d in dropped)
    assert failed_blocking(evaluate(pair)) == ()


def test_too_many_drifted_anchors_make_the_link_unsafe() -> None:
    shift = np.zeros(30)
    shift[:12] = 1.0  # 40% of the anchors: the 18 stable ones still hold the link
    pair = _pair()
    pair.linking = _linked(30, shift)
    assert linking(pair).passed
    shift[:14] = 1.0  # 47%: too close to half to tell which half moved
    pair.linking = _linked(30, shift)
    outcome = linking(pair)
    assert not outcome.passed and outcome.blocking and "UNSAFE" in outcome.description
    assert failed_blocking(evaluate(pair)) == ("linking",)


def test_too_few_anchors_left_or_an_implausible_slope_are_unsafe() -> None:
    shift = np.zeros(6)
    shift[:2] = 1.5
    report = _linked(6, shift)
    assert any("anchors left" in p for p in report.problems)
    steep = _linked(20, A=2.6)
    assert any("outside" in p for p in steep.problems) and not steep.safe


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
