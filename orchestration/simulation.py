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
    membership: np.ndarray | None = None,
) -> PairExposure:
    """K_i by the Sympson-Hetter iterative simulation over the pair's calibrated items, for the
    traffic of ``profile``: adaptive quizzes of the observed scored lengths (pretest positions
    do not use calibrated items, so they are not simulated), the API's randomesque k, simulees
    from the calibration's latent N(μ, σ²), each simulated quiz with the quota its observed
    quiz had (``membership``: calibrated items × ``profile.quota_topics()``, e.g. from
    `orchestration.traffic.quota_membership`). Without observed adaptive quizzes (a new exam
    code) the quizzes are ``test_length`` long and ``randomesque_k`` applies."""
    cal = pair.calibrated
    if cal.empty:
        return PairExposure(
            pair.key, r_max, 0, pd.DataFrame(columns=["question_version_id", "k"]), []
        )
    mean, sd = float(pair.latent_mean), float(pair.latent_sd)
    quotas = None
    if profile is not None and profile.n_adaptive:
        lengths = np.minimum(profile.scored_lengths, len(cal))
        k_rand = profile.randomesque_k
        traffic = profile.summary()
        topics = profile.quota_topics()
        if topics and membership is not None and membership.shape == (len(cal), len(topics)):
            quotas = profile.quota_matrix(topics)
            # a quota that the calibrated items cannot fill is left out (the API would have
            # refused it for scored positions); an abandoned quiz keeps its planned length
            cap = membership.sum(axis=0)
            quotas[(quotas > cap[None, :])] = -1
            need = np.where(quotas > 0, quotas, 0).sum(axis=1)
            lengths = np.minimum(np.maximum(lengths, need), len(cal))
            quotas[need > lengths] = -1
            traffic["quotas_simulated"] = int((quotas > 0).any(axis=1).sum())
        elif topics:
            traffic["quotas_simulated"] = 0
    else:
        lengths = np.array([max(1, min(test_length, len(cal)))])
        k_rand = randomesque_k
        traffic = {"adaptive_quizzes": 0, "scored_length": int(lengths[0]),
                   "randomesque_k": k_rand, "latent_mean": mean, "latent_sd": sd,
                   "window": "no adaptive quizzes observed: fixed length"}  # fmt: skip
    pool = ItemPool.build(
        cal["a"], cal["b"], cal["c"], None, membership if quotas is not None else None
    )
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
        test_quotas=quotas,
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


# The simulation is a model of the traffic; the marts hold the traffic itself. Measured on the
# season: the final K's simulated maximum exposure was 0.256–0.276, the next day's realised
# 0.29–0.35 (300 adaptive quizzes: ±0.05), above r_max night after night. Where the live set's K
# were in force over enough adaptive quizzes, an item's realised exposure is P(S)·K_live, so the
# live P(S) is realised / K_live and Sympson-Hetter's own update, K = r_max / P(S), can use it.
LIVE_MIN_QUIZZES = 100


def correct_with_live_exposure(
    exposure: PairExposure, live: pd.DataFrame, n_quizzes: int
) -> tuple[PairExposure, int]:
    """K ← min(K, K_live · r_max / realised) for items realised above r_max under the live set.

    ``live``: question_version_id, exposure (realised share of the ``n_quizzes`` adaptive
    quizzes since the live set went live), k_live (the K that set gave it). Only lowers K, and
    only with at least LIVE_MIN_QUIZZES quizzes; returns the corrected exposure and how many
    items it lowered."""
    if n_quizzes < LIVE_MIN_QUIZZES or exposure.items.empty or live.empty:
        return exposure, 0
    items = exposure.items.merge(
        live[["question_version_id", "exposure", "k_live"]].rename(
            columns={"exposure": "realised"}
        ),
        on="question_version_id",
        how="left",
    )
    over = (items["realised"] > exposure.r_max) & items["k_live"].notna()
    live_k = items["k_live"] * exposure.r_max / items["realised"]
    lowered = over & (live_k < items["k"])
    items.loc[lowered, "k"] = live_k[lowered]
    items = items.drop(columns=["k_live"])
    out = PairExposure(
        exposure.key, exposure.r_max, exposure.test_length, items,
        exposure.max_exposure_by_iteration, exposure.final_max_exposure,
        exposure.traffic | {"live_corrected_items": int(lowered.sum()),
                            "live_quizzes": int(n_quizzes)},
    )  # fmt: skip
    return out, int(lowered.sum())


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
