"""Authoring: questions, versions, the review workflow, publication, bulk import."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from qbank.models import Question
from serving_api.deps import AUTHOR, PUBLISHER, STAFF, get_session
from serving_api.errors import ApiError
from serving_api.schemas.questions import (
    CommentIn,
    ImportLine,
    ImportLineResult,
    ImportReport,
    PublishIn,
    QuestionContent,
    QuestionCreate,
    QuestionEdit,
    QuestionOut,
    QuestionSummary,
    ReturnIn,
)
from serving_api.security import Principal
from serving_api.services import authoring

router = APIRouter(prefix="/v1/questions", tags=["authoring"])
MAX_IMPORT_LINES = 5_000


async def _out(session: AsyncSession, principal: Principal, question_id: int) -> QuestionOut:
    q = await authoring.load_question(session, principal, question_id)
    return await authoring.question_out(session, q)


@router.post("", response_model=QuestionOut, status_code=201)
async def create_question(
    body: QuestionCreate,
    principal: Principal = Depends(AUTHOR),
    session: AsyncSession = Depends(get_session),
) -> QuestionOut:
    """Create a question; version 1 starts as a draft."""
    q = await authoring.create_question(session, principal, body, body.external_ref)
    await session.commit()
    return await _out(session, principal, q.id)


@router.get("", response_model=list[QuestionSummary])
async def list_questions(
    principal: Principal = Depends(STAFF),
    session: AsyncSession = Depends(get_session),
    state: str | None = Query(None, pattern="^(draft|review|approved|published|retired)$"),
    topic_id: int | None = Query(None, ge=1),
    exam_code: str | None = Query(None, max_length=64),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> list[QuestionSummary]:
    """Questions of the tenant by the state of their latest version (a review queue: state=review)."""
    return await authoring.list_questions(
        session, principal, state, topic_id, exam_code, limit, offset
    )


@router.post(
    "/import",
    response_model=ImportReport,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-ndjson": {
                    "schema": {"type": "string"},
                    "example": '{"topic": "Cardiology", "stem_md": "...", "lead_in": "...", '
                    '"options": [{"label": "A", "text_md": "..."}, {"label": "B", "text_md": "..."}], '
                    '"correct_label": "A"}\n',
                }
            },
        }
    },
)
async def import_questions(
    request: Request,
    submit: bool = Query(False, description="submit accepted questions to review directly"),
    principal: Principal = Depends(AUTHOR),
    session: AsyncSession = Depends(get_session),
) -> ImportReport:
    """Bulk import from JSON lines (one question per line); each line is accepted or rejected
    on its own, with the reasons."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(422, "the body must be UTF-8 JSON lines") from None
    lines = text.splitlines()
    if len([ln for ln in lines if ln.strip()]) == 0:
        raise ApiError(422, "the body has no JSON lines; send one question object per line")
    if len(lines) > MAX_IMPORT_LINES:
        raise ApiError(413, f"at most {MAX_IMPORT_LINES} lines per import; split the file")
    results: list[ImportLineResult] = []
    topic_cache: dict[str, int | None] = {}
    seen_refs: set[str] = set()
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
            item = ImportLine.model_validate(data)
        except orjson.JSONDecodeError as exc:
            results.append(ImportLineResult(line=n, status="rejected", errors=[f"not JSON: {exc}"]))
            continue
        except ValidationError as exc:
            errs = [
                f"{'.'.join(str(p) for p in e['loc']) or 'line'}: {e['msg']}"
                for e in exc.errors(include_url=False)
            ]
            results.append(ImportLineResult(line=n, status="rejected", errors=errs))
            continue
        ref = item.external_ref
        if ref and ref in seen_refs:
            results.append(
                ImportLineResult(
                    line=n,
                    status="rejected",
                    external_ref=ref,
                    errors=[f"external_ref {ref!r} repeats an earlier line"],
                )
            )
            continue
        topic_id = item.topic_id
        if topic_id is None:
            topic_id = await authoring.resolve_topic_path(
                session, principal.tenant_id, item.topic or "", topic_cache
            )
            if topic_id is None:
                results.append(
                    ImportLineResult(
                        line=n,
                        status="rejected",
                        external_ref=ref,
                        errors=[f"topic {item.topic!r} not found"],
                    )
                )
                continue
        content = QuestionContent.model_validate(
            item.model_dump(exclude={"topic", "external_ref"}) | {"topic_id": topic_id}
        )
        try:
            async with session.begin_nested():
                q = await authoring.create_question(session, principal, content, ref, submit=submit)
        except ApiError as exc:
            results.append(
                ImportLineResult(line=n, status="rejected", external_ref=ref, errors=[exc.detail])
            )
            continue
        except DBAPIError as exc:
            results.append(
                ImportLineResult(
                    line=n,
                    status="rejected",
                    external_ref=ref,
                    errors=[str(exc.orig).splitlines()[0]],
                )
            )
            continue
        if ref:
            seen_refs.add(ref)
        results.append(
            ImportLineResult(line=n, status="accepted", question_id=q.id, external_ref=ref)
        )
    await session.commit()
    accepted = sum(r.status == "accepted" for r in results)
    return ImportReport(accepted=accepted, rejected=len(results) - accepted, lines=results)


@router.get("/{question_id}", response_model=QuestionOut)
async def get_question(
    question_id: int,
    principal: Principal = Depends(STAFF),
    session: AsyncSession = Depends(get_session),
) -> QuestionOut:
    """A question with all its versions and where each is live."""
    return await _out(session, principal, question_id)


@router.put("/{question_id}", response_model=QuestionOut)
async def edit_question(
    question_id: int,
    body: QuestionEdit,
    principal: Principal = Depends(AUTHOR),
    session: AsyncSession = Depends(get_session),
) -> QuestionOut:
    """Edit: the draft changes in place; a published question gets a new draft version while
    the live version keeps being served. Once the question has been published the edit says its
    `edit_kind`: `minor` keeps the calibrated parameters (carried over when the new version is
    published), `substantive` makes a new uncalibrated item that goes back to pretest."""
    await authoring.edit_question(session, principal, question_id, body, body.edit_kind)
    await session.commit()
    return await _out(session, principal, question_id)


async def _act(session, principal, question_id, version, action, **kw) -> QuestionOut:
    await authoring.transition(session, principal, question_id, version, action, **kw)
    await session.commit()
    return await _out(session, principal, question_id)


@router.post("/{question_id}/versions/{version}/submit", response_model=QuestionOut)
async def submit_version(
    question_id: int,
    version: int,
    body: CommentIn | None = None,
    principal: Principal = Depends(AUTHOR),
    session: AsyncSession = Depends(get_session),
) -> QuestionOut:
    """draft → review."""
    return await _act(
        session, principal, question_id, version, "submit", comment=body.comment if body else None
    )


@router.post("/{question_id}/versions/{version}/return", response_model=QuestionOut)
async def return_version(
    question_id: int,
    version: int,
    body: ReturnIn,
    principal: Principal = Depends(PUBLISHER),
    session: AsyncSession = Depends(get_session),
) -> QuestionOut:
    """review → draft, with the reviewer's comment."""
    return await _act(session, principal, question_id, version, "return", comment=body.comment)


@router.post("/{question_id}/versions/{version}/approve", response_model=QuestionOut)
async def approve_version(
    question_id: int,
    version: int,
    body: CommentIn | None = None,
    principal: Principal = Depends(PUBLISHER),
    session: AsyncSession = Depends(get_session),
) -> QuestionOut:
    """review → approved."""
    return await _act(
        session, principal, question_id, version, "approve", comment=body.comment if body else None
    )


@router.post("/{question_id}/versions/{version}/publish", response_model=QuestionOut)
async def publish_version(
    question_id: int,
    version: int,
    body: PublishIn,
    principal: Principal = Depends(PUBLISHER),
    session: AsyncSession = Depends(get_session),
) -> QuestionOut:
    """approved (or published) → published in the given exam codes: the publication of each
    (question, exam code) now holds this version (an upsert; earlier versions stop serving)."""
    return await _act(
        session, principal, question_id, version, "publish", exam_codes=body.exam_codes
    )


@router.post("/{question_id}/versions/{version}/retire", response_model=QuestionOut)
async def retire_version(
    question_id: int,
    version: int,
    body: CommentIn | None = None,
    principal: Principal = Depends(PUBLISHER),
    session: AsyncSession = Depends(get_session),
) -> QuestionOut:
    """published → retired: the version stops serving in every exam code."""
    return await _act(
        session, principal, question_id, version, "retire", comment=body.comment if body else None
    )


async def question_exists(session: AsyncSession, principal: Principal, question_id: int) -> bool:
    return bool(
        await session.scalar(
            select(Question.id).where(
                Question.id == question_id, Question.tenant_id == principal.tenant_id
            )
        )
    )
