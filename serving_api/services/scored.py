"""Which answers may be shown or used: the one definition of a *scored answer* (SPEC §4).

A scored answer is a non-pretest answer of a tutor quiz or of a sealed exam. Until an exam is
sealed (finished, expired and swept, pool exhausted) its answers count for nothing a student can
reach: accuracy, percentiles, progress, the only-previously-incorrect filter. An active exam past
its `expires_at` is still active here until it is sealed (`serving_api.services.seal_sweep`
does that within seconds), so a read never has to guess from the clock.

Every student-facing query that looks at correctness selects from `SCORED_ANSWERS` (a subquery;
PostgreSQL flattens it, so the caller's predicates on its columns reach the base tables' indexes).
The marts are to count answers by the same rule (issue 13, on the data-platform side).
"""

from __future__ import annotations

# True for a row of quiz_sessions `s` whose answers' correctness a student may see or use.
REVEALABLE_SESSION = "(s.mode = 'tutor' OR s.status <> 'active')"

SCORED_ANSWERS = f"""
SELECT r.id, r.tenant_id, r.user_id, r.quiz_id, r.question_id, r.is_correct, r.updated_at,
       i.topic_id, s.exam_code
FROM user_responses r
JOIN quiz_items i ON i.id = r.quiz_item_id
JOIN quiz_sessions s ON s.id = r.quiz_id
WHERE NOT i.is_pretest AND {REVEALABLE_SESSION}
"""


def revealable(mode: str, status: str) -> bool:
    """The same rule for a quiz already in memory (`QuizState`)."""
    return mode == "tutor" or status != "active"


# performance_counters (GET /v1/me/performance) count exactly these answers, each from the
# statement that makes it scored (serving_api.services.delivery): the two moments below.
def counted_on_answer(mode: str, status: str, is_pretest: bool) -> bool:
    """An answer recorded (or changed) in a quiz in this state is scored as it is stored."""
    return not is_pretest and revealable(mode, status)


def counted_on_seal(mode: str, status: str, new_status: str) -> bool:
    """Sealing a quiz (status → new_status) makes its stored non-pretest answers scored that
    were not before: an exam's, never a tutor quiz's (counted as they were given)."""
    return revealable(mode, new_status) and not revealable(mode, status)
