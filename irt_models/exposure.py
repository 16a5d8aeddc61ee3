"""Sympson-Hetter exposure control parameters by the iterative simulation procedure.

Sympson & Hetter (1985); Hetter & Sympson (1997): starting from K_i = 1, simulate the whole CAT
(its content rules included) on simulees drawn from the target θ distribution, measure how often
each item is put to the lottery, P(S_i), and set K_i = min(1, r_max / P(S_i)); repeat with the new
K. Exposure P(A_i) = K_i·P(S_i) is then held near or below r_max. All simulees of an iteration run
in lockstep (`irt_models.simulation.simulate_cat`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from irt_models.selection import ItemPool
from irt_models.simulation import CatPolicy, simulate_cat

__all__ = ["SympsonHetterResult", "sympson_hetter"]


@dataclass
class SympsonHetterResult:
    """K per item after the last iteration, with the per-iteration maximum exposure rates."""

    K: np.ndarray
    r_max: float
    max_exposure: list[float]
    exposure: np.ndarray = field(repr=False)
    selection_rate: np.ndarray = field(repr=False)

    @property
    def iterations(self) -> int:
        """Number of simulation rounds run."""
        return len(self.max_exposure)


def sympson_hetter(
    bank: ItemPool,
    r_max: float = 0.25,
    *,
    test_length: int,
    n_simulees: int = 2000,
    n_iter: int = 10,
    rng: np.random.Generator | None = None,
    seed: int | None = None,
    theta_sampler: Callable[[np.random.Generator, int], np.ndarray] | None = None,
    quotas: tuple[int, ...] | None = None,
    policy: CatPolicy | None = None,
) -> SympsonHetterResult:
    """Iterate K_i ← min(1, r_max / P(S_i)) over ``n_iter`` simulations (Sympson & Hetter 1985).

    Each iteration draws ``n_simulees`` fresh θ from ``theta_sampler(rng, n)`` (default N(0, 1))
    and runs a fixed-length CAT of ``test_length`` items with the current K (plus ``quotas`` or
    the options of ``policy``). P(S_i) is the number of times item i went through the lottery
    divided by the number of simulees. ``max_exposure[t]`` is the largest exposure rate observed
    in iteration t, i.e. under the K that iteration ran with.
    """
    if not 0 < r_max <= 1:
        raise ValueError(f"r_max must be in (0, 1] (got {r_max})")
    if test_length > bank.n_items:
        raise ValueError(f"test_length {test_length} exceeds the pool size {bank.n_items}")
    rng = np.random.default_rng(seed) if rng is None else rng
    sampler = theta_sampler or (lambda g, n: g.standard_normal(n))
    base = policy or CatPolicy()
    pol = replace(
        base,
        max_length=test_length,
        min_length=test_length,
        se_stop=None,
        sympson_hetter=True,
        quotas=quotas if quotas is not None else base.quotas,
    )
    K = np.ones(bank.n_items)
    max_exp: list[float] = []
    exposure = np.zeros(bank.n_items)
    sel = np.zeros(bank.n_items)
    for _ in range(n_iter):
        pool = ItemPool.build(bank.a, bank.b, bank.c, K, bank.membership)
        report = simulate_cat(pool, sampler(rng, n_simulees), pol, rng=rng)
        exposure = report.exposure
        max_exp.append(float(exposure.max()))
        sel = report.considered / n_simulees
        with np.errstate(divide="ignore"):
            K = np.where(sel > r_max, r_max / sel, 1.0)
    return SympsonHetterResult(K=K, r_max=r_max, max_exposure=max_exp, exposure=exposure,
                               selection_rate=sel)  # fmt: skip
