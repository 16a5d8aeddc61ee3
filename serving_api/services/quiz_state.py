"""A quiz's state, read from PostgreSQL in one round trip, and what follows from it (θ, score)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from psycopg import AsyncConnection

from irt_models.ability import eap

STATE_SQL = """
SELECT s.user_id, s.status, s.mode, s.adaptive, s.exam_code, s.num_questions, s.num_pretest,
       s.pretest_positions, s.filters, s.quota, s.parameter_set_id, s.sh_rejected, s.started_at, s.expires_at,
       s.finished_at, s.theta, s.theta_se, s.raw_score, s.scaled_score, s.state_version,
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
    items: list[ServedItem]

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

    def ability(self, extra: tuple[ServedItem, bool] | None = None) -> tuple[float, float]:
        """EAP θ and SE from the scored answers (pretest items never count)."""
        scored = [i for i in self.items if not i.is_pretest and i.answered]
        correct = [bool(i.is_correct) for i in scored]
        if extra is not None:
            item, ok = extra
            if not item.is_pretest:
                if item in scored:
                    correct[scored.index(item)] = ok
                else:
                    scored.append(item)
                    correct.append(ok)
        if not scored:
            return 0.0, 1.0
        est = eap(
            np.array(correct, dtype=bool),
            np.array([i.a for i in scored]),
            np.array([i.b for i in scored]),
            np.array([i.c for i in scored]),
        )
        return est.theta, est.se


async def load_state(
    conn: AsyncConnection, quiz_id: uuid.UUID, tenant_id: uuid.UUID
) -> QuizState | None:
    row = await (await conn.execute(STATE_SQL, (quiz_id, tenant_id))).fetchone()
    if row is None:
        return None
    now_ms = now_ms_local()
    items = [ServedItem(*r[:15], now_ms - r[15]) for r in row[20]]
    return QuizState(quiz_id, tenant_id, *row[:20], items)


def scaled_score(theta: float) -> int:
    """500 + 100·θ, clipped to 200–800."""
    return int(min(800, max(200, round(500 + 100 * theta))))


def now_ms_local() -> float:
    return time.time() * 1000.0


def utcnow() -> datetime:
    return datetime.now(UTC)
