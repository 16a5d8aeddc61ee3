"""Starting a quiz: resolve and validate filters and the blueprint quota, draw pretest slots."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
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

TOPICS_SQL = "SELECT id, name, path::text FROM topics WHERE tenant_id = %s"
SEEN_SQL = """
SELECT DISTINCT i.question_id FROM quiz_items i JOIN quiz_sessions s ON s.id = i.quiz_id
WHERE s.user_id = %s AND s.tenant_id = %s
"""
INCORRECT_SQL = """
SELECT question_id FROM (
  SELECT DISTINCT ON (question_id) question_id, is_correct FROM user_responses
  WHERE user_id = %s AND tenant_id = %s ORDER BY question_id, updated_at DESC
) last WHERE NOT is_correct
"""
CREATE_SQL = f"""
WITH ins AS (
  INSERT INTO quiz_sessions (id, tenant_id, user_id, mode, adaptive, exam_code, num_questions,
                             num_pretest, pretest_positions, filters, quota, parameter_set_id,
                             expires_at, calibrated_short, notices)
  VALUES (%(quiz)s, %(tenant)s, %(user)s, %(mode)s, %(adaptive)s, %(exam)s, %(n)s, %(n_pre)s,
          %(pre_pos)s, %(filters)s, %(quota)s, %(set_id)s, %(expires)s, %(short)s, %(notices)s)
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
        if not eligible.any():
            raise ApiError(
                422,
                f"no published question of {body.exam_code!r} matches these filters; widen them",
            )
        n = body.num_questions
        calibrated = eligible & pool.calibrated
        uncalibrated = int((eligible & ~pool.calibrated).sum()) if pool.has_parameter_set else 0
        n_pre = _pretest_count(n, rt.settings.pretest_share, uncalibrated)
        short = _calibrated_shortfall(pool, quota, calibrated, eligible, n, n_pre, topics)
        if n_pre and (short.total or short.by_topic):
            # The uncalibrated items are needed in scored positions: no pretest slots, so none
            # is spent unscored and quotas can count every one of them.
            n_pre = 0
            short = _calibrated_shortfall(pool, quota, calibrated, eligible, n, n_pre, topics)
        _check_quota(pool, quota, eligible, n, n_pre, topics)
        notices = short.notices(body.exam_code, pool.has_parameter_set)
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
                "short": short.total,
                "notices": Jsonb(notices),
                **event_params(event),
            },
        )
    metrics.QUIZZES_STARTED.labels(body.mode, str(body.adaptive).lower()).inc()
    return quiz_id


@dataclass(frozen=True)
class Shortfall:
    """Scored positions without a calibrated item to fill them, overall and per quota topic."""

    total: int
    calibrated: int
    scored_positions: int
    by_topic: dict[str, tuple[int, int]]  # topic name → (quota, calibrated eligible items)

    def notices(self, exam_code: str, has_set: bool) -> list[str]:
        if not has_set:
            return [
                f"{exam_code!r} has no calibrated parameters yet: every question is scored with "
                "default parameters (a = 1, b from its difficulty label, c = 1/options)"
            ]
        out = []
        if self.total:
            out.append(
                f"only {self.calibrated} calibrated questions of {exam_code!r} match this quiz "
                f"for its {self.scored_positions} scored positions: {self.total} will be new, "
                "not yet calibrated questions, scored with default parameters (a = 1, b from "
                "the difficulty label, c = 1/options)"
            )
        for name, (want, have) in self.by_topic.items():
            out.append(
                f"quota for topic {name!r} ({want}): only {have} calibrated questions match; "
                "the rest will be not yet calibrated questions scored with default parameters"
            )
        return out


def _calibrated_shortfall(
    pool: ItemPool,
    quota: dict[int, int],
    calibrated: np.ndarray,
    eligible: np.ndarray,
    n: int,
    n_pre: int,
    topics: TopicIndex,
) -> Shortfall:
    scored_positions = max(min(n, int(eligible.sum())) - n_pre, 0)
    have = int(calibrated.sum())
    by_topic = {}
    for tid, count in quota.items():
        in_topic = int((calibrated & pool.in_topics((tid,))).sum())
        if count > in_topic:
            by_topic[topics.name(tid)] = (count, in_topic)
    return Shortfall(max(scored_positions - have, 0), have, scored_positions, by_topic)


def _check_quota(
    pool: ItemPool,
    quota: dict[int, int],
    eligible: np.ndarray,
    n: int,
    n_pre: int,
    topics: TopicIndex,
) -> None:
    """A quota must fit the scored positions and the live items matching the filters
    (calibrated or not: uncalibrated ones fill scored positions when calibrated ones run out)."""
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
        available = int((eligible & pool.in_topics((tid,))).sum())
        if count > available:
            raise ApiError(
                422,
                f"quota for topic {topics.name(tid)!r} ({count}) exceeds the {available} eligible "
                "questions in it (live and matching this quiz)",
            )
