"""Starting a quiz: resolve and validate filters and the blueprint quota, draw pretest slots."""

from __future__ import annotations

import math
import uuid
from datetime import timedelta

import numpy as np
from psycopg.types.json import Jsonb

from ingestion.events import QuizStarted
from serving_api import metrics
from serving_api.errors import ApiError
from serving_api.runtime import Runtime
from serving_api.schemas.quizzes import QuizCreate
from serving_api.security import Principal
from serving_api.services.item_pool import ItemPool
from serving_api.services.outbox import event_params, outbox_from
from serving_api.services.quiz_state import utcnow
from serving_api.services.scored import SCORED_ANSWERS

TOPICS_SQL = "SELECT id, name, path::text FROM topics WHERE tenant_id = %s"
# Served items, answered or not, of any quiz: whether an item was seen says nothing about how
# it was answered, so a running exam's items count as seen too.
SEEN_SQL = """
SELECT DISTINCT i.question_id FROM quiz_items i JOIN quiz_sessions s ON s.id = i.quiz_id
WHERE s.user_id = %s AND s.tenant_id = %s
"""
# The last scored answer of each question was wrong (an active exam's answers are not used:
# serving_api.services.scored).
INCORRECT_SQL = f"""
SELECT question_id FROM (
  SELECT DISTINCT ON (question_id) question_id, is_correct FROM ({SCORED_ANSWERS}) a
  WHERE user_id = %s AND tenant_id = %s ORDER BY question_id, updated_at DESC
) last WHERE NOT is_correct
"""
CREATE_SQL = f"""
WITH ins AS (
  INSERT INTO quiz_sessions (id, tenant_id, user_id, mode, adaptive, exam_code, num_questions,
                             num_pretest, pretest_positions, filters, quota, parameter_set_id,
                             expires_at)
  VALUES (%(quiz)s, %(tenant)s, %(user)s, %(mode)s, %(adaptive)s, %(exam)s, %(n)s, %(n_pre)s,
          %(pre_pos)s, %(filters)s, %(quota)s, %(set_id)s, %(expires)s)
  RETURNING id, started_at
), ev AS ({outbox_from("ins")})
SELECT id, started_at FROM ins
"""


class TopicIndex:
    def __init__(self, rows):
        self.by_id = {r[0]: (r[1], r[2]) for r in rows}
        self.by_name: dict[str, list[int]] = {}
        for tid, name, _ in rows:
            self.by_name.setdefault(name.lower(), []).append(tid)

    def resolve(self, ref, what: str) -> int:
        if isinstance(ref, int) or (isinstance(ref, str) and ref.strip().isdigit()):
            tid = int(ref)
            if tid not in self.by_id:
                raise ApiError(422, f"{what}: topic id {tid} does not exist in your tenant")
            return tid
        ids = self.by_name.get(str(ref).strip().lower(), [])
        if not ids:
            raise ApiError(422, f"{what}: no topic named {ref!r} in your tenant")
        if len(ids) > 1:
            raise ApiError(
                422, f"{what}: topic name {ref!r} is ambiguous (ids {sorted(ids)}); use the id"
            )
        return ids[0]

    def name(self, tid: int) -> str:
        return self.by_id[tid][0]

    def is_below(self, child: int, ancestor: int) -> bool:
        return f"t{ancestor}" in self.by_id[child][1].split(".")


def _pretest_count(n: int, share: float, available: int) -> int:
    return max(0, min(math.floor(n * share), available, n - 1))


async def create_quiz(rt: Runtime, principal: Principal, body: QuizCreate) -> uuid.UUID:
    async with rt.pg.connection() as conn:
        pool = await rt.pools.get(principal.tenant_id, body.exam_code)
        if pool.size == 0:
            raise ApiError(
                422, f"exam code {body.exam_code!r} has no published questions in your tenant"
            )
        topics = TopicIndex(
            await (await conn.execute(TOPICS_SQL, (principal.tenant_id,))).fetchall()
        )
        topic_ids = sorted({topics.resolve(t, "topics") for t in body.topics})
        quota: dict[int, int] = {}
        for ref, count in body.quota.items():
            tid = topics.resolve(ref, "quota")
            if tid in quota:
                raise ApiError(422, f"quota names topic {topics.name(tid)!r} twice")
            quota[tid] = count
        for a in quota:
            for b in quota:
                if a != b and topics.is_below(a, b):
                    raise ApiError(
                        422,
                        f"quota topics must not overlap: {topics.name(a)!r} is inside "
                        f"{topics.name(b)!r}; give the quota on one of them",
                    )
        resolved: dict[str, list[int]] = {}
        eligible = pool.filter_mask(tuple(topic_ids), tuple(sorted(set(body.difficulty))))
        if body.only_unseen:
            seen = [
                r[0]
                for r in await (
                    await conn.execute(SEEN_SQL, (principal.user_id, principal.tenant_id))
                ).fetchall()
            ]
            resolved["exclude_question_ids"] = seen
            eligible = eligible & ~pool.mask_of(seen)
        if body.only_previously_incorrect:
            wrong = [
                r[0]
                for r in await (
                    await conn.execute(INCORRECT_SQL, (principal.user_id, principal.tenant_id))
                ).fetchall()
            ]
            resolved["include_question_ids"] = wrong
            eligible = eligible & pool.mask_of(wrong)
        scored = eligible & pool.calibrated if pool.has_parameter_set else eligible
        if not eligible.any():
            raise ApiError(
                422,
                f"no published question of {body.exam_code!r} matches these filters; widen them",
            )
        if not scored.any():
            raise ApiError(
                422,
                f"no calibrated question of {body.exam_code!r} matches these filters (only new, "
                "uncalibrated ones do); widen them",
            )
        n = body.num_questions
        uncalibrated = int((eligible & ~pool.calibrated).sum()) if pool.has_parameter_set else 0
        n_pre = _pretest_count(n, rt.settings.pretest_share, uncalibrated)
        _check_quota(pool, quota, scored, n, n_pre, topics)
        rng = np.random.default_rng()
        pre_pos = sorted(int(p) for p in rng.choice(np.arange(1, n + 1), n_pre, replace=False))

        user_filters = {
            "topic_ids": topic_ids,
            "difficulty": sorted(set(body.difficulty)),
            "only_unseen": body.only_unseen,
            "only_previously_incorrect": body.only_previously_incorrect,
        }
        quiz_id = uuid.uuid4()
        quota_json = {str(t): c for t, c in sorted(quota.items())}
        event = QuizStarted(
            tenant_id=principal.tenant_id,
            user_id=principal.user_id,
            quiz_id=quiz_id,
            mode=body.mode,
            adaptive=body.adaptive,
            exam_code=body.exam_code,
            num_questions=n,
            num_pretest=n_pre,
            filters=user_filters,
            quota=quota_json,
        )
        expires = (
            utcnow() + timedelta(minutes=rt.settings.exam_ttl_minutes)
            if body.mode == "exam"
            else None
        )
        await conn.execute(
            CREATE_SQL,
            {
                "quiz": quiz_id,
                "tenant": principal.tenant_id,
                "user": principal.user_id,
                "mode": body.mode,
                "adaptive": body.adaptive,
                "exam": body.exam_code,
                "n": n,
                "n_pre": n_pre,
                "pre_pos": Jsonb(pre_pos),
                "filters": Jsonb(user_filters | ({"resolved": resolved} if resolved else {})),
                "quota": Jsonb(quota_json),
                "set_id": pool.parameter_set_id,
                "expires": expires,
                **event_params(event),
            },
        )
    metrics.QUIZZES_STARTED.labels(body.mode, str(body.adaptive).lower()).inc()
    return quiz_id


def _check_quota(
    pool: ItemPool,
    quota: dict[int, int],
    scored: np.ndarray,
    n: int,
    n_pre: int,
    topics: TopicIndex,
) -> None:
    if not quota:
        return
    total = sum(quota.values())
    if total > n - n_pre:
        extra = f" ({n} questions − {n_pre} pretest)" if n_pre else ""
        raise ApiError(
            422,
            f"the blueprint quota totals {total} but the quiz has {n - n_pre} scored positions{extra}",
        )
    for tid, count in quota.items():
        available = int((scored & pool.in_topics((tid,))).sum())
        if count > available:
            raise ApiError(
                422,
                f"quota for topic {topics.name(tid)!r} ({count}) exceeds the {available} eligible "
                "questions in it",
            )
