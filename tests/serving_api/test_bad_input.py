"""Bad input on every endpoint: a 4xx with a clear message, and nothing stored changes."""

from __future__ import annotations

import uuid

import pytest

from tests.support.quizzes import fresh_exam, next_item, snapshot, start

HUGE = 2**70


@pytest.fixture(scope="module")
def setup(api, world, engine):
    import httpx

    with httpx.Client(base_url=api.url, timeout=10) as c:
        exam, qids = fresh_exam(engine, world, per_topic=1)
        quiz = start(c, world.a.student, exam_code=exam, num_questions=3)
        next_item(c, world.a.student, quiz["id"])
    return {"exam": exam, "q": qids[0], "z": quiz["id"]}


def cases(t, world):
    z, q, exam = t["z"], t["q"], t["exam"]
    good_option = [{"label": "A", "text_md": "x"}, {"label": "B", "text_md": "y"}]
    question = {
        "topic_id": world.topics["Renal"],
        "stem_md": "s",
        "lead_in": "l",
        "options": good_option,
        "correct_label": "A",
    }
    A, S, P, AD = world.a.author, world.a.student, world.a.publisher, world.a.admin
    return [
        (S, "POST", "/v1/auth/login", b"{not json", None),
        (S, "POST", "/v1/auth/login", None, {"email": 5}),
        (
            AD,
            "POST",
            "/v1/users",
            None,
            {"email": "no-at-sign", "display_name": "x", "password": "longenough"},
        ),
        (
            AD,
            "POST",
            "/v1/users",
            None,
            {"email": "a@b.c", "display_name": "x", "password": "short"},
        ),
        (
            AD,
            "POST",
            "/v1/users",
            None,
            {"email": "a@b.c", "display_name": "x", "password": "longenough", "roles": ["root"]},
        ),
        (
            AD,
            "POST",
            "/v1/users",
            None,
            {"email": world.a.student.email, "display_name": "x", "password": "longenough"},
        ),
        (AD, "PATCH", f"/v1/users/{uuid.uuid4()}", None, {"cohort": "x"}),
        (AD, "PATCH", "/v1/users/not-a-uuid", None, {"cohort": "x"}),
        (AD, "PATCH", f"/v1/users/{AD.id}", None, {"is_active": False}),
        (AD, "PATCH", f"/v1/users/{S.id}", None, {"cohort": ""}),
        (AD, "GET", "/v1/users?limit=0", None, None),
        (A, "POST", "/v1/topics", None, {"name": ""}),
        (A, "POST", "/v1/topics", None, {"name": "x", "parent_id": HUGE}),
        (A, "POST", "/v1/topics", None, {"name": "x", "parent_id": 999999999}),
        (A, "POST", "/v1/questions", None, question | {"correct_label": "C"}),
        (
            A,
            "POST",
            "/v1/questions",
            None,
            question
            | {"options": [{"label": "B", "text_md": "x"}, {"label": "A", "text_md": "y"}]},
        ),
        (A, "POST", "/v1/questions", None, question | {"topic_id": 999999999}),
        (A, "POST", "/v1/questions", None, question | {"topic_id": HUGE}),
        (A, "POST", "/v1/questions", None, question | {"assets": ["javascript:alert(1)"]}),
        (A, "POST", "/v1/questions", None, question | {"bloom_level": 9}),
        (A, "POST", "/v1/questions", None, question | {"difficulty_label": "insane"}),
        (A, "POST", "/v1/questions", None, question | {"tenant_id": str(world.b.id)}),
        (A, "POST", "/v1/questions", None, [1, 2]),
        (A, "GET", "/v1/questions/99999999999", None, None),
        (A, "GET", f"/v1/questions/{HUGE}", None, None),
        (A, "GET", "/v1/questions?state=bogus", None, None),
        (A, "PUT", f"/v1/questions/{q}", None, question | {"correct_label": "Q"}),
        (A, "PUT", "/v1/questions/abc", None, question),
        (A, "POST", "/v1/questions/import", b"", None),
        (A, "POST", "/v1/questions/import", b"\xff\xfe\x00garbage", None),
        (A, "POST", f"/v1/questions/{q}/versions/1/submit", None, None),  # published: not a draft
        (A, "POST", f"/v1/questions/{q}/versions/7/submit", None, None),
        (P, "POST", f"/v1/questions/{q}/versions/1/approve", None, None),
        (P, "POST", f"/v1/questions/{q}/versions/1/return", None, {"comment": "x"}),
        (P, "POST", f"/v1/questions/{q}/versions/1/publish", None, {"exam_codes": []}),
        (P, "POST", f"/v1/questions/{q}/versions/1/publish", None, {"exam_codes": ["bad code!"]}),
        (P, "POST", f"/v1/questions/{q}/versions/0/retire", None, None),
        (S, "POST", "/v1/quizzes", None, {"exam_code": exam, "num_questions": 0}),
        (S, "POST", "/v1/quizzes", None, {"exam_code": exam, "num_questions": 121}),
        (S, "POST", "/v1/quizzes", None, {"exam_code": exam, "mode": "practice"}),
        (S, "POST", "/v1/quizzes", None, {"exam_code": "NO-SUCH-EXAM"}),
        (S, "POST", "/v1/quizzes", None, {"exam_code": "../etc"}),
        (S, "POST", "/v1/quizzes", None, {"exam_code": exam, "topics": ["Nowhere"]}),
        (S, "POST", "/v1/quizzes", None, {"exam_code": exam, "topics": [HUGE]}),
        (S, "POST", "/v1/quizzes", None, {"exam_code": exam, "quota": {"Renal": 0}}),
        (
            S,
            "POST",
            "/v1/quizzes",
            None,
            {"exam_code": exam, "only_unseen": True, "only_previously_incorrect": True},
        ),
        (S, "POST", "/v1/quizzes", None, {"exam_code": exam, "difficulty": ["trivial"]}),
        (S, "GET", "/v1/quizzes/not-a-uuid/next", None, None),
        (S, "GET", f"/v1/quizzes/{uuid.uuid4()}/next", None, None),
        (S, "POST", f"/v1/quizzes/{z}/answers", None, {"selected": "Z"}),
        (S, "POST", f"/v1/quizzes/{z}/answers", None, {"selected": "J"}),  # a letter, not an option
        (S, "POST", f"/v1/quizzes/{z}/answers", None, {"selected": "A", "time_taken_ms": -5}),
        (S, "POST", f"/v1/quizzes/{z}/answers", None, {"selected": "A", "position": 3}),
        (S, "POST", f"/v1/quizzes/{z}/answers", None, {"selected": "A", "position": HUGE}),
        (S, "POST", f"/v1/quizzes/{z}/answers", b'{"selected": "A"', None),
        (S, "POST", f"/v1/quizzes/{z}/items/0/mark", None, {"marked": True}),
        (S, "POST", f"/v1/quizzes/{z}/items/9/mark", None, {"marked": True}),
        (S, "POST", f"/v1/quizzes/{z}/items/1/mark", None, {"marked": "maybe"}),
        (S, "GET", f"/v1/quizzes/{z}/report", None, None),  # still active
        (S, "GET", "/v1/quizzes?limit=100000", None, None),
        (S, "GET", f"/v1/me/performance?exam_code={'x' * 100}", None, None),
        (S, "GET", f"/v1/me/progress?exam_code={'x' * 100}", None, None),
        (S, "GET", f"/v1/quizzes/{z}/next?skip=maybe", None, None),
        (S, "GET", f"/v1/quizzes/{uuid.uuid4()}/items", None, None),
        (S, "GET", f"/v1/quizzes/{z}/items/0", None, None),
        (S, "GET", f"/v1/quizzes/{z}/items/9", None, None),  # not served
    ]


def test_bad_input_is_4xx_and_changes_nothing(client, world, engine, setup):
    before = snapshot(engine)
    for person, method, path, raw, body in cases(setup, world):
        kw = (
            {"content": raw, "headers": person.headers | {"content-type": "application/json"}}
            if raw is not None
            else {"json": body, "headers": person.headers}
        )
        r = client.request(method, path, **kw)
        assert 400 <= r.status_code < 500, f"{method} {path} {body!r}: {r.status_code} {r.text}"
        detail = r.json()["detail"]
        assert isinstance(detail, str) and len(detail) > 8, f"{method} {path}: unclear {detail!r}"
    assert snapshot(engine) == before
    # The quiz is intact after all that.
    assert next_item(client, world.a.student, setup["z"])["position"] == 1
