"""The live item pool of one (tenant, exam code), held in process memory.

A pool is the published versions of the exam code with their 3PL parameters: the live ones
(the view `live_item_parameters`: the active set's row of the version, or of the earlier version
a minor edit carries over) when there are, else the cold-start defaults (a = 1, b from the
difficulty label, c = 1 / number of options). It is loaded on first use and dropped when a publication
changes or a parameter set is activated (both announced by PostgreSQL NOTIFY, see
`serving_api.services.notify`), so a new set is used without a restart.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from psycopg_pool import AsyncConnectionPool

from serving_api.metrics import POOL_LOADS

COLD_START_B = {"easy": -1.0, "medium": 0.0, "hard": 1.0}

# Every published version, calibrated or not (LEFT JOIN): the API must serve uncalibrated items
# too — in pretest slots, on cold start, and in scored positions when too few calibrated items
# match a student's filters — while calibration reads only what has parameters (an INNER JOIN
# on the same view).
_POOL_SQL = """
SELECT p.question_id, v.id, v.version, v.topic_id, t.path::text, v.difficulty_label,
       (SELECT count(*) FROM question_options o WHERE o.question_version_id = v.id),
       lp.a, lp.b, lp.c, lp.k
FROM question_publications p
JOIN question_versions v ON v.id = p.question_version_id
JOIN topics t ON t.id = v.topic_id
LEFT JOIN live_item_parameters lp
  ON lp.tenant_id = p.tenant_id AND lp.exam_code = p.exam_code AND lp.question_id = p.question_id
 AND lp.set_id = %(set_id)s
WHERE p.tenant_id = %(tenant)s AND p.exam_code = %(exam)s
ORDER BY p.question_id
"""
_ACTIVE_SET_SQL = """
SELECT id FROM item_parameter_sets
WHERE tenant_id = %(tenant)s AND exam_code = %(exam)s AND status = 'active'
"""


@dataclass(eq=False)
class ExamPool:
    """Arrays over the live items of one exam code (row i is one published question)."""

    tenant_id: uuid.UUID
    exam_code: str
    generation: int
    parameter_set_id: int | None
    question_ids: np.ndarray
    version_ids: np.ndarray
    versions: np.ndarray
    topic_ids: np.ndarray
    topic_labels: list[frozenset[str]]  # ltree labels of each item's topic path ("t12", ...)
    difficulty: np.ndarray
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    k: np.ndarray
    calibrated: np.ndarray
    loaded_at: float = field(default_factory=time.monotonic)
    _derived: dict[Any, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.index = {int(q): i for i, q in enumerate(self.question_ids)}

    @property
    def size(self) -> int:
        return len(self.question_ids)

    @property
    def has_parameter_set(self) -> bool:
        return self.parameter_set_id is not None

    def derived(self, key: Any, build) -> Any:
        """A value computed once per pool (masks, membership matrices, selection pools)."""
        try:
            return self._derived[key]
        except KeyError:
            if len(self._derived) > 512:
                self._derived.clear()
            value = self._derived[key] = build()
            return value

    def in_topics(self, topic_ids: tuple[int, ...]) -> np.ndarray:
        """Items whose topic is one of `topic_ids` or below one (a topic includes its subtopics)."""

        def build() -> np.ndarray:
            labels = {f"t{t}" for t in topic_ids}
            return np.fromiter(
                (not lab.isdisjoint(labels) for lab in self.topic_labels), bool, self.size
            )

        return self.derived(("topics", topic_ids), build)

    def membership(self, quota_topics: tuple[int, ...]) -> np.ndarray:
        """Boolean items × quota-topics matrix (column j: item is in topic j or below)."""

        def build() -> np.ndarray:
            m = np.zeros((self.size, len(quota_topics)), dtype=bool)
            for j, t in enumerate(quota_topics):
                m[:, j] = self.in_topics((t,))
            return m

        return self.derived(("membership", quota_topics), build)

    def rows_of(self, question_ids) -> list[int]:
        """The rows of these questions; ids no longer in the pool (retired) are left out."""
        get = self.index.get
        return [i for q in question_ids if (i := get(int(q))) is not None]

    def mask_of(self, question_ids) -> np.ndarray:
        m = np.zeros(self.size, dtype=bool)
        m[self.rows_of(question_ids)] = True
        return m

    def filter_mask(self, topic_ids: tuple[int, ...], difficulty: tuple[str, ...]) -> np.ndarray:
        def build() -> np.ndarray:
            m = np.ones(self.size, dtype=bool)
            if topic_ids:
                m &= self.in_topics(topic_ids)
            if difficulty:
                m &= np.isin(self.difficulty, list(difficulty))
            return m

        return self.derived(("filter", topic_ids, difficulty), build)


def build_pool(
    tenant_id: uuid.UUID, exam_code: str, generation: int, set_id: int | None, rows: list[tuple]
) -> ExamPool:
    n = len(rows)
    a = np.empty(n)
    b = np.empty(n)
    c = np.empty(n)
    k = np.ones(n)
    calibrated = np.zeros(n, dtype=bool)
    for i, (_q, _v, _ver, _t, _path, label, n_opt, pa, pb, pc, pk) in enumerate(rows):
        if pa is not None:
            a[i], b[i], c[i], k[i] = pa, pb, pc, pk
            calibrated[i] = True
        else:
            a[i], b[i], c[i] = 1.0, COLD_START_B.get(label, 0.0), 1.0 / max(int(n_opt), 2)
    return ExamPool(
        tenant_id=tenant_id,
        exam_code=exam_code,
        generation=generation,
        parameter_set_id=set_id,
        question_ids=np.array([r[0] for r in rows], dtype=np.int64),
        version_ids=np.array([r[1] for r in rows], dtype=np.int64),
        versions=np.array([r[2] for r in rows], dtype=np.int64),
        topic_ids=np.array([r[3] for r in rows], dtype=np.int64),
        topic_labels=[frozenset(r[4].split(".")) for r in rows],
        difficulty=np.array([r[5] for r in rows], dtype=object),
        a=a,
        b=b,
        c=c,
        k=k,
        calibrated=calibrated,
    )


class ExamPoolCache:
    """Pools by (tenant, exam code): loaded once, single-flight, invalidated by NOTIFY."""

    def __init__(self, pg: AsyncConnectionPool, max_age_s: float = 300.0):
        self._pg = pg
        self._max_age = max_age_s
        self._pools: dict[tuple[uuid.UUID, str], ExamPool] = {}
        self._locks: dict[tuple[uuid.UUID, str], asyncio.Lock] = {}
        self._epoch: dict[tuple[uuid.UUID, str], int] = {}
        self._generation = 0

    async def get(self, tenant_id: uuid.UUID, exam_code: str) -> ExamPool:
        key = (tenant_id, exam_code)
        pool = self._pools.get(key)
        if pool is not None and time.monotonic() - pool.loaded_at < self._max_age:
            return pool
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            pool = self._pools.get(key)
            if pool is not None and time.monotonic() - pool.loaded_at < self._max_age:
                return pool
            while True:
                epoch = self._epoch.get(key, 0)
                pool = await self._load(tenant_id, exam_code, "stale" if pool else "first_use")
                if self._epoch.get(key, 0) == epoch:  # no invalidation raced the load
                    self._pools[key] = pool
                    return pool

    async def _load(self, tenant_id: uuid.UUID, exam_code: str, reason: str) -> ExamPool:
        params = {"tenant": tenant_id, "exam": exam_code}
        async with self._pg.connection() as conn:
            row = await (await conn.execute(_ACTIVE_SET_SQL, params)).fetchone()
            params["set_id"] = row[0] if row else None
            rows = await (await conn.execute(_POOL_SQL, params)).fetchall()
        self._generation += 1
        POOL_LOADS.labels(reason).inc()
        return build_pool(tenant_id, exam_code, self._generation, params["set_id"], rows)

    def invalidate(self, tenant_id: uuid.UUID | None = None, exam_code: str | None = None) -> None:
        """Drop the pools of one exam code, of one tenant, or all of them."""
        for key in list(self._pools) + list(self._locks):
            t, e = key
            if (tenant_id is None or t == tenant_id) and (exam_code is None or e == exam_code):
                self._pools.pop(key, None)
                self._epoch[key] = self._epoch.get(key, 0) + 1
