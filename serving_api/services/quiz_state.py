"""A quiz's state, read from PostgreSQL in one round trip, and what follows from it (θ, score)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from psycopg import AsyncConnection

from irt_models.ability import RunningPosterior

STATE_SQL = """
SELECT s.user_id, s.status, s.mode, s.adaptive, s.exam_code, s.num_questions, s.num_pretest,
       s.pretest_positions, s.filters, s.quota, s.parameter_set_id, s.sh_rejected, s.started_at, s.expires_at,
       s.finished_at, s.theta, s.theta_se, s.raw_score, s.scaled_score, s.state_version,
       s.calibrated_short, s.notices,
       coalesce((SELECT json_agg(json_build_array(
                   i.id, i.question_id, i.question_version_id, i.version, i.topic_id, i.position,
                   i.is_pretest, i.marked, i.a, i.b, i.c, i.calibrated,
                   r.selected_label, r.is_correct, r.revision,
                   (extract(epoch FROM now() - i.served_at) * 1000)::bigint)
                 ORDER BY i.position)
          FROM quiz_items i LEFT JOIN user_responses r ON r.quiz_item_id = i.id
          WHERE i.quiz_id = s.id), '[]'::json)
FROM quiz_sessions s
WHERE s.id = %s AND s.tenant_id = %s
"""


@dataclass(slots=True, eq=False)  # an item is itself: `in` and `index` compare identity
class ServedItem:
    id: int
    question_id: int
    version_id: int
    version: int
    topic_id: int
    position: int
    is_pretest: bool
    marked: bool
    a: float
    b: float
    c: float
    calibrated: bool
    selected: str | None
    is_correct: bool | None
    revision: int | None
    # When it was served, in this process's wall-clock milliseconds (from the database's own
    # measure of the time since, so clocks of different hosts never meet).
    served_ms: float

    @property
    def answered(self) -> bool:
        return self.selected is not None


@dataclass(slots=True)
class QuizState:
    id: uuid.UUID
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    status: str
    mode: str
    adaptive: bool
    exam_code: str
    num_questions: int
    num_pretest: int
    pretest_positions: list[int]
    filters: dict
    quota: dict[str, int]
    parameter_set_id: int | None
    sh_rejected: list[int]
    started_at: datetime
    expires_at: datetime | None
    finished_at: datetime | None
    theta: float
    theta_se: float
    raw_score: int | None
    scaled_score: int | None
    state_version: int
    calibrated_short: int
    notices: list[str]
    items: list[ServedItem]
    ability_posterior: RunningPosterior | None = None
    # (weak reference to the live pool, items counted, mask of those items in it): kept with
    # the state so that each `next` adds the items served since (services.selection.served_mask).
    served_in_pool: tuple | None = None

    @property
    def is_linear_exam(self) -> bool:
        return self.mode == "exam" and not self.adaptive

    @property
    def expired(self) -> bool:
        return (
            self.status == "active"
            and self.expires_at is not None
            and datetime.now(UTC) >= self.expires_at
        )

    def item_at(self, position: int) -> ServedItem | None:
        if 1 <= position <= len(self.items):
            return self.items[position - 1]
        return None

    @property
    def current(self) -> ServedItem | None:
        """The last served item while it waits for its answer."""
        if self.items and not self.items[-1].answered:
            return self.items[-1]
        return None

    @property
    def answered_count(self) -> int:
        return sum(1 for i in self.items if i.answered)

    def posterior(self) -> RunningPosterior:
        """θ's posterior given the scored answers, kept with the state so that each answer adds
        one item instead of re-reading them all."""
        if self.ability_posterior is None:
            self.ability_posterior = self._posterior_of_answers()
        return self.ability_posterior

    def ability_after(
        self, item: ServedItem, correct: bool
    ) -> tuple[float, float, RunningPosterior]:
        """EAP θ and SE once `item` is answered `correct`, and the posterior to keep if that
        answer is stored."""
        if item.is_pretest:
            post = self.posterior()
        elif item.answered:  # a changed answer (linear exam): the pattern again, with the change
            post = self._posterior_of_answers(changed=item, correct=correct)
        else:
            post = self.posterior().add(correct, item.a, item.b, item.c)
        est = post.estimate()
        return est.theta, est.se, post

    def _posterior_of_answers(
        self, changed: ServedItem | None = None, correct: bool = False
    ) -> RunningPosterior:
        """From the stored scored answers (pretest items never count), `changed` answered
        `correct` instead."""
        scored = [i for i in self.items if not i.is_pretest and i.answered]
        return RunningPosterior().add(
            [correct if i is changed else bool(i.is_correct) for i in scored],
            [i.a for i in scored],
            [i.b for i in scored],
            [i.c for i in scored],
        )


async def load_state(
    conn: AsyncConnection, quiz_id: uuid.UUID, tenant_id: uuid.UUID
) -> QuizState | None:
    row = await (await conn.execute(STATE_SQL, (quiz_id, tenant_id))).fetchone()
    if row is None:
        return None
    now_ms = now_ms_local()
    items = [ServedItem(*r[:15], now_ms - r[15]) for r in row[22]]
    return QuizState(quiz_id, tenant_id, *row[:22], items)


def scaled_score(theta: float) -> int:
    """500 + 100·θ, clipped to 200–800."""
    return int(min(800, max(200, round(500 + 100 * theta))))


def now_ms_local() -> float:
    return time.time() * 1000.0


def utcnow() -> datetime:
    return datetime.now(UTC)
