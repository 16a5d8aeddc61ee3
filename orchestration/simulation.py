"""Exposure control fitted to the live traffic, and CAT simulation over a calibrated bank (thin
wrappers of irt_models)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from irt_models.exposure import sympson_hetter
from irt_models.selection import ItemPool
from irt_models.simulation import CatPolicy, SimulationReport, simulate_cat
from orchestration.calibration import PairCalibration
from orchestration.traffic import TrafficProfile


@dataclass
class PairExposure:
    """Sympson-Hetter K per calibrated item of one exam code, fitted to its traffic."""

    key: str
    r_max: float
    test_length: int  # longest simulated quiz (scored positions)
    # question_version_id, k, exposure (with K, last iteration), selection_rate (P(S_i), last
    # iteration), final_exposure (a verification run with the final K)
    items: pd.DataFrame
    max_exposure_by_iteration: list[float]
    final_max_exposure: float | None = None
    # The traffic simulated (TrafficProfile.summary(), or the fixed-length fallback's).
    traffic: dict = field(default_factory=dict)

    @property
    def k(self) -> pd.Series:
        return self.items.set_index("question_version_id")["k"]

    @property
    def iterations(self) -> int:
        return len(self.max_exposure_by_iteration)


def exposure_for_pair(
    pair: PairCalibration,
    *,
    r_max: float,
    n_simulees: int,
    n_iter: int,
    seed: int,
    profile: TrafficProfile | None = None,
    test_length: int = 20,
    randomesque_k: int = 1,
) -> PairExposure:
    """K_i by the Sympson-Hetter iterative simulation over the pair's calibrated items, for the
    traffic of ``profile``: adaptive quizzes of the observed scored lengths (pretest positions
    do not use calibrated items, so they are not simulated), the API's randomesque k, simulees
    from the calibration's latent N(μ, σ²). Without observed adaptive quizzes (a new exam code)
    the quizzes are ``test_length`` long and ``randomesque_k`` applies."""
    cal = pair.calibrated
    if cal.empty:
        return PairExposure(
            pair.key, r_max, 0, pd.DataFrame(columns=["question_version_id", "k"]), []
        )
    mean, sd = float(pair.latent_mean), float(pair.latent_sd)
    if profile is not None and profile.n_adaptive:
        lengths = np.minimum(profile.scored_lengths, len(cal))
        k_rand = profile.randomesque_k
        traffic = profile.summary()
    else:
        lengths = np.array([max(1, min(test_length, len(cal)))])
        k_rand = randomesque_k
        traffic = {"adaptive_quizzes": 0, "scored_length": int(lengths[0]),
                   "randomesque_k": k_rand, "latent_mean": mean, "latent_sd": sd,
                   "window": "no adaptive quizzes observed: fixed length"}  # fmt: skip
    pool = ItemPool.build(cal["a"], cal["b"], cal["c"])
    result = sympson_hetter(
        pool,
        r_max,
        lengths=lengths,
        n_simulees=n_simulees,
        n_iter=n_iter,
        seed=seed,
        theta_sampler=lambda g, n: g.normal(mean, sd, n),
        policy=CatPolicy(randomesque_k=k_rand),
        verify=True,
        # aim below r_max by the simulation's own noise, P(S) smoothed (irt_models.exposure)
        margin=None,
        smooth=True,
    )
    items = pd.DataFrame(
        {
            "question_version_id": cal["question_version_id"].astype(int).to_numpy(),
            "k": np.clip(result.K, 0.0, 1.0),
            "exposure": result.exposure,
            "selection_rate": result.selection_rate,
            "final_exposure": result.final_exposure,
        }
    )
    return PairExposure(
        pair.key, r_max, int(lengths.max()), items, list(result.max_exposure),
        result.final_max_exposure, traffic,
    )  # fmt: skip


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
