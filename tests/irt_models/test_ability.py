"""Ability estimation: EAP against a brute-force integral, MLE/MAP behaviour, speed."""

import time

import numpy as np
import pytest
from scipy import integrate

from irt_models.ability import (
    RunningPosterior,
    eap,
    map_estimate,
    mle,
    pattern_log_likelihood,
)


def _pattern(rng, n, theta):
    a = rng.lognormal(0, 0.3, n)
    b = rng.normal(size=n)
    c = rng.uniform(0.1, 0.25, n)
    p = c + (1 - c) / (1 + np.exp(-a * (theta - b)))
    return rng.random(n) < p, a, b, c


def _brute_force(x, a, b, c, mu=0.0, sd=1.0):
    """Posterior mean and SD by Simpson's rule on 4,001 points over the posterior's support."""

    def log_post(g):
        chunks = [
            pattern_log_likelihood(g[i : i + 2000], x, a, b, c) for i in range(0, g.size, 2000)
        ]
        return np.concatenate(chunks) - 0.5 * ((g - mu) / sd) ** 2

    coarse = np.linspace(mu - 12 * sd, mu + 12 * sd, 2401)
    lp = log_post(coarse)
    support = coarse[lp - lp.max() > -60]
    g = np.linspace(support[0] - 0.01, support[-1] + 0.01, 4001)
    lp = log_post(g)
    w = np.exp(lp - lp.max())
    z = integrate.simpson(w, x=g)
    m = integrate.simpson(w * g, x=g) / z
    return m, np.sqrt(integrate.simpson(w * (g - m) ** 2, x=g) / z)


@pytest.mark.parametrize("n", [1, 3, 10, 30, 120])
def test_eap_matches_brute_force_to_1e6(n):
    rng = np.random.default_rng(n)
    for _ in range(5):
        x, a, b, c = _pattern(rng, n, 1.5 * rng.normal())
        est = eap(x, a, b, c)
        m, s = _brute_force(x, a, b, c)
        assert abs(est.theta - m) < 1e-6
        assert abs(est.se - s) < 1e-6


@pytest.mark.parametrize("n", [1, 3, 10, 30, 120])
def test_running_posterior_answer_by_answer_matches_brute_force_to_1e6(n):
    rng = np.random.default_rng(200 + n)
    for _ in range(3):
        x, a, b, c = _pattern(rng, n, 1.5 * rng.normal())
        post = RunningPosterior()
        for i in range(n):
            before = post
            post = post.add(x[i], a[i], b[i], c[i])
            assert before.n_answers == i  # `add` leaves the old posterior as it was
        est = post.estimate()
        m, s = _brute_force(x, a, b, c)
        assert abs(est.theta - m) < 1e-6 and abs(est.se - s) < 1e-6
        batch = RunningPosterior().add(x, a, b, c).estimate()
        assert abs(batch.theta - est.theta) < 1e-12 and abs(batch.se - est.se) < 1e-12


def test_running_posterior_extremes_other_prior_and_narrow_posteriors():
    """All right, all wrong, another prior, and 5,000 answers (SD 0.03, narrower than the grid
    resolves: `eap` of the kept pattern takes over) all match the brute force."""
    rng = np.random.default_rng(77)
    _, a, b, c = _pattern(rng, 40, 0.0)
    for x in (np.ones(40, bool), np.zeros(40, bool)):
        est = RunningPosterior().add(x, a, b, c).estimate()
        m, s = _brute_force(x, a, b, c)
        assert abs(est.theta - m) < 1e-6 and abs(est.se - s) < 1e-6
    x, a, b, c = _pattern(rng, 25, 0.7)
    est = RunningPosterior(prior_mean=0.5, prior_sd=0.8).add(x, a, b, c).estimate()
    m, s = _brute_force(x, a, b, c, mu=0.5, sd=0.8)
    assert abs(est.theta - m) < 1e-6 and abs(est.se - s) < 1e-6
    assert RunningPosterior(0.5, 0.8).estimate() == (0.5, 0.8)
    x, a, b, c = _pattern(rng, 5000, -1.0)
    est = RunningPosterior().add(x, a, b, c).estimate()
    m, s = _brute_force(x, a, b, c)
    assert abs(est.theta - m) < 1e-4 and abs(est.se - s) < 1e-4 and est.se < 0.1
    # A grid too coarse for the posterior, and one the posterior runs off (a tight prior far
    # from the answers): both are integrated by `eap` instead.
    x, a, b, c = _pattern(rng, 30, 0.3)
    est = RunningPosterior(n=21).add(x, a, b, c).estimate()
    m, s = _brute_force(x, a, b, c)
    assert abs(est.theta - m) < 1e-6 and abs(est.se - s) < 1e-6
    rng = np.random.default_rng(5)  # hard items answered well, under a tight prior at 0
    a, b, c = rng.lognormal(0.3, 0.2, 100), rng.normal(3.5, 0.5, 100), rng.uniform(0.1, 0.2, 100)
    x = rng.random(100) < c + (1 - c) / (1 + np.exp(-a * (3.5 - b)))
    est = RunningPosterior(prior_sd=0.3).add(x, a, b, c).estimate()
    m, s = _brute_force(x, a, b, c, sd=0.3)
    assert abs(est.theta - m) < 1e-6 and abs(est.se - s) < 1e-6


def test_eap_matches_brute_force_at_5000_responses():
    rng = np.random.default_rng(5000)
    for theta in (-2.5, 1.0):
        x, a, b, c = _pattern(rng, 5000, theta)
        est = eap(x, a, b, c)
        m, s = _brute_force(x, a, b, c)
        assert abs(est.theta - m) < 1e-4 and abs(est.se - s) < 1e-4
        assert est.se < 0.1


def test_eap_all_correct_5000_stays_finite_and_exact():
    n = 5000
    a, b, c, x = np.ones(n), np.zeros(n), np.full(n, 0.2), np.ones(n, bool)
    est = eap(x, a, b, c)
    m, s = _brute_force(x, a, b, c)
    assert np.isfinite(est.theta) and est.theta > 6
    assert abs(est.theta - m) < 1e-4 and abs(est.se - s) < 1e-4


def test_eap_with_other_prior_and_no_answers():
    assert eap([], [], [], [], prior_mean=0.5, prior_sd=2.0) == (0.5, 2.0)
    rng = np.random.default_rng(1)
    x, a, b, c = _pattern(rng, 20, 1.0)
    est = eap(x, a, b, c, prior_mean=0.5, prior_sd=0.8)
    m, s = _brute_force(x, a, b, c, mu=0.5, sd=0.8)
    assert abs(est.theta - m) < 1e-6 and abs(est.se - s) < 1e-6


def test_eap_rejects_misaligned_arrays():
    with pytest.raises(ValueError, match="one entry per answered item"):
        eap([1, 0], [1.0], [0.0], [0.2])


def test_mle_and_map():
    rng = np.random.default_rng(7)
    x, a, b, c = _pattern(rng, 200, 0.8)
    ml = mle(x, a, b, c)
    # the MLE maximises the likelihood: its score is zero
    h = 1e-5
    lp = pattern_log_likelihood(np.array([ml.theta - h, ml.theta + h]), x, a, b, c)
    assert abs(lp[1] - lp[0]) / (2 * h) < 1e-4
    mp = map_estimate(x, a, b, c)
    assert abs(mp.theta) < abs(ml.theta) + 1e-9  # shrunk toward the prior mean 0
    assert mp.se < ml.se
    # all correct: no finite MLE, reported at the bound with an infinite SE
    bound = mle(np.ones(5, bool), a[:5], b[:5], c[:5])
    assert bound.theta == 6.0 and bound.se == float("inf")
    assert np.isfinite(map_estimate(np.ones(5, bool), a[:5], b[:5], c[:5]).theta)


def test_eap_is_fast_for_120_responses():
    rng = np.random.default_rng(3)
    x, a, b, c = _pattern(rng, 120, 0.2)
    times = []
    for _ in range(300):
        t = time.perf_counter()
        eap(x, a, b, c)
        times.append(time.perf_counter() - t)
    assert np.median(times) < 1e-3
