"""Quiz delivery for students: start, next item, answer, mark, finish, report."""

from __future__ import annotations

import uuid

import orjson
from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from serving_api.deps import STUDENT, DeliveryDep, get_runtime, require_roles
from serving_api.errors import ApiError
from serving_api.runtime import Runtime
from serving_api.schemas.quizzes import (
    AnswerIn,
    AnswerOut,
    ItemsOut,
    MarkIn,
    NextOut,
    QuizCreate,
    QuizOut,
)
from serving_api.security import Principal
from serving_api.services import quiz_setup, reports
from serving_api.services.delivery import Delivery
from serving_api.services.quiz_state import load_state

router = APIRouter(prefix="/quizzes", tags=["quizzes"])
STUDENT_OR_ADMIN = require_roles("student", "admin")
Position = Path(ge=1, le=120, description="1-based position in the quiz")


def _json(data, status: int = 200) -> Response:
    # The hot paths skip response-model validation: the dicts are built to the documented shape.
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


@router.post("", response_model=QuizOut, status_code=201)
async def start_quiz(
    body: QuizCreate,
    principal: Principal = Depends(STUDENT),
    rt: Runtime = Depends(get_runtime),
) -> Response:
    """Start a quiz. Quota keys are topic ids or names; an unsatisfiable quota is a 422."""
    quiz_id = await quiz_setup.create_quiz(rt, principal, body)
    async with rt.pg.connection() as conn:
        st = await load_state(conn, quiz_id, principal.tenant_id)
    summary = reports.quiz_summary(st)
    rt.quiz_states.give(st)  # the first `next` starts from it (serving_api.services.quiz_cache)
    return _json(summary, 201)


@router.get("", response_model=list[QuizOut])
async def my_quizzes(
    delivery: DeliveryDep,
    principal: Principal = Depends(STUDENT),
    rt: Runtime = Depends(get_runtime),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> Response:
    """The caller's quizzes, newest first (their history)."""
    await delivery.seal_own_expired(principal)  # an expired exam is never shown as active
    async with rt.pg.connection() as conn:
        rows = await reports.history(conn, principal.user_id, principal.tenant_id, limit, offset)
    return _json(rows)


async def _state_for_reader(delivery: Delivery, principal: Principal, quiz_id: uuid.UUID):
    # Admins read the quizzes of their tenant; an expired exam is sealed before anyone reads it.
    return await delivery.read(principal, quiz_id, admin="admin" in principal.roles)


@router.get("/{quiz_id}", response_model=QuizOut)
async def get_quiz(
    delivery: DeliveryDep,
    quiz_id: uuid.UUID,
    principal: Principal = Depends(STUDENT_OR_ADMIN),
) -> Response:
    """A quiz's status and progress (its owner, or an admin of the tenant)."""
    return _json(reports.quiz_summary(await _state_for_reader(delivery, principal, quiz_id)))


@router.get("/{quiz_id}/next", response_model=NextOut)
async def next_item(
    delivery: DeliveryDep,
    quiz_id: uuid.UUID,
    principal: Principal = Depends(STUDENT),
    skip: bool = Query(
        False,
        description="linear exams only: leave the item being served unanswered (it stays "
        "answerable by position until finish) and serve the next one",
    ),
) -> Response:
    """The item to answer now. Calling again before answering returns the same item (unless
    `skip`, in a linear exam); once all positions are served the status is `complete` (then
    finish); when nothing eligible is left the quiz ends as `pool_exhausted`."""
    return _json(await delivery.next_item(principal, quiz_id, skip))


@router.get("/{quiz_id}/items", response_model=ItemsOut)
async def quiz_items(
    delivery: DeliveryDep,
    quiz_id: uuid.UUID,
    principal: Principal = Depends(STUDENT),
) -> Response:
    """Every served position of the caller's quiz (a navigator): topic, answered, marked and
    the choice made; `correct` only once the answers are revealable (tutor mode, or the exam
    sealed), never while an exam is active."""
    return _json(await delivery.items(principal, quiz_id))


@router.get("/{quiz_id}/items/{position}", response_model=NextOut)
async def quiz_item(
    delivery: DeliveryDep,
    quiz_id: uuid.UUID,
    position: int = Position,
    principal: Principal = Depends(STUDENT),
) -> Response:
    """A served position, as `next` shows it (stem, options, the choice made, marked); no key.
    In a linear exam, answer it with `POST .../answers {"selected", "position"}`."""
    return _json(await delivery.item_at(principal, quiz_id, position))


@router.post("/{quiz_id}/answers", response_model=AnswerOut, response_model_exclude_none=True)
async def answer(
    delivery: DeliveryDep,
    quiz_id: uuid.UUID,
    body: AnswerIn,
    principal: Principal = Depends(STUDENT),
) -> Response:
    """Answer the item being served, or in a linear exam any served `position` (answered or
    not: a new answer replaces the earlier one until finish). Adaptive and tutor quizzes answer
    in order and answers are final. Tutor mode returns the correctness, key, rationale,
    calibrated b and new θ; exam mode only acknowledges."""
    out = await delivery.answer(
        principal, quiz_id, body.selected, body.time_taken_ms, body.position
    )
    return _json(out)


@router.post("/{quiz_id}/items/{position}/mark")
async def mark_item(
    delivery: DeliveryDep,
    quiz_id: uuid.UUID,
    body: MarkIn,
    position: int = Position,
    principal: Principal = Depends(STUDENT),
) -> Response:
    """Mark (or unmark) a served item for review (a bookmark; in a linear exam every served
    item can be revisited and changed until finish, marked or not). Marking the item being
    served in a linear exam also lets `next` move on from it, as `skip` does."""
    return _json(await delivery.mark(principal, quiz_id, position, body.marked))


@router.post("/{quiz_id}/finish")
async def finish(
    delivery: DeliveryDep,
    quiz_id: uuid.UUID,
    principal: Principal = Depends(STUDENT),
    rt: Runtime = Depends(get_runtime),
) -> Response:
    """Seal the quiz and return the report (calling it again returns the same report)."""
    st = await delivery.finish(principal, quiz_id)
    async with rt.pg.connection() as conn:
        return _json(await reports.quiz_report(conn, rt.contents, st))


@router.get("/{quiz_id}/report")
async def report(
    delivery: DeliveryDep,
    quiz_id: uuid.UUID,
    principal: Principal = Depends(STUDENT_OR_ADMIN),
    rt: Runtime = Depends(get_runtime),
) -> Response:
    """The report of a finished quiz: raw, θ, SE, scaled score, per topic and the full review."""
    st = await _state_for_reader(delivery, principal, quiz_id)
    if st.status == "active":
        raise ApiError(409, "the quiz is still active: finish it first (POST .../finish)")
    async with rt.pg.connection() as conn:
        return _json(await reports.quiz_report(conn, rt.contents, st))
