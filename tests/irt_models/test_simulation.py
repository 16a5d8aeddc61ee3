"""CAT simulation report and the Sympson-Hetter procedure."""

import itertools

import numpy as np
import pytest

from irt_models.exposure import sympson_hetter
from irt_models.selection import ItemPool
from irt_models.simulation import CatPolicy, overlap_rate, simulate_cat


def bank(n, seed=0, log_a=0.0, K=None):
    rng = np.random.default_rng(seed)
    return ItemPool.build(rng.lognormal(log_a, 0.3, n), rng.normal(size=n),
                          rng.uniform(0.1, 0.25, n), K)  # fmt: skip


def test_report_figures_are_consistent():
    pool = bank(200)
    thetas = np.random.default_rng(1).normal(size=1500)
    rep = simulate_cat(pool, thetas, CatPolicy(max_length=20), seed=2)
    err = rep.theta_hat - thetas
    assert rep.bias == pytest.approx(err.mean()) and rep.rmse == pytest.approx(
        np.sqrt((err**2).mean())
    )
    assert rep.mean_length == 20 and rep.p90_length == 20
    assert rep.mean_exposure == pytest.approx(20 / 200)
    assert rep.exposure.shape == (200,) and rep.max_exposure == rep.exposure.max()
    assert rep.pool_usage == pytest.approx((rep.exposure > 0).mean())
    assert rep.rmse < 0.45 and abs(rep.bias) < 0.05
    assert set(rep.summary()) >= {"bias", "rmse", "mean_length", "overlap_rate", "pool_usage"}


def test_overlap_rate_equals_mean_pairwise_share():
    rng = np.random.default_rng(3)
    tests = [set(rng.choice(15, 5, replace=False).tolist()) for _ in range(40)]
    pairwise = np.mean([len(x & y) / 5 for x, y in itertools.combinations(tests, 2)])
    counts = np.bincount([i for t in tests for i in t], minlength=15)
    assert overlap_rate(counts, 40, 5.0) == pytest.approx(pairwise)


def test_se_stop_shortens_tests_and_information_se_differs_from_posterior():
    pool = bank(400, log_a=np.log(1.4))
    thetas = np.random.default_rng(4).normal(size=800)
    fixed = simulate_cat(pool, thetas, CatPolicy(max_length=60), seed=5)
    stop = simulate_cat(pool, thetas, CatPolicy(max_length=60, se_stop=0.3), seed=5)
    assert stop.mean_length < 0.6 * fixed.mean_length
    assert (stop.se[stop.lengths < 60] <= 0.3).all()
    info = simulate_cat(pool, thetas, CatPolicy(max_length=60, se_stop=0.3, se_kind="information"),
                        seed=5)  # fmt: skip
    assert (info.se[info.lengths < 60] <= 0.3).all() and info.mean_length != stop.mean_length
    assert stop.rmse < 0.4


def test_policy_validation():
    with pytest.raises(ValueError, match="se_kind"):
        CatPolicy(se_kind="other")
    with pytest.raises(ValueError, match="exceeds max_length"):
        CatPolicy(max_length=5, quotas=(3, 3))


def test_sympson_hetter_lowers_maximum_exposure_to_about_r_max():
    pool = bank(150, seed=6)
    res = sympson_hetter(pool, 0.25, test_length=15, n_simulees=1500, n_iter=8, seed=7)
    assert res.iterations == 8 and res.max_exposure[0] > 0.6  # no control: K = 1
    assert res.K.min() < 1 and (res.K > 0).all() and (res.K <= 1).all()
    fresh = np.random.default_rng(8).normal(size=3000)
    none = simulate_cat(pool, fresh, CatPolicy(max_length=15), seed=9)
    controlled_pool = ItemPool.build(pool.a, pool.b, pool.c, res.K)
    sh = simulate_cat(controlled_pool, fresh, CatPolicy(max_length=15, sympson_hetter=True), seed=9)
    assert none.max_exposure > 0.6
    assert sh.max_exposure <= 0.30
    assert sh.pool_usage > none.pool_usage and sh.overlap_rate < none.overlap_rate
    assert sh.rmse < 1.25 * none.rmse


def test_sympson_hetter_respects_quotas():
    rng = np.random.default_rng(10)
    membership = np.zeros((90, 2), bool)
    membership[:30, 0] = True
    membership[30:60, 1] = True
    pool = ItemPool.build(rng.lognormal(0, 0.3, 90), rng.normal(size=90),
                          rng.uniform(0.1, 0.25, 90), None, membership)  # fmt: skip
    res = sympson_hetter(pool, 0.3, test_length=10, n_simulees=600, n_iter=3, seed=11,
                         quotas=(4, 3))  # fmt: skip
    rep = simulate_cat(ItemPool.build(pool.a, pool.b, pool.c, res.K, membership),
                       rng.normal(size=600), CatPolicy(max_length=10, quotas=(4, 3),
                                                       sympson_hetter=True), seed=12)  # fmt: skip
    counts = membership[rep.administered].sum(axis=1)
    assert (counts == [4, 3]).all()


def test_each_simulee_stops_at_its_own_length():
    pool = bank(60, seed=13)
    lengths = np.array([3, 10, 25] * 50)
    rep = simulate_cat(pool, np.zeros(150), CatPolicy(max_length=25), seed=14, lengths=lengths)
    assert (rep.lengths == lengths).all()
    assert ((rep.administered >= 0).sum(axis=1) == lengths).all()
    with pytest.raises(ValueError, match="lengths must be"):
        simulate_cat(pool, np.zeros(3), CatPolicy(max_length=5), lengths=[1, 2, 6])


def test_sympson_hetter_over_observed_lengths_with_a_noise_margin():
    """Lengths drawn from observed ones; aimed at r_max less the simulation's binomial SE, with
    P(S) smoothed, the final K hold the exposure of fresh simulees near r_max."""
    pool = bank(120, seed=15)
    with pytest.raises(ValueError, match="either test_length or lengths"):
        sympson_hetter(pool, 0.25, n_simulees=10)
    res = sympson_hetter(pool, 0.25, lengths=[20, 20, 10], n_simulees=1200, n_iter=6, seed=16,
                         margin=None, smooth=True, verify=True)  # fmt: skip
    assert res.target == pytest.approx(0.25 - np.sqrt(0.25 * 0.75 / 1200))
    assert res.max_exposure[0] > 0.5 and res.final_max_exposure <= 0.25 + 0.03
    assert res.final_exposure.shape == (120,)
    plain = sympson_hetter(pool, 0.25, lengths=[20, 20, 10], n_simulees=1200, n_iter=6, seed=16)
    assert plain.target == 0.25 and plain.final_max_exposure is None
    assert res.K.mean() < plain.K.mean()  # the margin only restricts
