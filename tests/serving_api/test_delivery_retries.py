"""Delivery's retry engine without any service: which state a step works from, when it starts
again on a fresh read, what goes back to the process's cache, and when it gives up. The
collaborators are small fakes of our own classes (a connection source, a state reader); the
cache is the real QuizStateCache."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest

from serving_api import metrics
from serving_api.errors import ApiError
from serving_api.security import Principal
from serving_api.services.delivery import Delivery, StaleState
from serving_api.services.quiz_cache import QuizStateCache
from serving_api.services.quiz_state import QuizState

TENANT = uuid.uuid4()
STUDENT = Principal(uuid.uuid4(), TENANT, frozenset({"student"}), 0)


def quiz_state(quiz_id: uuid.UUID, version: int, user_id: uuid.UUID = STUDENT.user_id) -> QuizState:
    return QuizState(
        id=quiz_id, tenant_id=TENANT, user_id=user_id, status="active", mode="tutor",
        adaptive=True, exam_code="X", num_questions=5, num_pretest=0, pretest_positions=[],
        filters={}, quota={}, parameter_set_id=None, sh_rejected=[],
        started_at=datetime.now(UTC), expires_at=None, finished_at=None, theta=0.0,
        theta_se=1.0, raw_score=None, scaled_score=None, state_version=version,
        calibrated_short=0, notices=[], items=[],
    )  # fmt: skip


class FakeConnections:
    """Stands in for the API's GatedConnectionPool: hands out one token connection."""

    def __init__(self) -> None:
        self.opened = 0

    @asynccontextmanager
    async def connection(self):
        self.opened += 1
        yield object()


class StoredQuizzes:
    """Stands in for quiz_state.load_state: each read returns the quiz at its stored version."""

    def __init__(self, owner: uuid.UUID = STUDENT.user_id) -> None:
        self.version = 7
        self.owner = owner
        self.reads = 0

    async def __call__(self, conn, quiz_id: uuid.UUID, tenant_id: uuid.UUID) -> QuizState | None:
        self.reads += 1
        return quiz_state(quiz_id, self.version, self.owner) if tenant_id == TENANT else None


def delivery(states: QuizStateCache, stored: StoredQuizzes) -> Delivery:
    # Steps given to _run here use none of the content, pool or exposure collaborators.
    return Delivery(FakeConnections(), states, None, None, None, read_state=stored)  # type: ignore[arg-type]


def run(d: Delivery, quiz_id: uuid.UUID, step, principal: Principal = STUDENT):
    return asyncio.run(d._run(principal, quiz_id, step))


def stale_count() -> float:
    return metrics.QUIZ_STATE_STALE._value.get()


def test_an_outdated_copy_is_dropped_and_the_step_runs_again_on_a_fresh_read() -> None:
    quiz = uuid.uuid4()
    states, stored = QuizStateCache(), StoredQuizzes()
    states.give(quiz_state(quiz, version=3))  # another process has written since
    seen = []

    async def step(conn, st, cached):
        seen.append((st.state_version, cached))
        if st.state_version != stored.version:
            raise StaleState
        return "done"

    before = stale_count()
    assert run(delivery(states, stored), quiz, step) == "done"
    assert seen == [(3, True), (7, False)]
    assert stored.reads == 1 and stale_count() == before + 1
    kept = states.take(quiz, TENANT, STUDENT.user_id)
    assert kept is not None and kept.state_version == 7  # the fresh state serves the next request


def test_a_current_copy_costs_no_read() -> None:
    quiz = uuid.uuid4()
    states, stored = QuizStateCache(), StoredQuizzes()
    states.give(quiz_state(quiz, version=7))

    async def step(conn, st, cached):
        return cached

    assert run(delivery(states, stored), quiz, step) is True
    assert stored.reads == 0


def test_errors_are_decided_on_a_fresh_read_and_the_state_goes_back() -> None:
    quiz = uuid.uuid4()
    states, stored = QuizStateCache(), StoredQuizzes()
    states.give(quiz_state(quiz, version=7))
    calls = []

    async def step(conn, st, cached):
        calls.append(cached)
        raise ApiError(409, "already answered")

    with pytest.raises(ApiError) as err:
        run(delivery(states, stored), quiz, step)
    assert err.value.status_code == 409
    assert calls == [True, False] and stored.reads == 1
    assert states.take(quiz, TENANT, STUDENT.user_id) is not None


def test_gives_up_with_a_409_when_other_writers_keep_winning() -> None:
    quiz = uuid.uuid4()
    states, stored = QuizStateCache(), StoredQuizzes()

    async def step(conn, st, cached):
        stored.version += 1  # someone else wrote in between, every time
        raise StaleState

    with pytest.raises(ApiError) as err:
        run(delivery(states, stored), quiz, step)
    assert err.value.status_code == 409 and "try again" in str(err.value.detail)
    assert stored.reads == Delivery.ATTEMPTS
    assert states.take(quiz, TENANT, STUDENT.user_id) is None  # nothing outdated is kept


@pytest.mark.parametrize("whose", ["another student", "another tenant"])
def test_a_quiz_not_the_callers_is_not_found_and_never_cached(whose: str) -> None:
    quiz = uuid.uuid4()
    stored = StoredQuizzes(owner=uuid.uuid4() if whose == "another student" else STUDENT.user_id)
    caller = (
        STUDENT
        if whose == "another student"
        else Principal(STUDENT.user_id, uuid.uuid4(), STUDENT.roles, 0)
    )
    states = QuizStateCache()

    async def step(conn, st, cached):  # pragma: no cover - must not run
        raise AssertionError("the step ran on someone else's quiz")

    with pytest.raises(ApiError) as err:
        run(delivery(states, stored), quiz, step, caller)
    assert err.value.status_code == 404
    assert len(states) == 0
