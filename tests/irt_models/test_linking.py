"""Linking: Stocking-Lord recovers known constants, a shifted cohort is not drift, planted drift is
found by the robust (purifying) anchor link."""

import numpy as np
import pandas as pd
import pytest

from irt_models.calibration import calibrate_3pl
from irt_models.linking import link_anchors, mean_sigma, stocking_lord


def bank(seed: int, n_items: int):
    rng = np.random.default_rng(seed)
    return rng.lognormal(0, 0.3, n_items), rng.normal(size=n_items), rng.uniform(0.1, 0.25, n_items)


def responses(seed, a, b, c, n_persons, per_person, mean=0.0, sd=1.0):
    """Each person answers ``per_person`` random items of the bank; θ ~ N(mean, sd²)."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(mean, sd, n_persons)
    person = np.repeat(np.arange(n_persons), per_person)
    item = np.argsort(rng.random((n_persons, a.size)), axis=1)[:, :per_person].ravel()
    p = c[item] + (1 - c[item]) / (1 + np.exp(-a[item] * (theta[person] - b[item])))
    return pd.DataFrame({"person": person, "item": item, "correct": rng.random(p.size) < p})


def test_mean_sigma():
    assert mean_sigma([0.0, 1.0, 2.0], [1.0, 3.0, 5.0]) == pytest.approx((2.0, 1.0))
    with pytest.raises(ValueError, match="two common items"):
        mean_sigma([1.0], [2.0])


def test_stocking_lord_is_exact_on_transformed_parameters():
    """Free parameters that are an exact transformation of the reference: A, B to 1e-5."""
    a, b, c = bank(1, 25)
    A, B = 1.3, -0.4
    link = stocking_lord(a * A, (b - B) / A, c, a, b, c)
    assert link.method == "stocking_lord" and link.converged
    assert abs(link.A - A) < 1e-5 and abs(link.B - B) < 1e-5


def test_stocking_lord_recovers_the_cohort_from_a_free_calibration():
    """The reference scale is the true one; the cohort is N(0.5, 1.2²). A free calibration puts
    it at N(0, 1), so θ_true = 1.2·θ_free + 0.5: A = 1.2, B = 0.5 within 0.05."""
    a, b, c = bank(2, 40)
    free = calibrate_3pl(responses(3, a, b, c, 8000, 20, mean=0.5, sd=1.2))
    it = free.items.set_index("item").loc[np.arange(40)]
    link = stocking_lord(it["a"], it["b"], it["c"], a, b, c)
    assert link.method == "stocking_lord" and link.converged
    assert abs(link.A - 1.2) < 0.05 and abs(link.B - 0.5) < 0.05
    ms_A, ms_B = mean_sigma(it["b"], b)
    # the characteristic curves use every parameter: closer than the b moments alone here
    assert abs(link.A - 1.2) + abs(link.B - 0.5) <= abs(ms_A - 1.2) + abs(ms_B - 0.5) + 0.02


def test_stocking_lord_falls_back_to_mean_sigma():
    """Anchors that carry no information about the scale (every a tiny, curves flat): the
    optimiser runs to the bound of A, and the mean-sigma constants are returned instead."""
    a = np.full(5, 0.01)
    b = np.linspace(-1, 1, 5)
    c = np.full(5, 0.2)
    link = stocking_lord(a, b * 2.0, c, a * 50, b, c)
    assert link.method == "mean_sigma" and not link.converged
    ms = mean_sigma(b * 2.0, b)
    assert abs(link.A - ms[0]) < 1e-12 and abs(link.B - ms[1]) < 1e-12


@pytest.fixture(scope="module")
def live():
    """A live calibration of 60 items on the first cohort's N(0, 1) scale; the 40 best measured
    (smallest SE(b), as production picks its anchors) are the anchors."""
    a, b, c = bank(4, 60)
    first = calibrate_3pl(responses(5, a, b, c, 12000, 24))
    anchors = first.items.nsmallest(40, "se_b")[["item", "a", "b", "c", "se_a", "se_b"]]
    return a, b, c, anchors.reset_index(drop=True)


def test_a_shifted_cohort_is_not_drift(live):
    a, b, c, anchors = live
    free = calibrate_3pl(responses(6, a, b, c, 12000, 24, mean=0.5))
    linked = link_anchors(free.items, anchors)
    assert not linked.items["flagged"].any() and not linked.exhausted
    assert linked.link.method == "stocking_lord"
    assert abs(linked.link.B - 0.5) < 0.05 and abs(linked.link.A - 1.0) < 0.05
    assert linked.items["judged"].all() and linked.rounds == 1


def test_planted_drift_is_flagged_and_dropped(live):
    """5 of 40 anchors became easier by 1.0 (leaked items), in a cohort shifted by +0.3."""
    a, b, c, anchors = live
    leaked = set(np.random.default_rng(0).choice(anchors["item"], 5, replace=False))
    drifted = b.copy()
    drifted[list(leaked)] -= 1.0
    free = calibrate_3pl(responses(7, a, drifted, c, 12000, 24, mean=0.3))
    linked = link_anchors(free.items, anchors)
    flagged = set(linked.flagged["item"])
    assert len(flagged & leaked) >= 4 and len(flagged - leaked) <= 1
    assert linked.rounds == len(flagged) + 1  # one anchor leaves per round
    assert abs(linked.link.B - 0.3) < 0.08
    row = linked.flagged.iloc[0]
    assert row["delta_b"] < -0.5 and "drift: linked Δb" in row["reason"]
    kept = linked.kept
    assert (kept["delta_b"].abs() <= np.maximum(0.3, 3 * kept["se_delta_b"])).all()


def test_too_many_drifters_exhaust_the_purification(live):
    """Half the anchors moved: no majority to link on. The link may settle on either half; what
    is certain is that a large share is flagged (or the purification gave up), which is what
    the pipeline treats as an unsafe link."""
    a, b, c, anchors = live
    drifted = b.copy()
    drifted[anchors["item"][::2]] += 1.0
    free = calibrate_3pl(responses(8, a, drifted, c, 12000, 24))
    linked = link_anchors(free.items, anchors)
    assert linked.items["flagged"].mean() > 1 / 3 or linked.exhausted
    capped = link_anchors(free.items, anchors, max_drop_share=0.1)
    assert capped.exhausted and capped.items["flagged"].sum() == 4


def test_anchors_without_a_free_estimate_are_kept_unjudged(live):
    a, b, c, anchors = live
    free = anchors.copy()
    free.loc[free["item"] == anchors["item"][3], ["a", "b", "c"]] = np.nan
    linked = link_anchors(free, anchors)
    row = linked.items.set_index("item").loc[anchors["item"][3]]
    assert not row["judged"] and not row["flagged"] and "not re-estimated" in row["reason"]
    assert abs(linked.link.A - 1.0) < 1e-6  # the same estimates: identity
    one = link_anchors(free.head(1), anchors)
    assert one.link is None and not one.items["flagged"].any()
