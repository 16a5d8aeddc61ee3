"""The adaptive traffic an exam code actually serves, read from the marts over a recent window.

Exposure control is fitted to this traffic (`orchestration.simulation.exposure_for_pair`), and the
realised exposure of the same window is checked against r_max. Both use one definition of
exposure, the one the marts give: the share of adaptive quizzes in which the item was served at
a scored (non-pretest) position.

The window is the last ``window_days`` days, starting no earlier than the first activation of a
parameter set for the exam code when enough adaptive quizzes ran since: before that the API
served cold-start defaults without pretest slots or Sympson-Hetter K, which is neither the
traffic to simulate nor exposure the K are answerable for.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text

# Realised exposure may exceed r_max by this much before the check warns: a few hundred adaptive
# quizzes measure an exposure rate of 0.25 to about ±0.03 (binomial SE √(0.25·0.75/200) = 0.03).
EXPOSURE_TOLERANCE = 0.03

# Fewer adaptive quizzes than this since the first set went live: use the whole window (the
# quiz lengths of a day of cold start say more than a handful of quizzes).
MIN_QUIZZES_SINCE_FIRST_SET = 30


@dataclass
class TrafficProfile:
    """Adaptive traffic of one (tenant, exam code) in [since, until)."""

    tenant_id: uuid.UUID
    exam_code: str
    since: datetime
    until: datetime
    window: str  # how `since` was chosen
    n_quizzes: int
    n_adaptive: int
    # Per adaptive quiz: answered items at scored and at pretest positions, and its quota
    # ({topic_id: count}, empty without one).
    scored_lengths: np.ndarray = field(repr=False)
    pretest_lengths: np.ndarray = field(repr=False)
    quiz_quotas: list[dict[int, int]] = field(default_factory=list, repr=False)
    # Adaptive quizzes with a blueprint quota, and the most common quotas ({topic_id: count}).
    n_with_quota: int = 0
    top_quotas: list[tuple[dict, int]] = field(default_factory=list)
    randomesque_k: int = 1
    latent_mean: float = 0.0
    latent_sd: float = 1.0

    @property
    def adaptive_share(self) -> float:
        return self.n_adaptive / self.n_quizzes if self.n_quizzes else 0.0

    @property
    def pretest_share(self) -> float:
        """Share of the answered positions of adaptive quizzes that were pretest slots."""
        total = int(self.scored_lengths.sum() + self.pretest_lengths.sum())
        return float(self.pretest_lengths.sum() / total) if total else 0.0

    @property
    def quota_share(self) -> float:
        return self.n_with_quota / self.n_adaptive if self.n_adaptive else 0.0

    def quota_topics(self) -> list[int]:
        """Every topic some quiz of the window had a quota on, sorted."""
        return sorted({t for q in self.quiz_quotas for t in q})

    def quota_matrix(self, topics: list[int]) -> np.ndarray:
        """Per adaptive quiz, its quota count on each of ``topics`` (−1: no quota there)."""
        out = np.full((len(self.quiz_quotas), len(topics)), -1, dtype=np.int64)
        col = {t: j for j, t in enumerate(topics)}
        for i, q in enumerate(self.quiz_quotas):
            for t, n in q.items():
                if t in col:
                    out[i, col[t]] = n
        return out

    def length_distribution(self) -> dict[int, int]:
        """Scored length → number of adaptive quizzes."""
        values, counts = np.unique(self.scored_lengths, return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts, strict=True)}

    def summary(self) -> dict:
        lengths = self.scored_lengths
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "window": self.window,
            "quizzes": self.n_quizzes,
            "adaptive_quizzes": self.n_adaptive,
            "adaptive_share": round(self.adaptive_share, 4),
            "pretest_share": round(self.pretest_share, 4),
            "scored_length_mean": round(float(lengths.mean()), 2) if lengths.size else None,
            "scored_length_min": int(lengths.min()) if lengths.size else None,
            "scored_length_max": int(lengths.max()) if lengths.size else None,
            "quota_share": round(self.quota_share, 4),
            "top_quotas": [{"quota": q, "quizzes": n} for q, n in self.top_quotas],
            "randomesque_k": self.randomesque_k,
            "latent_mean": round(self.latent_mean, 4),
            "latent_sd": round(self.latent_sd, 4),
        }


def api_randomesque_k() -> int:
    """The randomesque k the API runs with: its option `randomesque_k`, read from the same
    environment variable (serving_api.config.ApiOptions; orchestration may not import it)."""
    raw = os.environ.get("QBANK_API_RANDOMESQUE_K", "1")
    try:
        return max(1, int(raw))
    except ValueError:
        raise ValueError(f"QBANK_API_RANDOMESQUE_K must be an integer (got {raw!r})") from None


def _now(conn: Connection) -> datetime:
    return conn.execute(text("SELECT now()")).scalar_one()


def first_activation(engine: Engine, tenant_id: uuid.UUID, exam_code: str) -> datetime | None:
    """When a parameter set of the exam code first went live (None: never; cold start)."""
    with engine.connect() as c:
        return _first_activation(c, tenant_id, exam_code)


def _first_activation(conn: Connection, tenant_id: uuid.UUID, exam_code: str) -> datetime | None:
    return conn.execute(
        text(
            "SELECT min(activated_at) FROM item_parameter_sets "
            "WHERE tenant_id = :t AND exam_code = :e AND activated_at IS NOT NULL"
        ),
        {"t": tenant_id, "e": exam_code},
    ).scalar()


# Quotas come from the quiz_started staging table (the marts do not carry them).
_ADAPTIVE_QUIZZES = text(
    "WITH q AS (SELECT quiz_id, count(*) FILTER (WHERE NOT is_pretest) AS n_scored, "
    "count(*) FILTER (WHERE is_pretest) AS n_pretest "
    "FROM marts.fact_responses "
    "WHERE tenant_id = :t AND exam_code = :e AND adaptive AND ts >= :since AND ts < :until "
    "GROUP BY quiz_id) "
    "SELECT q.*, (SELECT s.quota::text FROM staging.stg_events__quiz_started s "
    "WHERE s.quiz_id = q.quiz_id ORDER BY s.load_id LIMIT 1) AS quota FROM q ORDER BY q.quiz_id"
)


def traffic_window(
    engine: Engine,
    tenant_id: uuid.UUID,
    exam_code: str,
    *,
    window_days: float = 14.0,
    now: datetime | None = None,
) -> tuple[datetime, datetime, str]:
    """[since, until) and why: the last ``window_days`` days, from the first parameter set's
    activation on when at least MIN_QUIZZES_SINCE_FIRST_SET adaptive quizzes ran since."""
    with engine.connect() as c:
        until = now or _now(c)
        since = until - timedelta(days=window_days)
        first = _first_activation(c, tenant_id, exam_code)
        if first is None or first <= since:
            return since, until, f"last {window_days:g} days"
        n = c.execute(
            text(
                "SELECT count(DISTINCT quiz_id) FROM marts.fact_responses WHERE tenant_id = :t "
                "AND exam_code = :e AND adaptive AND ts >= :since AND ts < :until"
            ),
            {"t": tenant_id, "e": exam_code, "since": first, "until": until},
        ).scalar_one()
    if n >= MIN_QUIZZES_SINCE_FIRST_SET:
        return first, until, f"since the first parameter set went live ({n} adaptive quizzes)"
    return since, until, f"last {window_days:g} days ({n} adaptive quizzes since the first set)"


def traffic_profile(
    engine: Engine,
    tenant_id: uuid.UUID,
    exam_code: str,
    *,
    window_days: float = 14.0,
    now: datetime | None = None,
    randomesque_k: int = 1,
    latent_mean: float = 0.0,
    latent_sd: float = 1.0,
    top: int = 5,
) -> TrafficProfile:
    """Quiz lengths (scored and pretest positions answered), adaptive share, quotas in use, the
    API's randomesque k and the calibration's latent N(mean, sd²), over `traffic_window`."""
    since, until, why = traffic_window(
        engine, tenant_id, exam_code, window_days=window_days, now=now
    )
    params = {"t": tenant_id, "e": exam_code, "since": since, "until": until}
    with engine.connect() as c:
        quizzes = pd.read_sql(_ADAPTIVE_QUIZZES, c, params=params)
        n_quizzes = c.execute(
            text(
                "SELECT count(DISTINCT quiz_id) FROM marts.fact_responses WHERE tenant_id = :t "
                "AND exam_code = :e AND ts >= :since AND ts < :until"
            ),
            params,
        ).scalar_one()
        quotas = c.execute(
            text(
                "SELECT quota::text AS quota, count(*) AS n FROM staging.stg_events__quiz_started "
                "WHERE tenant_id = :t AND exam_code = :e AND adaptive AND started_at >= :since "
                "AND started_at < :until AND quota IS NOT NULL AND quota::text NOT IN "
                "('{}', 'null') GROUP BY 1 ORDER BY 2 DESC, 1"
            ),
            params,
        ).all()
    quizzes = quizzes[quizzes["n_scored"] > 0]
    quiz_quotas = [
        {int(k): int(v) for k, v in json.loads(q).items()} if q not in (None, "null") else {}
        for q in quizzes["quota"]
    ]
    return TrafficProfile(
        tenant_id=tenant_id,
        exam_code=exam_code,
        since=since,
        until=until,
        window=why,
        n_quizzes=int(n_quizzes),
        n_adaptive=len(quizzes),
        scored_lengths=quizzes["n_scored"].to_numpy(dtype=np.int64),
        pretest_lengths=quizzes["n_pretest"].to_numpy(dtype=np.int64),
        quiz_quotas=quiz_quotas,
        n_with_quota=int(sum(r.n for r in quotas)),
        top_quotas=[
            ({int(k): int(v) for k, v in json.loads(r.quota).items()}, int(r.n))
            for r in quotas[:top]
        ],  # fmt: skip
        randomesque_k=randomesque_k,
        latent_mean=latent_mean,
        latent_sd=latent_sd,
    )


def realised_exposure(
    engine: Engine, tenant_id: uuid.UUID, exam_code: str, since: datetime, until: datetime
) -> tuple[pd.DataFrame, int]:
    """Per item version: adaptive quizzes in [since, until) that served it at a scored position,
    and that count over every adaptive quiz of the window (the exposure rate); and the number of
    adaptive quizzes. Sorted by exposure, highest first."""
    params = {"t": tenant_id, "e": exam_code, "since": since, "until": until}
    with engine.connect() as c:
        n = c.execute(
            text(
                "SELECT count(DISTINCT quiz_id) FROM marts.fact_responses WHERE tenant_id = :t "
                "AND exam_code = :e AND adaptive AND NOT is_pretest AND ts >= :since "
                "AND ts < :until"
            ),
            params,
        ).scalar_one()
        items = pd.read_sql(
            text(
                "SELECT question_version_id, count(DISTINCT quiz_id) AS quizzes "
                "FROM marts.fact_responses WHERE tenant_id = :t AND exam_code = :e AND adaptive "
                "AND NOT is_pretest AND ts >= :since AND ts < :until GROUP BY 1"
            ),
            c,
            params=params,
        )
    items["exposure"] = items["quizzes"] / n if n else 0.0
    items = items.sort_values(["exposure", "question_version_id"], ascending=[False, True])
    return items.reset_index(drop=True), int(n)


def live_set_exposure(
    engine: Engine, tenant_id: uuid.UUID, exam_code: str, set_id: int | None, until: datetime
) -> tuple[pd.DataFrame, int]:
    """Realised exposure since the live set ``set_id`` went live, with the K it gave each item
    (question_version_id, quizzes, exposure, k_live), and the number of adaptive quizzes."""
    empty = pd.DataFrame(columns=["question_version_id", "quizzes", "exposure", "k_live"])
    if set_id is None:
        return empty, 0
    with engine.connect() as c:
        since = c.execute(
            text("SELECT activated_at FROM item_parameter_sets WHERE id = :s"), {"s": set_id}
        ).scalar()
        k = pd.read_sql(
            text("SELECT question_version_id, k AS k_live FROM live_item_parameters "
                 "WHERE set_id = :s AND k IS NOT NULL"),
            c,
            params={"s": set_id},
        )  # fmt: skip
    if since is None:
        return empty, 0
    items, n = realised_exposure(engine, tenant_id, exam_code, since, until)
    return items.merge(k, on="question_version_id", how="left"), n


def quota_membership(
    engine: Engine, tenant_id: uuid.UUID, version_ids, topics: list[int]
) -> np.ndarray:
    """items × topics: True when the item version's topic is the quota topic or below it (a
    quota on a topic includes its subtopics, as the API counts it)."""
    ids = [int(v) for v in version_ids]
    out = np.zeros((len(ids), len(topics)), dtype=bool)
    if not ids or not topics:
        return out
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT v.id, qt.id FROM question_versions v "
                "JOIN topics it ON it.id = v.topic_id "
                "JOIN topics qt ON qt.tenant_id = :t AND it.path <@ qt.path "
                "WHERE v.id = ANY(:ids) AND qt.id = ANY(:topics)"
            ),
            {"t": tenant_id, "ids": ids, "topics": list(topics)},
        ).all()
    row = {v: i for i, v in enumerate(ids)}
    col = {t: j for j, t in enumerate(topics)}
    for v, t in rows:
        out[row[v], col[t]] = True
    return out


def realised_summary(items: pd.DataFrame, n_quizzes: int, r_max: float, window: str) -> dict:
    """What the `realised_exposure` check reports: quizzes, max and mean exposure, items above
    r_max + EXPOSURE_TOLERANCE, and the 10 most exposed items with a 95% Wilson interval."""
    limit = r_max + EXPOSURE_TOLERANCE
    worst = []
    for r in items.head(10).itertuples():
        lo, hi = wilson_interval(int(r.quizzes), n_quizzes)
        worst.append({"question_version_id": int(r.question_version_id),
                      "quizzes": int(r.quizzes), "exposure": round(float(r.exposure), 4),
                      "ci95": [round(lo, 4), round(hi, 4)]})  # fmt: skip
    return {
        "window": window,
        "adaptive_quizzes": n_quizzes,
        "items_served": len(items),
        "max_exposure": float(items["exposure"].max()) if len(items) else 0.0,
        "mean_exposure": float(items["exposure"].mean()) if len(items) else 0.0,
        "limit": limit,
        "n_over": int((items["exposure"] > limit).sum()),
        "worst": worst,
    }


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (Wilson 1927); (0, 1) when n = 0."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)
