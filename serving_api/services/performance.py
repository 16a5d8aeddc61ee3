"""`GET /v1/me/performance` in O(topics): a student's counters and the cohort's distribution.

The caller's answered/correct per topic come from `performance_counters`, which the delivery
statements keep with each scored answer (serving_api.services.scored, .delivery): a few rows,
always current. The percentile — mid-rank among the students of the caller's cohort with scored
answers in the topic: (peers below + half the ties) / those ranked — needs everyone's accuracy.

- A small group (cohort × exam key under `SMALL_GROUP_ROWS` counter rows, every test and most
  classes) is ranked on the spot from the counters: exact, a few milliseconds.
- A large one is ranked from `performance_distributions`: per topic and accuracy, the students at
  it, below it and in all, so each topic costs one index lookup. It is recomputed from the
  counters when a read finds it older than `refresh_s`, in the background (one refresh at a time
  per group across processes: an advisory lock); meanwhile reads use the one there is and say
  how old it is (`percentile_as_of`). An accuracy the stored distribution does not hold yet (the
  caller moved since) ranks between its neighbours, with the caller counted once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid

from psycopg import AsyncConnection

from serving_api.services.delivery import ConnectionSource
from serving_api.services.topic_paths import TopicPaths

log = logging.getLogger("qbank.performance")

SMALL_GROUP_ROWS = 20_000

# Which counters make a group: the caller's tenant and cohort, one exam code or all ('').
_GROUP = """
  FROM performance_counters c JOIN users u ON u.id = c.user_id
  WHERE c.tenant_id = %(tenant)s AND u.tenant_id = %(tenant)s AND u.cohort = %(cohort)s::text
    AND (%(exam)s::text IS NULL OR c.exam_code = %(exam)s::text)
"""

# Per topic (0 = overall) and accuracy: students at it, below it, and ranked in the topic.
# Accuracy is correct / answered in float8: IEEE division is correctly rounded, so two students
# tie exactly when their fractions are equal, as the old SQL's numeric averages did.
DISTRIBUTION_CTE = f"""
per_user AS (
  SELECT c.user_id, coalesce(c.topic_id, 0) AS topic_key,
         sum(c.answered) AS answered, sum(c.correct) AS correct
  {_GROUP}
  GROUP BY GROUPING SETS ((c.user_id, c.topic_id), (c.user_id))
), buckets AS (
  SELECT topic_key, correct::float8 / answered AS accuracy, count(*) AS users
  FROM per_user GROUP BY 1, 2
), dist AS (
  SELECT topic_key, accuracy, users,
         coalesce(sum(users) OVER (PARTITION BY topic_key ORDER BY accuracy
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS below,
         sum(users) OVER (PARTITION BY topic_key) AS total
  FROM buckets
)
"""

# The caller's own counters, per topic and overall (topic 0).
MINE_CTE = """
mine AS (
  SELECT coalesce(c.topic_id, 0) AS topic_key, sum(c.answered) AS answered,
         sum(c.correct) AS correct, sum(c.correct)::float8 / sum(c.answered) AS accuracy
  FROM performance_counters c
  WHERE c.user_id = %(user)s AND c.tenant_id = %(tenant)s
    AND (%(exam)s::text IS NULL OR c.exam_code = %(exam)s::text)
  GROUP BY GROUPING SETS ((c.topic_id), ())
  HAVING count(*) > 0
)
"""

# Ranks `mine` against a distribution `{dist}` (rows: topic_key, accuracy, users, below, total):
# the bucket at or under the caller's accuracy; the same mid-rank arithmetic (numeric) as before.
RANK_SELECT = """
SELECT m.topic_key, m.answered, m.correct, m.correct::numeric / m.answered AS accuracy,
       r.size, 100.0 * (r.below + 0.5 * r.ties) / r.size AS percentile
FROM mine m
LEFT JOIN LATERAL (
  SELECT d.accuracy, d.users, d.below, d.total FROM {dist} d
  WHERE d.topic_key = m.topic_key AND d.accuracy <= m.accuracy {key}
  ORDER BY d.accuracy DESC LIMIT 1
) at ON true
CROSS JOIN LATERAL (
  SELECT CASE WHEN at.accuracy = m.accuracy THEN at.below ELSE coalesce(at.below + at.users, 0) END
           AS below,
         CASE WHEN at.accuracy = m.accuracy THEN at.users ELSE 1 END AS ties,
         -- Only for an accuracy the distribution does not hold (it is older than the caller's
         -- last answer): the topic's total from its lowest bucket, by the same index.
         CASE WHEN at.accuracy = m.accuracy THEN at.total
              ELSE coalesce(at.total, (SELECT d.total FROM {dist} d
                                       WHERE d.topic_key = m.topic_key {key}
                                       ORDER BY d.accuracy LIMIT 1), 0) + 1 END AS size
) r
ORDER BY m.topic_key
"""

_STORED_KEY = "AND d.tenant_id = %(tenant)s AND d.cohort = %(cohort)s AND d.exam_key = %(exam_key)s"

# The caller's cohort and, when stored, its distribution's age and size: one round trip.
GROUP_SQL = """
SELECT u.cohort, g.refreshed_at, g.counter_rows, now() - g.refreshed_at
FROM users u
LEFT JOIN performance_distribution_groups g
  ON g.tenant_id = u.tenant_id AND g.cohort = u.cohort AND g.exam_key = %(exam_key)s
WHERE u.id = %(user)s AND u.tenant_id = %(tenant)s
"""

# Ranked on the spot from the counters; the last column counts the group's counter rows.
INLINE_SQL = (
    "WITH "
    + DISTRIBUTION_CTE
    + ", "
    + MINE_CTE
    + ", ranked AS ("
    + RANK_SELECT.format(dist="dist", key="")
    + f") SELECT ranked.*, (SELECT count(*) {_GROUP}), now() FROM ranked ORDER BY topic_key"
)

STORED_SQL = (
    "WITH " + MINE_CTE + RANK_SELECT.format(dist="performance_distributions", key=_STORED_KEY)
)

# One transaction; `pg_try_advisory_xact_lock` keeps one refresh of a group at a time.
REFRESH_LOCK_SQL = (
    "SELECT pg_try_advisory_xact_lock(hashtext('qbank performance ' || %(tenant)s::text "
    "|| ' ' || %(cohort)s || ' ' || %(exam_key)s))"
)
REFRESH_DELETE_SQL = """
DELETE FROM performance_distributions
WHERE tenant_id = %(tenant)s AND cohort = %(cohort)s AND exam_key = %(exam_key)s
"""
REFRESH_INSERT_SQL = (
    "INSERT INTO performance_distributions "
    "(tenant_id, cohort, exam_key, topic_key, accuracy, users, below, total) WITH "
    + DISTRIBUTION_CTE
    + " SELECT %(tenant)s::uuid, %(cohort)s::text, %(exam_key)s::text, topic_key, accuracy, users, "
    "below, total "
    "FROM dist"
)
REFRESH_GROUP_SQL = f"""
INSERT INTO performance_distribution_groups (tenant_id, cohort, exam_key, refreshed_at, counter_rows)
SELECT %(tenant)s::uuid, %(cohort)s::text, %(exam_key)s::text, now(), (SELECT count(*) {_GROUP})
ON CONFLICT (tenant_id, cohort, exam_key)
DO UPDATE SET refreshed_at = excluded.refreshed_at, counter_rows = excluded.counter_rows
"""


async def refresh(conn: AsyncConnection, tenant_id: uuid.UUID, cohort: str, exam: str | None):
    """Recomputes one group's distribution from the counters (one transaction); False when
    another session is refreshing it already."""
    params = {"tenant": tenant_id, "cohort": cohort, "exam": exam, "exam_key": exam or ""}
    async with conn.transaction():
        if not (await (await conn.execute(REFRESH_LOCK_SQL, params)).fetchone())[0]:
            return False
        await conn.execute(REFRESH_DELETE_SQL, params)
        await conn.execute(REFRESH_INSERT_SQL, params)
        await conn.execute(REFRESH_GROUP_SQL, params)
    return True


class Performance:
    """The read, and this process's background refreshes of large groups."""

    def __init__(self, pg: ConnectionSource, refresh_s: float = 60.0):
        self.pg = pg
        self.refresh_s = refresh_s
        self._refreshing: dict[tuple, asyncio.Task] = {}

    async def read(
        self,
        conn: AsyncConnection,
        topic_paths: TopicPaths,
        user_id: uuid.UUID,
        tenant_id: uuid.UUID,
        exam_code: str | None,
    ) -> dict:
        params = {
            "user": user_id,
            "tenant": tenant_id,
            "exam": exam_code,
            "exam_key": exam_code or "",
        }
        row = await (await conn.execute(GROUP_SQL, params)).fetchone()
        if row is None:
            return {"exam_code": exam_code, "cohort": None, "overall": None, "topics": []}
        cohort = params["cohort"] = row[0]
        group = None if row[1] is None else row[1:]
        if group is None or group[1] < SMALL_GROUP_ROWS:
            rows = await (await conn.execute(INLINE_SQL, params)).fetchall()
            as_of = rows[0][7] if rows else None
            if rows and rows[0][6] >= SMALL_GROUP_ROWS:  # grown large: store it for next time
                await refresh(conn, tenant_id, cohort, exam_code)
        else:
            as_of = group[0]
            if group[2] > dt.timedelta(seconds=self.refresh_s):
                self._refresh_later(tenant_id, cohort, exam_code)
            rows = await (await conn.execute(STORED_SQL, params)).fetchall()
        if not rows:
            return {"exam_code": exam_code, "cohort": None, "overall": None, "topics": []}
        names = await topic_paths.get_many(conn, [r[0] for r in rows if r[0] != 0])
        overall = None
        topics = []
        for topic_key, answered, correct, acc, size, pct, *_ in rows:
            entry = {
                "answered": int(answered),
                "correct": int(correct),
                "accuracy": float(acc),
                "cohort_size": int(size),
                "percentile": round(float(pct), 1),
            }
            if topic_key == 0:
                overall = entry
            else:
                name, path = names[topic_key]
                topics.append(
                    {"topic_id": topic_key, "topic_name": name, "topic_path": path, **entry}
                )
        return {
            "exam_code": exam_code,
            "cohort": cohort,
            "overall": overall,
            "topics": topics,
            "percentile_as_of": as_of,
        }

    def _refresh_later(self, tenant_id: uuid.UUID, cohort: str, exam: str | None) -> None:
        key = (tenant_id, cohort, exam)
        if key in self._refreshing:
            return

        async def run() -> None:
            try:
                async with self.pg.connection() as conn:
                    await refresh(conn, tenant_id, cohort, exam)
            except Exception:  # the next stale read tries again; the read itself succeeded
                log.exception("performance distribution refresh failed")
            finally:
                self._refreshing.pop(key, None)

        self._refreshing[key] = asyncio.get_running_loop().create_task(run())
