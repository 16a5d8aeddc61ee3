"""Item selection: quotas, cap relaxation, Sympson-Hetter dead ends, never twice, speed."""

import time

import numpy as np
import pytest

from irt_models.model import info_3pl
from irt_models.selection import ItemPool, select_batch, select_next_item
from irt_models.simulation import CatPolicy, simulate_cat


def make_pool(n=60, n_topics=3, seed=0, K=None):
    rng = np.random.default_rng(seed)
    membership = np.zeros((n, n_topics), bool)
    topic = rng.integers(0, n_topics + 1, n)  # topic n_topics = items outside every quota
    for t in range(n_topics):
        membership[topic == t, t] = True
    return ItemPool.build(
        rng.lognormal(0, 0.3, n), rng.normal(size=n), rng.uniform(0.1, 0.25, n), K, membership
    )


def test_picks_the_most_informative_eligible_item():
    pool = make_pool()
    served = np.zeros(pool.n_items, bool)
    info = info_3pl(0.4, pool.a, pool.b, pool.c)
    best = int(np.argmax(info))
    sel = select_next_item(pool, 0.4, served_mask=served, quota_remaining=[5, 5, 5],
                           positions_remaining=30, rng=np.random.default_rng(1))  # fmt: skip
    assert sel.index == best and sel.status == "ok" and sel.sh_redraws == 0
    served[best] = True
    sel = select_next_item(pool, 0.4, served_mask=served, quota_remaining=[5, 5, 5],
                           positions_remaining=30, rng=np.random.default_rng(1))  # fmt: skip
    assert sel.index == int(np.argsort(-info)[1])


def test_used_up_quota_topics_are_ineligible_and_tight_quotas_force_quota_items():
    pool = make_pool()
    rng = np.random.default_rng(2)
    served = np.zeros(pool.n_items, bool)
    for _ in range(50):
        sel = select_next_item(pool, rng.normal(), served_mask=served, quota_remaining=[0, 2, 0],
                               positions_remaining=10, rng=rng)  # fmt: skip
        assert not pool.membership[sel.index, [0, 2]].any()
        sel = select_next_item(pool, rng.normal(), served_mask=served, quota_remaining=[0, 2, 1],
                               positions_remaining=3, rng=rng)  # fmt: skip
        assert pool.membership[sel.index, [1, 2]].any()


def test_quotas_hold_and_nothing_is_served_twice_over_thousands_of_quizzes():
    pool = make_pool(n=120, n_topics=3, seed=3, K=np.random.default_rng(3).uniform(0.3, 1, 120))
    quotas = (4, 3, 2)
    thetas = np.random.default_rng(4).normal(size=3000)
    for sh, k, adaptive in ((True, 1, True), (True, 4, True), (False, 1, False)):
        policy = CatPolicy(max_length=12, quotas=quotas, sympson_hetter=sh, randomesque_k=k,
                           adaptive=adaptive)  # fmt: skip
        rep = simulate_cat(pool, thetas, policy, seed=5)
        adm = rep.administered
        assert (adm >= 0).all() and rep.n_exhausted == 0
        for row in adm:
            assert len(set(row)) == row.size
        counts = pool.membership[adm].sum(axis=1)  # simulees × topics
        np.testing.assert_array_equal(counts, np.tile(quotas, (thetas.size, 1)))


def test_single_decisions_follow_quotas_over_a_thousand_quizzes():
    pool = make_pool(n=80, n_topics=3, seed=6, K=np.full(80, 0.5))
    rng = np.random.default_rng(7)
    capped = np.zeros(80, bool)
    capped[::3] = True
    for _ in range(1000):
        served = np.zeros(80, bool)
        quota = np.array([3, 2, 2])
        rejected = np.zeros(80, bool)
        for pos in range(10):
            sel = select_next_item(pool, rng.normal(), served_mask=served, quota_remaining=quota,
                                   positions_remaining=10 - pos, capped_mask=capped,
                                   rejected_mask=rejected, rng=rng)  # fmt: skip
            assert sel.status == "ok" and not served[sel.index]
            served[sel.index] = True
            rejected[list(sel.rejected)] = True
            quota = quota - pool.membership[sel.index]
            assert (quota >= 0).all()
        assert (quota == 0).all()


def test_cap_is_relaxed_before_any_quota():
    pool = make_pool(n=40, seed=8)
    served = np.zeros(40, bool)
    quota_items = pool.membership[:, 0]
    capped = quota_items.copy()  # every item of the one open, tight quota is capped
    sel = select_next_item(pool, 0.0, served_mask=served, quota_remaining=[2, 0, 0],
                           positions_remaining=2, capped_mask=capped,
                           rng=np.random.default_rng(0))  # fmt: skip
    assert sel.cap_relaxed and quota_items[sel.index]
    everything = np.ones(40, bool)
    sel = select_next_item(pool, 0.0, served_mask=served, quota_remaining=[5, 5, 5],
                           positions_remaining=20, capped_mask=everything,
                           rng=np.random.default_rng(0))  # fmt: skip
    assert sel.cap_relaxed and sel.status == "ok"
    some = np.zeros(40, bool)
    some[:5] = True
    sel = select_next_item(pool, 0.0, served_mask=served, quota_remaining=[5, 5, 5],
                           positions_remaining=20, capped_mask=some, rng=np.random.default_rng(0))  # fmt: skip
    assert not sel.cap_relaxed and sel.index >= 5


def test_pool_exhausted():
    pool = make_pool(n=10, n_topics=0)
    sel = select_next_item(pool, 0.0, served_mask=np.ones(10, bool), rng=np.random.default_rng(0))
    assert sel.index is None and sel.status == "pool_exhausted"
    short = simulate_cat(pool, np.zeros(5), CatPolicy(max_length=12), seed=1)
    assert (short.lengths == 10).all() and short.n_exhausted == 5


def test_sympson_hetter_rejections_redraw_among_candidates_never_forcing_the_top():
    pool = make_pool(n=30, n_topics=0, K=np.full(30, 0.01))
    rng = np.random.default_rng(9)
    served = np.zeros(30, bool)
    top = int(np.argmax(info_3pl(0.0, pool.a, pool.b, pool.c)))
    picks, redraws = [], 0
    for _ in range(400):
        sel = select_next_item(pool, 0.0, served_mask=served, rng=rng)
        picks.append(sel.index)
        redraws += sel.sh_redraws
    assert redraws > 0  # 0.99³⁰ ≈ 74% of passes reject everything
    assert np.mean(np.array(picks) == top) < 0.2  # lottery among all, not "serve the top one"
    assert len(set(picks)) > 10


def test_all_k_zero_is_treated_as_equal_chances():
    pool = make_pool(n=20, n_topics=0, K=np.zeros(20))
    rng = np.random.default_rng(10)
    picks = [select_next_item(pool, 0.0, served_mask=np.zeros(20, bool), rng=rng).index
             for _ in range(400)]  # fmt: skip
    assert all(p is not None for p in picks)
    assert len(set(picks)) >= 15  # ∝ K with every K = 0 → uniform


def test_k_zero_items_are_never_accepted_while_others_can_be():
    K = np.ones(30)
    K[:10] = 0.0
    pool = make_pool(n=30, n_topics=0, K=K)
    rng = np.random.default_rng(11)
    picks = [select_next_item(pool, rng.normal(), served_mask=np.zeros(30, bool), rng=rng).index
             for _ in range(300)]  # fmt: skip
    assert min(picks) >= 10


def test_randomesque_draws_among_the_top_k():
    pool = make_pool(n=50, n_topics=0)
    order = np.argsort(-info_3pl(0.0, pool.a, pool.b, pool.c))
    rng = np.random.default_rng(12)
    picks = {select_next_item(pool, 0.0, served_mask=np.zeros(50, bool), rng=rng,
                              randomesque_k=5, use_sympson_hetter=False).index
             for _ in range(300)}  # fmt: skip
    assert picks == set(order[:5].tolist())


def test_non_adaptive_order_is_random_among_eligible():
    pool = make_pool(n=20, n_topics=0)
    rng = np.random.default_rng(13)
    picks = [select_next_item(pool, 0.0, served_mask=np.zeros(20, bool), rng=rng,
                              adaptive=False).index for _ in range(2000)]  # fmt: skip
    counts = np.bincount(picks, minlength=20)
    assert counts.min() > 60 and counts.max() < 150


def test_batch_rejects_mismatched_inputs():
    pool = make_pool(n=20)
    with pytest.raises(ValueError, match="columns"):
        select_batch(pool, [0.0], served=np.zeros((1, 19), bool), rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="quota"):
        select_batch(pool, [0.0], served=np.zeros((1, 20), bool), rng=np.random.default_rng(0))


def test_decision_on_5000_items_is_under_a_millisecond():
    rng = np.random.default_rng(14)
    n = 5000
    membership = np.zeros((n, 12), bool)
    membership[np.arange(n), rng.integers(0, 12, n)] = True
    pool = ItemPool.build(rng.lognormal(0, 0.3, n), rng.normal(size=n), rng.uniform(0.1, 0.25, n),
                          rng.uniform(0.2, 1.0, n), membership)  # fmt: skip
    served = np.zeros(n, bool)
    served[rng.choice(n, 60, replace=False)] = True
    capped = rng.random(n) < 0.05
    times = []
    for _ in range(300):
        t = time.perf_counter()
        select_next_item(pool, rng.normal(), served_mask=served, quota_remaining=np.full(12, 3),
                         positions_remaining=40, capped_mask=capped, rng=rng, randomesque_k=3)  # fmt: skip
        times.append(time.perf_counter() - t)
    assert np.median(times) < 1e-3


@pytest.mark.parametrize("n, k_range", [(12, (0.05, 0.9)), (40, (0.0, 0.08))])
def test_single_student_path_draws_like_the_batch_path(n, k_range):
    """select_next_item's lazy walk in information order is the same lottery as select_batch's
    "accept each eligible item with probability K, serve the most informative accepted one"
    (low K: the walk goes past its sorted head and whole passes are redrawn)."""
    rng = np.random.default_rng(11)
    pool = ItemPool.build(
        rng.lognormal(0, 0.3, n), rng.normal(0, 1, n), np.full(n, 0.2), rng.uniform(*k_range, n)
    )
    served = np.zeros(n, bool)
    served[[0, 5]] = True
    draws = 20_000
    single = [select_next_item(pool, 0.4, served_mask=served, rng=rng) for _ in range(draws)]
    idx, _, redraws, considered = select_batch(
        pool, np.full(draws, 0.4), served=np.tile(served, (draws, 1)), rng=rng
    )
    f_single = np.bincount([s.index for s in single], minlength=n) / draws
    f_batch = np.bincount(idx, minlength=n) / draws
    assert f_single[[0, 5]].sum() == 0
    np.testing.assert_allclose(f_single, f_batch, atol=0.015)

    # the items set aside per decision and the redraws agree on average too
    def same_mean(x, y):  # within 4 standard errors of the difference
        x, y = np.asarray(x, float), np.asarray(y, float)
        se = np.sqrt(x.var() / x.size + y.var() / y.size)
        return abs(x.mean() - y.mean()) <= 4 * se + 1e-9

    assert same_mean([len(s.rejected) for s in single], considered.sum(axis=1) - 1)
    assert same_mean([s.sh_redraws for s in single], redraws)


def test_pool_information_at_is_info_3pl():
    """The single-student path's information equals `info_3pl`, with c = 0 and far-off θ too."""
    rng = np.random.default_rng(11)
    n = 400
    a = rng.lognormal(0, 0.5, n)
    b = rng.normal(0, 2, n)
    c = np.where(rng.random(n) < 0.2, 0.0, rng.uniform(0, 0.35, n))
    pool = ItemPool.build(a, b, c)
    idx = np.flatnonzero(rng.random(n) < 0.7)
    for theta in (-40.0, -6.0, -1.0, 0.0, 2.5, 8.0, 40.0):
        got = pool.information_at(theta, idx)
        want = info_3pl(np.array([theta]), a[idx], b[idx], c[idx])[0]
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
