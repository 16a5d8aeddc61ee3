"""3PL model math: known values, the information formula, broadcasting and tail stability."""

import numpy as np
import pytest

from irt_models.model import (
    METRIC,
    info_3pl,
    log_likelihood,
    log_prob_3pl,
    prob_3pl,
    total_info_3pl,
)


def test_metric_is_logistic_d1():
    assert METRIC == "logistic_D1"


def test_probability_known_values():
    # at θ = b the logistic part is 1/2; D = 1 (not 1.7): σ(1) at one unit above b when a = 1
    assert prob_3pl(0.5, 1.3, 0.5, 0.2) == pytest.approx(0.2 + 0.8 * 0.5)
    assert prob_3pl(1.0, 1.0, 0.0, 0.0) == pytest.approx(1 / (1 + np.exp(-1.0)))
    assert prob_3pl(-50.0, 2.0, 0.0, 0.25) == pytest.approx(0.25)
    assert prob_3pl(50.0, 2.0, 0.0, 0.25) == pytest.approx(1.0)


def test_broadcasting_abilities_by_items():
    theta = np.linspace(-2, 2, 7)
    a, b, c = np.ones(4), np.zeros(4), np.full(4, 0.2)
    assert prob_3pl(theta, a, b, c).shape == (7, 4)
    assert info_3pl(theta, a, b, c).shape == (7, 4)
    assert prob_3pl(0.0, a, b, c).shape == (4,)
    assert total_info_3pl(theta, a, b, c).shape == (7,)


def test_information_equals_squared_slope_over_variance():
    # I(θ) = P'(θ)² / (P(1 − P)), the definition, by central differences
    rng = np.random.default_rng(0)
    a, b, c = rng.lognormal(0, 0.3, 20), rng.normal(size=20), rng.uniform(0.1, 0.25, 20)
    theta, h = np.linspace(-3, 3, 13), 1e-5
    dp = (prob_3pl(theta + h, a, b, c) - prob_3pl(theta - h, a, b, c)) / (2 * h)
    p = prob_3pl(theta, a, b, c)
    np.testing.assert_allclose(info_3pl(theta, a, b, c), dp**2 / (p * (1 - p)), rtol=1e-6)


def test_information_of_2pl_at_b_is_a_squared_over_four():
    assert info_3pl(0.3, 1.6, 0.3, 0.0) == pytest.approx(1.6**2 / 4)


def test_log_probabilities_are_finite_in_far_tails():
    log_p, log_q = log_prob_3pl(np.array([-400.0, 400.0]), 3.0, 0.0, 0.0)
    assert np.isfinite(log_p).all() and np.isfinite(log_q).all()
    assert log_p[0] == pytest.approx(-1200.0)
    assert log_q[1] == pytest.approx(-1200.0)
    lp, lq = log_prob_3pl(0.7, 1.2, -0.3, 0.2)
    p = prob_3pl(0.7, 1.2, -0.3, 0.2)
    assert np.exp(lp) == pytest.approx(p) and np.exp(lq) == pytest.approx(1 - p)


def test_log_likelihood_of_pattern():
    a, b, c = np.array([1.0, 2.0]), np.array([0.0, 1.0]), np.array([0.2, 0.1])
    p = prob_3pl(0.4, a, b, c)
    expected = np.log(p[0]) + np.log(1 - p[1])
    assert log_likelihood(0.4, [1, 0], a, b, c) == pytest.approx(expected)
