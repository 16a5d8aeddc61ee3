"""Ability estimation: EAP against a brute-force integral, MLE/MAP behaviour, speed."""

import time

import numpy as np
import pytest
from scipy import integrate

from irt_models.ability import eap, map_estimate, mle, pattern_log_likelihood


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
