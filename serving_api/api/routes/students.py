"""A student's performance by topic, and the exam codes they can practise."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from serving_api.deps import ANY_USER, STUDENT, get_runtime
from serving_api.runtime import Runtime
from serving_api.schemas.students import PerformanceOut, ProgressOut
from serving_api.security import Principal
from serving_api.services import reports

router = APIRouter(tags=["students"])

EXAM_CODES_SQL = """
SELECT exam_code, count(*) FROM question_publications WHERE tenant_id = %s
GROUP BY exam_code ORDER BY exam_code
"""


@router.get("/me/performance", response_model=PerformanceOut)
async def my_performance(
    principal: Principal = Depends(STUDENT),
    rt: Runtime = Depends(get_runtime),
    exam_code: str | None = Query(None, max_length=64),
) -> Response:
    """Accuracy overall and by topic over scored answers (tutor quizzes and sealed exams; an
    exam still running counts for nothing), with the percentile among the students of the
    caller's cohort in the tenant (mid-rank: below + half the ties). O(topics): the caller's
    counters, and the cohort's distribution (`percentile_as_of` says of when)."""
    async with rt.pg.connection() as conn:
        out = await rt.performance.read(
            conn, rt.topic_paths, principal.user_id, principal.tenant_id, exam_code
        )
    return Response(orjson.dumps(out), media_type="application/json")


@router.get("/me/progress", response_model=ProgressOut)
async def my_progress(
    principal: Principal = Depends(STUDENT),
    rt: Runtime = Depends(get_runtime),
    exam_code: str | None = Query(None, max_length=64),
) -> Response:
    """The caller's progress by ISO week (UTC, oldest first): scored answers and accuracy, and
    the quizzes sealed with their mean scaled score."""
    async with rt.pg.connection() as conn:
        out = await reports.progress(conn, principal.user_id, principal.tenant_id, exam_code)
    return Response(orjson.dumps(out), media_type="application/json")


@router.get("/exam-codes")
async def exam_codes(
    principal: Principal = Depends(ANY_USER), rt: Runtime = Depends(get_runtime)
) -> list[dict]:
    """Exam codes of the tenant with their number of live questions."""
    async with rt.pg.connection() as conn:
        rows = await (await conn.execute(EXAM_CODES_SQL, (principal.tenant_id,))).fetchall()
    return [{"exam_code": code, "live_questions": n} for code, n in rows]
