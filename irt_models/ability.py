"""Ability (θ) estimation from one response pattern under the 3PL: EAP, MAP and MLE.

All three work in log space, so a pattern of thousands of responses neither underflows nor
overflows. ``correct`` is a 0/1 array aligned with the arrays ``a``, ``b``, ``c`` of the answered
items.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.special import expit

from irt_models._types import BoolArray, FloatArray

__all__ = [
    "AbilityEstimate",
    "RunningPosterior",
    "eap",
    "eap_from_log_posterior",
    "map_estimate",
    "mle",
    "pattern_log_likelihood",
]


#: Log posterior density (relative to the mode) below which mass is negligible: e^-40 ≈ 4e-18.
_NEGLIGIBLE = -40.0


class AbilityEstimate(NamedTuple):
    """θ and its standard error (posterior SD for EAP, 1/√information for MLE and MAP)."""

    theta: float
    se: float


def _items(
    correct: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike
) -> tuple[BoolArray, FloatArray, FloatArray, FloatArray]:
    x = np.asarray(correct).astype(bool, copy=False).ravel()
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    c = np.asarray(c, dtype=float).ravel()
    if not (x.size == a.size == b.size == c.size):
        raise ValueError(
            f"correct, a, b, c must have one entry per answered item "
            f"(got {x.size}, {a.size}, {b.size}, {c.size})"
        )
    return x, a, b, c


def pattern_log_likelihood(
    grid: npt.ArrayLike,
    correct: npt.ArrayLike,
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    c: npt.ArrayLike,
) -> FloatArray:
    """log L(θ) = Σ_i [x_i log P_i(θ) + (1 − x_i) log(1 − P_i(θ))] at each θ of ``grid``.

    3PL with D = 1. With e = exp(z), z = a(θ − b): P = (c + e)/(1 + e) and 1 − P = (1 − c)/(1 + e),
    so log P = log(c + e) − log1p(e) and log(1 − P) = log(1 − c) − log1p(e); z is clipped to
    ±700 so e stays a finite normal number and no term underflows.
    """
    return _Pattern(*_items(correct, a, b, c)).log_likelihood(np.asarray(grid, dtype=float))


class _Pattern:
    """One response pattern with what does not depend on θ computed once (EAP evaluates it on
    several grids)."""

    __slots__ = ("a", "b", "c_right", "right", "all_right", "wrong_const")

    def __init__(self, x: BoolArray, a: FloatArray, b: FloatArray, c: FloatArray) -> None:
        self.a, self.b = a, b
        self.right = x
        self.all_right = bool(x.all())
        self.c_right = c[x]
        self.wrong_const = float(np.log1p(-c[~x]).sum()) if not self.all_right else 0.0

    def log_likelihood(self, grid: FloatArray) -> FloatArray:
        z = self.a * (grid[..., None] - self.b)
        np.clip(z, -700.0, 700.0, out=z)
        e = np.exp(z)
        out: FloatArray = -np.log1p(e).sum(axis=-1)  # numpy types .sum() as Any
        if self.c_right.size:
            er = e if self.all_right else e[..., self.right]
            out += np.log(self.c_right + er).sum(axis=-1)
        return out + self.wrong_const


def eap_from_log_posterior(
    grid: FloatArray, log_post: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Posterior mean and SD from log posterior values on an equally spaced grid (last axis).

    E[θ] = Σ θ_q w_q / Σ w_q with w_q = exp(log_post_q − max): the trapezoid rule, whose error
    decays like exp(−2π² s²/h²) for a smooth posterior of SD s on spacing h. Works on a batch
    of rows (simulees × quadrature points). Returns (mean, sd).
    """
    lp = np.asarray(log_post, dtype=float)
    w = np.exp(lp - lp.max(axis=-1, keepdims=True))
    tot = w.sum(axis=-1)
    mean = (w * grid).sum(axis=-1) / tot
    dev = grid - mean[..., None] if lp.ndim > 1 else grid - mean
    var = (w * dev * dev).sum(axis=-1) / tot
    return mean, np.sqrt(var)


def eap(
    correct: npt.ArrayLike,
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    c: npt.ArrayLike,
    prior_mean: float = 0.0,
    prior_sd: float = 1.0,
    n_quad: int = 61,
) -> AbilityEstimate:
    """Expected a posteriori θ with a N(prior_mean, prior_sd²) prior (Bock & Mislevy 1982).

    θ̂ = ∫θ L(θ)φ(θ)dθ / ∫L(θ)φ(θ)dθ, SE = posterior SD. The integrals use an adaptive
    equally spaced grid (trapezoid rule): a coarse look over prior_mean ± 6·prior_sd, then
    ``n_quad`` points over the posterior's support (log density within 40 of the mode, tails of
    any shape included), repeated until the spacing is below 0.4 posterior SD, so a student with
    5,000 answers (SD ≈ 0.03) is integrated as precisely as one with 5. Log space throughout.
    """
    x, a, b, c = _items(correct, a, b, c)
    if prior_sd <= 0:
        raise ValueError(f"prior_sd must be positive (got {prior_sd})")
    if x.size == 0:
        return AbilityEstimate(float(prior_mean), float(prior_sd))
    pattern = _Pattern(x, a, b, c)
    # ±9 prior SDs: the prior alone is below e^-40 there, so the first look rarely needs widening
    lo, hi = prior_mean - 9.0 * prior_sd, prior_mean + 9.0 * prior_sd
    mean = sd = 0.0
    n = max(n_quad // 2, 37)  # a coarse first look, then n_quad points where the posterior is
    for _ in range(12):
        grid = np.linspace(lo, hi, n)
        lp = pattern.log_likelihood(grid) - 0.5 * ((grid - prior_mean) / prior_sd) ** 2
        lp -= lp.max()
        span = hi - lo
        if lp[0] > _NEGLIGIBLE or lp[-1] > _NEGLIGIBLE:  # posterior runs off the grid: widen
            lo -= span if lp[0] > _NEGLIGIBLE else 0.0
            hi += span if lp[-1] > _NEGLIGIBLE else 0.0
            continue
        post_mean, post_sd = eap_from_log_posterior(grid, lp)  # 0-d: one pattern
        mean, sd = float(post_mean), float(post_sd)
        h = grid[1] - grid[0]
        if sd >= 2.5 * h:
            break
        # zoom on the support (log density within 40 of the mode), tails of any shape included
        inside = np.flatnonzero(lp > _NEGLIGIBLE)
        lo, hi = grid[max(inside[0] - 1, 0)], grid[min(inside[-1] + 1, n - 1)]
        # enough points for spacing ≤ 0.33 SD (a margin: the coarse look measures SD roughly),
        # even when a long tail (from c) widens the support
        need = int(np.ceil(3.0 * (hi - lo) / max(sd, 0.5 * h))) + 1
        n = min(max(need, n_quad), 8 * n_quad)
    return AbilityEstimate(float(mean), float(sd))


class RunningPosterior:
    """EAP of a response pattern that grows one answer at a time (an adaptive test), in time
    proportional to a fixed grid, not to the number of answers.

    Keeps log L(θ) on ``n`` equally spaced points over prior_mean ± 10·prior_sd (spacing 0.04 SD
    by default; the prior alone is e^-50 at the ends) and adds each answer's log P or
    log(1 − P) to it. `estimate` integrates the posterior on that grid when it is fit for it —
    negligible mass at both ends and an SD of at least 3 spacings, where the trapezoid rule is
    exact to ~1e-12 — and otherwise returns `eap` of the whole pattern, which it keeps too
    (``pattern``: the arrays correct, a, b, c). Immutable: `add` returns a new posterior.
    """

    __slots__ = ("prior_mean", "prior_sd", "grid", "log_lik", "pattern")
    prior_mean: float
    prior_sd: float
    grid: FloatArray
    log_lik: FloatArray  # log L(θ) on ``grid``
    pattern: tuple[BoolArray, FloatArray, FloatArray, FloatArray]  # correct, a, b, c so far

    def __init__(self, prior_mean: float = 0.0, prior_sd: float = 1.0, n: int = 501) -> None:
        if prior_sd <= 0:
            raise ValueError(f"prior_sd must be positive (got {prior_sd})")
        self.prior_mean, self.prior_sd = float(prior_mean), float(prior_sd)
        self.grid = np.linspace(prior_mean - 10.0 * prior_sd, prior_mean + 10.0 * prior_sd, n)
        self.log_lik = np.zeros(n)
        self.pattern = (np.zeros(0, bool), np.zeros(0), np.zeros(0), np.zeros(0))

    def add(
        self, correct: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike
    ) -> RunningPosterior:
        """The posterior after these answers too (scalars or aligned arrays)."""
        x, a, b, c = _items(np.atleast_1d(correct), np.atleast_1d(a), np.atleast_1d(b),
                            np.atleast_1d(c))  # fmt: skip
        new = RunningPosterior.__new__(RunningPosterior)
        new.prior_mean, new.prior_sd, new.grid = self.prior_mean, self.prior_sd, self.grid
        new.log_lik = self.log_lik + _Pattern(x, a, b, c).log_likelihood(self.grid)
        old_x, old_a, old_b, old_c = self.pattern
        new.pattern = (
            np.concatenate((old_x, x)),
            np.concatenate((old_a, a)),
            np.concatenate((old_b, b)),
            np.concatenate((old_c, c)),
        )
        return new

    @property
    def n_answers(self) -> int:
        return self.pattern[0].size

    def estimate(self) -> AbilityEstimate:
        if not self.n_answers:
            return AbilityEstimate(self.prior_mean, self.prior_sd)
        lp = self.log_lik - 0.5 * ((self.grid - self.prior_mean) / self.prior_sd) ** 2
        lp -= lp.max()
        if lp[0] <= _NEGLIGIBLE and lp[-1] <= _NEGLIGIBLE:
            mean, sd = eap_from_log_posterior(self.grid, lp)
            if sd >= 3.0 * (self.grid[1] - self.grid[0]):
                return AbilityEstimate(float(mean), float(sd))
        return eap(*self.pattern, self.prior_mean, self.prior_sd)


def _score_info(
    theta: float, x: BoolArray, a: FloatArray, b: FloatArray, c: FloatArray
) -> tuple[float, float]:
    """Score dlogL/dθ and Fisher information at θ: Σ (x − P) P′/(PQ) and Σ P′²/(PQ)."""
    s = expit(a * (theta - b))
    p = c + (1.0 - c) * s
    q = (1.0 - c) * (1.0 - s)
    dp = a * (1.0 - c) * s * (1.0 - s)
    with np.errstate(divide="ignore", invalid="ignore"):
        pq = np.maximum(p * q, 1e-300)
        score = np.sum((x - p) * dp / pq)
        info = np.sum(dp * dp / pq)
    return float(score), float(info)


def _mode(
    x: BoolArray,
    a: FloatArray,
    b: FloatArray,
    c: FloatArray,
    prior_mean: float,
    prior_sd: float | None,
    bounds: tuple[float, float],
    n_grid: int = 121,
) -> float:
    """Maximise log L(θ) (+ log prior) on [lo, hi]: grid search, then safeguarded Fisher scoring."""
    lo, hi = bounds
    grid = np.linspace(lo, hi, n_grid)
    obj = pattern_log_likelihood(grid, x, a, b, c)
    prec = 0.0 if prior_sd is None else 1.0 / prior_sd**2
    if prior_sd is not None:
        obj = obj - 0.5 * prec * (grid - prior_mean) ** 2
    k = int(np.argmax(obj))
    left, right = grid[max(k - 1, 0)], grid[min(k + 1, n_grid - 1)]
    theta: float = grid[k]
    for _ in range(50):
        score, info = _score_info(theta, x, a, b, c)
        if prior_sd is not None:
            score -= prec * (theta - prior_mean)
            info += prec
        if score > 0:
            left = theta
        else:
            right = theta
        new = theta + score / max(info, 1e-12)
        if not left <= new <= right:  # stay in the grid's bracket (a 3PL likelihood can be bimodal)
            new = 0.5 * (left + right)
        if abs(new - theta) < 1e-10:
            theta = new
            break
        theta = new
    return theta


def mle(
    correct: npt.ArrayLike,
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    c: npt.ArrayLike,
    bounds: tuple[float, float] = (-6.0, 6.0),
) -> AbilityEstimate:
    """Maximum-likelihood θ (Lord 1980, ch. 4), SE = 1/√I(θ̂) with I the 3PL test information.

    Grid search over ``bounds`` then Fisher scoring. When no finite maximum exists inside the
    bounds (all correct or all wrong), θ̂ is the bound and the SE is ``inf``.
    """
    x, a, b, c = _items(correct, a, b, c)
    if x.size == 0 or x.all() or not x.any():
        theta = bounds[1] if x.size and x.all() else bounds[0]
        return AbilityEstimate(float(theta), float("inf"))
    theta = _mode(x, a, b, c, 0.0, None, bounds)
    score, info = _score_info(theta, x, a, b, c)
    at_bound = theta <= bounds[0] + 1e-9 or theta >= bounds[1] - 1e-9
    se = float("inf") if at_bound or info <= 0 else 1.0 / np.sqrt(info)
    return AbilityEstimate(float(theta), float(se))


def map_estimate(
    correct: npt.ArrayLike,
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    c: npt.ArrayLike,
    prior_mean: float = 0.0,
    prior_sd: float = 1.0,
    bounds: tuple[float, float] = (-8.0, 8.0),
) -> AbilityEstimate:
    """Maximum a posteriori θ with a N(prior_mean, prior_sd²) prior (Mislevy & Stocking 1989).

    Mode of log L(θ) − (θ − μ)²/(2σ²); SE = 1/√(I(θ̂) + 1/σ²).
    """
    x, a, b, c = _items(correct, a, b, c)
    if x.size == 0:
        return AbilityEstimate(float(prior_mean), float(prior_sd))
    theta = _mode(x, a, b, c, prior_mean, prior_sd, bounds)
    _, info = _score_info(theta, x, a, b, c)
    return AbilityEstimate(float(theta), float(1.0 / np.sqrt(info + 1.0 / prior_sd**2)))
