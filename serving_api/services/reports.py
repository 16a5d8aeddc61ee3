"""Score reports, a student's history and weekly progress (per-topic performance with the cohort
percentile: serving_api.services.performance)."""

from __future__ import annotations

import uuid

from psycopg import AsyncConnection

from serving_api.services.content import ContentCache
from serving_api.services.delivery import final_score
from serving_api.services.quiz_state import QuizState
from serving_api.services.scored import SCORED_ANSWERS

HISTORY_SQL = """
SELECT s.id, s.status, s.mode, s.adaptive, s.exam_code, s.num_questions, s.num_pretest,
       s.started_at, s.expires_at, s.finished_at, s.raw_score, s.scaled_score, s.filters, s.quota,
       (SELECT count(*) FROM quiz_items i WHERE i.quiz_id = s.id),
       (SELECT count(*) FROM user_responses r WHERE r.quiz_id = s.id)
FROM quiz_sessions s
WHERE s.user_id = %(user)s AND s.tenant_id = %(tenant)s
ORDER BY s.started_at DESC
LIMIT %(limit)s OFFSET %(offset)s
"""

# By ISO week (Monday, UTC): the caller's scored answers (by the time of their last change) and
# the quizzes sealed that week (by finished_at) with their mean scaled score.
PROGRESS_SQL = f"""
WITH answers AS (
  SELECT date_trunc('week', a.updated_at AT TIME ZONE 'UTC')::date AS week,
         count(*) AS answered, count(*) FILTER (WHERE a.is_correct) AS correct
  FROM ({SCORED_ANSWERS}) a
  WHERE a.user_id = %(user)s AND a.tenant_id = %(tenant)s
    AND (%(exam)s::text IS NULL OR a.exam_code = %(exam)s::text)
  GROUP BY 1
), sealed AS (
  SELECT date_trunc('week', s.finished_at AT TIME ZONE 'UTC')::date AS week,
         count(*) AS quizzes, avg(s.scaled_score) AS mean_scaled
  FROM quiz_sessions s
  WHERE s.user_id = %(user)s AND s.tenant_id = %(tenant)s AND s.status <> 'active'
    AND s.finished_at IS NOT NULL
    AND (%(exam)s::text IS NULL OR s.exam_code = %(exam)s::text)
  GROUP BY 1
)
SELECT coalesce(a.week, q.week), coalesce(a.answered, 0), coalesce(a.correct, 0),
       coalesce(q.quizzes, 0), q.mean_scaled
FROM answers a FULL JOIN sealed q ON q.week = a.week
ORDER BY 1
"""


async def quiz_report(conn: AsyncConnection, contents: ContentCache, st: QuizState) -> dict:
    """The report of a sealed quiz: scores, per-topic results and the full review."""
    raw, n_scored, theta, se = final_score(st)
    content = await contents.get_many(conn, [i.version_id for i in st.items])
    topics: dict[int, dict] = {}
    review = []
    for item in st.items:
        vc = content[item.version_id]
        if not item.is_pretest:
            t = topics.setdefault(
                item.topic_id,
                {
                    "topic_id": item.topic_id,
                    "topic_name": vc.topic_name,
                    "topic_path": vc.topic_path,
                    "served": 0,
                    "answered": 0,
                    "correct": 0,
                },
            )
            t["served"] += 1
            t["answered"] += item.answered
            t["correct"] += bool(item.is_correct)
        review.append(
            {
                "position": item.position,
                "question_id": item.question_id,
                "version": item.version,
                "topic": vc.topic,
                "stem_html": vc.stem_html,
                "lead_in": vc.lead_in,
                "assets": list(vc.assets),
                "options": [{"label": lab, "text_html": html} for lab, html in vc.options],
                "selected": item.selected,
                "correct_label": vc.correct_label,
                "correct": bool(item.is_correct) if item.answered else False,
                "rationale_html": vc.rationale_html,
                "is_pretest": item.is_pretest,
                "marked": item.marked,
                "calibrated_b": item.b if item.calibrated else None,
            }
        )
    per_topic = sorted(topics.values(), key=lambda t: t["topic_path"])
    for t in per_topic:
        t["accuracy"] = t["correct"] / t["served"] if t["served"] else None
    return {
        "quiz_id": st.id,
        "status": st.status,
        "mode": st.mode,
        "adaptive": st.adaptive,
        "exam_code": st.exam_code,
        "num_questions": st.num_questions,
        "served": len(st.items),
        "answered": st.answered_count,
        "num_scored": n_scored,
        "num_pretest": sum(1 for i in st.items if i.is_pretest),
        "raw_score": raw,
        "theta": theta,
        "se": se,
        "scaled_score": st.scaled_score,
        "started_at": st.started_at,
        "finished_at": st.finished_at,
        "per_topic": per_topic,
        "review": review,
        "scoring": "scaled score = 500 + 100·θ clipped to 200–800; θ by EAP with a N(0,1) prior; "
        "pretest items are unscored; served items left unanswered count as incorrect",
    }


def quiz_summary(st: QuizState) -> dict:
    return {
        "id": st.id,
        "status": st.status,
        "mode": st.mode,
        "adaptive": st.adaptive,
        "exam_code": st.exam_code,
        "num_questions": st.num_questions,
        "num_pretest": st.num_pretest,
        "served": len(st.items),
        "answered": st.answered_count,
        "started_at": st.started_at,
        "expires_at": st.expires_at,
        "finished_at": st.finished_at,
        "raw_score": st.raw_score,
        "scaled_score": st.scaled_score,
        "filters": {k: v for k, v in (st.filters or {}).items() if k != "resolved"},
        "quota": st.quota,
        "calibrated_short": st.calibrated_short,
        "notices": st.notices,
    }


async def history(
    conn: AsyncConnection, user_id: uuid.UUID, tenant_id: uuid.UUID, limit: int, offset: int
) -> list[dict]:
    rows = await (
        await conn.execute(
            HISTORY_SQL, {"user": user_id, "tenant": tenant_id, "limit": limit, "offset": offset}
        )
    ).fetchall()
    out = []
    for r in rows:
        filters = {k: v for k, v in (r[12] or {}).items() if k != "resolved"}
        out.append(
            {
                "id": r[0],
                "status": r[1],
                "mode": r[2],
                "adaptive": r[3],
                "exam_code": r[4],
                "num_questions": r[5],
                "num_pretest": r[6],
                "started_at": r[7],
                "expires_at": r[8],
                "finished_at": r[9],
                "raw_score": r[10],
                "scaled_score": r[11],
                "filters": filters,
                "quota": r[13],
                "served": r[14],
                "answered": r[15],
            }
        )
    return out


async def progress(
    conn: AsyncConnection, user_id: uuid.UUID, tenant_id: uuid.UUID, exam_code: str | None
) -> dict:
    rows = await (
        await conn.execute(PROGRESS_SQL, {"user": user_id, "tenant": tenant_id, "exam": exam_code})
    ).fetchall()
    weeks = [
        {
            "week_start": week.isoformat(),
            "answered": int(answered),
            "correct": int(correct),
            "accuracy": correct / answered if answered else None,
            "quizzes": int(quizzes),
            "mean_scaled_score": round(float(mean), 1) if mean is not None else None,
        }
        for week, answered, correct, quizzes, mean in rows
    ]
    return {"exam_code": exam_code, "weeks": weeks}
