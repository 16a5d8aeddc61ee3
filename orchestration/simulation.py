"""Exposure control and CAT simulation over a calibrated bank (thin wrappers of irt_models)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from irt_models.exposure import sympson_hetter
from irt_models.selection import ItemPool
from irt_models.simulation import CatPolicy, SimulationReport, simulate_cat
from orchestration.calibration import PairCalibration


@dataclass
class PairExposure:
    """Sympson-Hetter K per calibrated item of one exam code."""

    key: str
    r_max: float
    test_length: int
    # question_version_id, k, exposure (with K), selection_rate (P(S_i), last iteration)
    items: pd.DataFrame
    max_exposure_by_iteration: list[float]

    @property
    def k(self) -> pd.Series:
        return self.items.set_index("question_version_id")["k"]


def exposure_for_pair(
    pair: PairCalibration,
    *,
    r_max: float,
    test_length: int,
    n_simulees: int,
    n_iter: int,
    seed: int,
) -> PairExposure:
    """K_i by the Sympson-Hetter iterative simulation over the pair's calibrated items."""
    cal = pair.calibrated
    if cal.empty:
        return PairExposure(
            pair.key, r_max, 0, pd.DataFrame(columns=["question_version_id", "k"]), []
        )
    length = max(1, min(test_length, len(cal)))
    pool = ItemPool.build(cal["a"], cal["b"], cal["c"])
    result = sympson_hetter(
        pool, r_max, test_length=length, n_simulees=n_simulees, n_iter=n_iter, seed=seed
    )
    items = pd.DataFrame(
        {
            "question_version_id": cal["question_version_id"].astype(int).to_numpy(),
            "k": np.clip(result.K, 0.0, 1.0),
            "exposure": result.exposure,
            "selection_rate": result.selection_rate,
        }
    )
    return PairExposure(pair.key, r_max, length, items, list(result.max_exposure))


def simulate_live_bank(
    bank: pd.DataFrame,
    *,
    n_simulees: int,
    max_length: int,
    min_length: int,
    se_stop: float,
    seed: int,
) -> SimulationReport:
    """Adaptive tests with the live policy (Sympson-Hetter on, stop at SE ≤ se_stop)."""
    pool = ItemPool.build(bank["a"], bank["b"], bank["c"], bank["k"])
    length = max(1, min(max_length, len(bank)))
    policy = CatPolicy(
        max_length=length,
        min_length=min(min_length, length),
        se_stop=se_stop,
        sympson_hetter=True,
    )
    rng = np.random.default_rng(seed)
    return simulate_cat(pool, rng.standard_normal(n_simulees), policy, rng=rng)
