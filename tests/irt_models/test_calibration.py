"""Calibration: recovery, standard errors, anchors, reporting of items not calibrated, girth."""

import numpy as np
import pandas as pd
import pytest

from irt_models import em
from irt_models.calibration import calibrate_3pl
from irt_models.model import METRIC


def simulate(seed, n_persons, n_items, per_person=None, theta_shift=0.0):
    rng = np.random.default_rng(seed)
    theta = rng.normal(theta_shift, 1.0, n_persons)
    a = rng.lognormal(0, 0.3, n_items)
    b = rng.normal(size=n_items)
    c = rng.uniform(0.1, 0.25, n_items)
    if per_person is None:
        person = np.repeat(np.arange(n_persons), n_items)
        item = np.tile(np.arange(n_items), n_persons)
    else:
        person = np.repeat(np.arange(n_persons), per_person)
        item = np.argsort(rng.random((n_persons, n_items)), axis=1)[:, :per_person].ravel()
    p = c[item] + (1 - c[item]) / (1 + np.exp(-a[item] * (theta[person] - b[item])))
    frame = pd.DataFrame({"person": person, "item": item, "correct": (rng.random(p.size) < p)})
    return frame, a, b, c


def by_item(result, n_items):
    return result.items.set_index("item").loc[np.arange(n_items)]


@pytest.fixture(scope="module")
def small_fit():
    frame, a, b, c = simulate(11, 1500, 20)
    return calibrate_3pl(frame, min_respondents=100), a, b, c


def test_recovery_at_small_size(small_fit):
    res, a, b, c = small_fit
    it = by_item(res, 20)
    assert res.converged and res.max_change < 1e-4 and res.metric == METRIC
    assert np.sqrt(np.mean((it["b"] - b) ** 2)) < 0.3
    assert np.sqrt(np.mean((it["a"] - a) ** 2)) < 0.25
    assert np.sqrt(np.mean((it["c"] - c) ** 2)) < 0.07
    assert np.corrcoef(it["b"], b)[0, 1] > 0.95
    assert it["calibrated"].all() and (it["reason"] == "").all()
    assert it[["se_a", "se_b", "se_c"]].notna().all().all() and (it["se_b"] > 0).all()
    assert res.n_persons == 1500 and res.n_responses == 30_000
    assert res.persons["theta"].between(-5, 5).all() and (res.persons["n"] == 20).all()


def test_fit_statistics_near_expected_values_when_model_holds(small_fit):
    it = small_fit[0].items
    assert it["infit"].between(0.8, 1.2).all() and it["outfit"].between(0.7, 1.3).all()
    assert (it["rmsd"] < 0.05).all()


def test_standard_errors_match_numerical_observed_information():
    """Louis's block SEs against √diag of the inverse of a finite-difference Hessian of the full
    marginal log posterior (all items jointly)."""
    frame, *_ = simulate(5, 1000, 8)
    res = calibrate_3pl(frame, min_respondents=50, tol=1e-7)
    it = by_item(res, 8)
    person, item, correct = frame["person"].values, frame["item"].values, frame["correct"].values
    s, st = em.response_matrix(person, item, correct.astype(int), 1000, 8)
    quad = em.Quadrature.normal(41, 5.0)

    def log_post(vec):
        a, b, c = vec[:8], vec[8:16], vec[16:]
        _, _, ll = em.e_step(s, st, em.log_table(quad.z, a, b, c), quad.log_w)
        return ll + em.log_prior(a, c, True)

    x0 = np.concatenate([it["a"], it["b"], it["c"]])
    h = 1e-4
    hess = np.empty((24, 24))
    for i in range(24):
        for j in range(i, 24):
            e_i, e_j = np.eye(24)[i] * h, np.eye(24)[j] * h
            val = (
                log_post(x0 + e_i + e_j) - log_post(x0 + e_i - e_j)
                - log_post(x0 - e_i + e_j) + log_post(x0 - e_i - e_j)
            ) / (4 * h * h)  # fmt: skip
            hess[i, j] = hess[j, i] = val
    se_num = np.sqrt(np.diag(np.linalg.inv(-hess)))
    np.testing.assert_allclose(it["se_b"], se_num[8:16], rtol=0.12)
    np.testing.assert_allclose(it["se_a"], se_num[:8], rtol=0.12)


def test_b_intervals_cover_truth():
    hits = []
    for seed in (21, 22, 23):
        frame, a, b, c = simulate(seed, 2000, 30)
        it = by_item(calibrate_3pl(frame), 30)
        hits.append(np.abs(it["b"] - b) <= 1.96 * it["se_b"])
    assert 0.85 <= np.mean(np.concatenate(hits)) <= 1.0


def test_sparse_data_and_string_ids():
    frame, a, b, c = simulate(3, 3000, 30, per_person=12)
    frame["person"] = "student-" + frame["person"].astype(str)
    frame["item"] = "Q" + frame["item"].astype(str)
    res = calibrate_3pl(frame)
    it = res.items.set_index("item").loc[[f"Q{i}" for i in range(30)]]
    assert it["calibrated"].all()
    assert np.sqrt(np.mean((it["b"] - b) ** 2)) < 0.35
    assert res.persons["person"].str.startswith("student-").all()


def test_items_below_min_respondents_are_not_guessed():
    frame, *_ = simulate(4, 800, 10)
    few = pd.DataFrame({"person": np.arange(30), "item": "rare", "correct": np.arange(30) % 2})
    allright = pd.DataFrame({"person": np.arange(300), "item": "easy", "correct": 1})
    res = calibrate_3pl(pd.concat([frame, few, allright]), min_respondents=100)
    rare = res.items.set_index("item").loc["rare"]
    assert not rare["calibrated"] and rare["n"] == 30
    assert rare["reason"] == "n=30 < min_respondents=100"
    assert np.isnan(rare[["a", "b", "c", "se_a", "se_b", "se_c"]].astype(float)).all()
    easy = res.items.set_index("item").loc["easy"]
    assert not easy["calibrated"] and "every response correct" in easy["reason"]
    assert res.items["calibrated"].sum() == 10


def test_duplicates_and_bad_input():
    frame, *_ = simulate(6, 400, 5)
    doubled = pd.concat([frame, frame.assign(correct=1 - frame["correct"].astype(int))])
    res = calibrate_3pl(doubled, min_respondents=50)
    assert res.n_responses == len(frame)  # the first answer per (person, item) is kept
    with pytest.raises(ValueError, match="lacks column"):
        calibrate_3pl(frame.drop(columns="correct"))
    with pytest.raises(ValueError, match="0/1"):
        calibrate_3pl(frame.assign(correct=2))
    with pytest.raises(ValueError, match="at least 41"):
        calibrate_3pl(frame, n_quad=21)


def test_anchors_stay_fixed_and_set_the_scale():
    """Persons ~ N(0.7, 1): a free calibration puts them at N(0, 1) (b shifted by −0.7);
    with the first 15 items anchored at their true values the new items land on the true scale."""
    frame, a, b, c = simulate(8, 4000, 30, theta_shift=0.7)
    anchors = pd.DataFrame({"item": np.arange(15), "a": a[:15], "b": b[:15], "c": c[:15]})
    res = calibrate_3pl(frame, anchors)
    it = by_item(res, 30)
    np.testing.assert_array_equal(it["a"].values[:15], a[:15])
    np.testing.assert_array_equal(it["b"].values[:15], b[:15])
    np.testing.assert_array_equal(it["c"].values[:15], c[:15])
    assert it["anchor"].values[:15].all() and not it["anchor"].values[15:].any()
    assert (it["se_method"].values[:15] == "fixed").all()
    assert res.latent_mean == pytest.approx(0.7, abs=0.1)
    assert abs(np.mean(it["b"].values[15:] - b[15:])) < 0.1
    free = by_item(calibrate_3pl(frame), 30)
    assert np.mean(free["b"].values[15:] - b[15:]) < -0.45  # free scale is shifted


def test_plain_em_reaches_the_same_mode_as_squarem():
    frame, *_ = simulate(9, 1000, 15)
    fast = by_item(calibrate_3pl(frame, tol=1e-7), 15)
    slow = by_item(calibrate_3pl(frame, tol=1e-7, accelerate=False, max_iter=5000), 15)
    for col in "abc":
        np.testing.assert_allclose(fast[col], slow[col], atol=1e-4)


def test_2pl_agrees_with_girth():
    girth = pytest.importorskip("girth")
    frame, *_ = simulate(10, 2000, 15)
    ours = by_item(calibrate_3pl(frame, model="2PL", priors=False, tol=1e-6), 15)
    data = frame.pivot(index="person", columns="item", values="correct").to_numpy().T.astype(int)
    ref = girth.twopl_mml(data, {"quadrature_n": 41})
    np.testing.assert_allclose(ours["a"], ref["Discrimination"], atol=0.03)
    np.testing.assert_allclose(ours["b"], ref["Difficulty"], atol=0.05)
    assert (ours["c"] == 0).all()


def test_latent_distribution_is_estimated_when_every_item_is_an_anchor():
    """No free item left (every anchor kept): the cohort's N(μ, σ²) is still estimated."""
    frame, a, b, c = simulate(12, 3000, 20, theta_shift=0.5)
    anchors = pd.DataFrame({"item": np.arange(20), "a": a, "b": b, "c": c})
    res = calibrate_3pl(frame, anchors)
    assert res.converged and res.items["anchor"].all()
    assert res.latent_mean == pytest.approx(0.5, abs=0.08)
    assert res.latent_sd == pytest.approx(1.0, abs=0.08)


def test_a_fixed_latent_distribution_sets_the_scale():
    """Persons ~ N(0.7, 1), no anchors: holding the latent at N(0.7, 1) puts every item on the
    true scale (the default N(0, 1) shifts b by about −0.7); the latent is reported as given."""
    frame, a, b, c = simulate(13, 4000, 25, theta_shift=0.7)
    held = calibrate_3pl(frame, latent=(0.7, 1.0))
    assert (held.latent_mean, held.latent_sd) == (0.7, 1.0)
    err = by_item(held, 25)["b"].values - b
    assert abs(err.mean()) < 0.08
    assert np.sqrt(np.mean(err**2)) < 0.2
    # With anchors too, the given latent wins over estimating it.
    anchors = pd.DataFrame({"item": np.arange(5), "a": a[:5], "b": b[:5], "c": c[:5]})
    both = calibrate_3pl(frame, anchors, latent=(0.7, 1.0))
    assert (both.latent_mean, both.latent_sd) == (0.7, 1.0)
    default = by_item(calibrate_3pl(frame), 25)
    assert np.mean(default["b"].values - b) < -0.5
    with pytest.raises(ValueError, match="latent"):
        calibrate_3pl(frame, latent=(0.0, 0.0))


def test_a_floating_a_prior_does_not_flatten_a_discriminating_bank():
    """40 items of a ≈ 1.6 at ~400 responses each: the fixed prior (mode a ≈ 0.78) flattens
    them by ~15%; held fixed, they then make a N(0, 1) cohort look 1.2 wide. Floated to the
    bank's own geometric mean, a is within 10% and the cohort's σ within 0.08."""
    rng = np.random.default_rng(21)
    n_items, n_persons, per = 40, 400, 40
    a = rng.lognormal(np.log(1.6), 0.12, n_items)
    b = rng.uniform(-1.0, 1.0, n_items)
    c = rng.uniform(0.1, 0.25, n_items)

    def respondents(mean, first):
        theta = rng.normal(mean, 1.0, n_persons)
        person = np.repeat(np.arange(n_persons), per)
        item = np.argsort(rng.random((n_persons, n_items)), axis=1)[:, :per].ravel()
        p = c[item] + (1 - c[item]) / (1 + np.exp(-a[item] * (theta[person] - b[item])))
        return pd.DataFrame({"person": person + first, "item": item,
                             "correct": rng.random(p.size) < p})  # fmt: skip

    day1, day2 = respondents(0.0, 0), respondents(0.0, 10_000)
    fixed = by_item(calibrate_3pl(day1), n_items)
    floated_fit = calibrate_3pl(day1, float_a_prior=True)
    floated = by_item(floated_fit, n_items)
    assert np.mean(fixed["a"] / a) < 0.9
    assert abs(np.mean(floated["a"] / a) - 1) < 0.1
    assert floated_fit.a_prior_log_mean == pytest.approx(np.log(floated["a"]).mean() + 0.25)

    def cohort_sd(held):
        anchors = held.reset_index()[["item", "a", "b", "c"]]
        return calibrate_3pl(day2, anchors, compute_se=False).latent_sd

    assert cohort_sd(fixed) > 1.1
    assert cohort_sd(floated) == pytest.approx(1.0, abs=0.08)


def test_empty_and_tiny_inputs_report_without_estimating():
    empty = calibrate_3pl(pd.DataFrame({"person": [], "item": [], "correct": []}))
    assert empty.items.empty and empty.n_persons == 0 and empty.converged
    tiny = calibrate_3pl(pd.DataFrame({"person": [1, 2, 3], "item": ["x", "x", "y"],
                                       "correct": [1, 0, 1]}))  # fmt: skip
    assert not tiny.items["calibrated"].any() and tiny.n_persons == 0
    assert tiny.items["reason"].str.contains("min_respondents").all()
