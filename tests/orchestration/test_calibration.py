"""fit_pair and drift_sample without a database: a leak after the live set went live is found in
the responses since then, where every response dilutes it; a cohort shift drops nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from irt_models.calibration import calibrate_3pl
from orchestration.calibration import MIN_ANCHORS, drift_sample, fit_pair

LIVE = datetime(2026, 2, 1, tzinfo=UTC)


def _bank(n: int = 40, seed: int = 1):
    rng = np.random.default_rng(seed)
    return rng.lognormal(0.1, 0.25, n), rng.normal(size=n), rng.uniform(0.1, 0.25, n)


def _day(a, b, c, *, n_persons, per, mean, day, seed, first_person=0):
    rng = np.random.default_rng(seed)
    theta = rng.normal(mean, 1.0, n_persons)
    person = np.repeat(np.arange(n_persons), per)
    item = np.argsort(rng.random((n_persons, a.size)), axis=1)[:, :per].ravel()
    p = c[item] + (1 - c[item]) / (1 + np.exp(-a[item] * (theta[person] - b[item])))
    return pd.DataFrame({
        "person": person + first_person, "item": item, "correct": rng.random(p.size) < p,
        "ts": LIVE + timedelta(days=day, minutes=1),
    })  # fmt: skip


@pytest.fixture(scope="module")
def history():
    """Four days before the live set (its anchors come from them), then one larger day after it
    in which 5 anchors leaked (easier by 1.0) and the cohort is 0.4 abler."""
    a, b, c = _bank()
    before = pd.concat(
        [_day(a, b, c, n_persons=3000, per=20, mean=0.0, day=-d, seed=d,
              first_person=d * 10_000) for d in range(1, 5)]
    )  # fmt: skip
    live = calibrate_3pl(before)
    anchors = live.items[live.items["se_b"] <= 0.15][["item", "a", "b", "c", "se_a", "se_b"]]
    leaked = anchors["item"].to_numpy()[:5]
    shifted = b.copy()
    shifted[leaked] -= 1.0
    after = _day(a, shifted, c, n_persons=8000, per=20, mean=0.4, day=0, seed=9,
                 first_person=90_000)  # fmt: skip
    return pd.concat([before, after]), anchors.reset_index(drop=True), set(leaked)


def test_drift_sample_takes_the_responses_since_the_live_set(history) -> None:
    responses, anchors, _ = history
    sample, why = drift_sample(responses, anchors, LIVE)
    assert (sample["ts"] > LIVE).all() and len(sample) == 160_000
    assert why.startswith("responses since the live set went live")
    everything, why = drift_sample(responses, anchors, None)
    assert len(everything) == len(responses) and why == "all responses"
    # too few anchors with enough responses since then: every response
    quiet = responses[(responses["ts"] < LIVE) | (responses["person"] < 90_300)]
    sample, why = drift_sample(quiet, anchors, LIVE)
    assert len(sample) == len(quiet) and "anchors have 200+" in why
    assert MIN_ANCHORS == 5


def test_a_leak_after_the_live_set_is_dropped_and_the_scale_holds(history) -> None:
    responses, anchors, leaked = history
    sample, why = drift_sample(responses, anchors, LIVE)
    fit = fit_pair(responses, anchors, drift_responses=sample, drift_window=why)
    dropped = set(fit.linking.dropped_ids())
    assert len(dropped & leaked) >= 4 and len(dropped - leaked) <= 1
    assert fit.linking.safe and fit.linking.summary()["window"] == why
    assert abs(fit.linking.link.B - 0.4) < 0.1  # the day's cohort, on the live scale
    assert fit.anchors["item"].isin(dropped).sum() == 0
    items = fit.result.items.set_index("item")
    assert not items.loc[list(dropped), "anchor"].any()  # re-estimated as free items
    # diluted by the four days before it, the same leak is not seen in every response
    diluted = fit_pair(responses, anchors)
    assert len(set(diluted.linking.dropped_ids()) & leaked) < len(dropped & leaked)


def test_a_quiet_window_reaches_back_to_the_set_before(history) -> None:
    """The live set's day measured too few anchors: the window since the set before it is used,
    not every response (which would dilute a recent leak)."""
    responses, anchors, _ = history
    before = LIVE - timedelta(days=2)  # the set before went live after day −3
    quiet = responses[(responses["ts"] < LIVE) | (responses["person"] < 90_300)]
    sample, why = drift_sample(quiet, anchors, [LIVE, before])
    assert len(sample) == int((quiet["ts"] > before).sum()) < len(quiet)
    assert why.startswith("responses since the set 1 before the live one went live")
    # no window measures enough anchors: every response, and the report says so
    sample, why = drift_sample(quiet, anchors, [LIVE])
    assert len(sample) == len(quiet) and why.startswith("all responses")


def test_few_anchors_leave_the_scale_to_the_live_set() -> None:
    """One anchor left, 0.3 off its truth (two standard errors: an anchor's estimate can be that
    far off), and a cohort 0.4 abler: held by that anchor alone the scale follows its error
    (mean b error +0.35); held by the live set's 40 items (each off by N(0, 0.15²)) the new
    estimates land on the true scale."""
    a, b, c = _bank(n=40, seed=3)
    rng = np.random.default_rng(4)
    responses = _day(a, b, c, n_persons=6000, per=25, mean=0.4, day=0, seed=5)
    live = pd.DataFrame({"item": np.arange(40), "a": a, "b": b + rng.normal(0, 0.15, 40),
                         "c": c, "se_a": 0.1, "se_b": 0.15, "se_c": 0.03})  # fmt: skip
    one = live.iloc[[0]].assign(b=b[0] + 0.3)

    alone = fit_pair(responses, one)
    assert alone.scale["held_by"] == "anchors" and alone.scale["n_items"] == 1
    held = fit_pair(responses, one, scale_items=live)
    assert held.scale["held_by"] == "live set" and held.scale["n_items"] == 40
    assert held.result.latent_mean == pytest.approx(0.4, abs=0.1)

    def error(fit) -> float:
        est = fit.result.items.set_index("item").loc[np.arange(1, 40), "b"].to_numpy()
        return float(np.mean(est - b[1:]))

    assert abs(error(held)) < 0.1
    assert error(alone) > 0.25  # the one anchor's error moved the whole scale
    # enough anchors: they hold the scale themselves
    many = fit_pair(responses, live.iloc[:12], scale_items=live)
    assert many.scale == {"held_by": "anchors", "n_items": 12}
