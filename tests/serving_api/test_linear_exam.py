"""A linear exam as on paper: skip, go back to any served item, change answers until finish;
the navigator; and exams whose time ran out sealed by the sweep without anyone touching them."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import text

from tests.support.api_server import start_server, stop_server
from tests.support.people import login, make_user
from tests.support.quizzes import answer, events_of, fresh_exam, next_item, start


def _get(client, s, path, **params):
    r = client.get(path, params=params, headers=s.headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_linear_exam_skip_navigate_and_change_any_answer(client, world, engine):
    exam, _ = fresh_exam(engine, world, per_topic=2)  # key B everywhere
    s = world.a.student
    q = start(client, s, mode="exam", adaptive=False, exam_code=exam, num_questions=4)["id"]
    first = next_item(client, s, q)
    assert first["position"] == 1 and first["item"]["topic"]["path"]
    assert next_item(client, s, q)["position"] == 1  # without skip: the same item again
    assert _get(client, s, f"/v1/quizzes/{q}/next", skip="true")["position"] == 2
    answer(client, s, q, "A")  # position 2, the item being served
    assert next_item(client, s, q)["position"] == 3
    # Position 1 was skipped: it can be answered now, and changed again.
    assert answer(client, s, q, "A", position=1)["revision"] == 1
    assert answer(client, s, q, "B", position=1)["revision"] == 2
    # An answered item that was never marked can be changed too.
    assert answer(client, s, q, "B", position=2)["revision"] == 2

    nav = _get(client, s, f"/v1/quizzes/{q}/items")
    assert nav["revisitable"] and nav["num_questions"] == 4 and nav["served"] == 3
    assert [(i["position"], i["answered"], i["selected"]) for i in nav["items"]] == [
        (1, True, "B"),
        (2, True, "B"),
        (3, False, None),
    ]
    assert all(i["correct"] is None for i in nav["items"])  # nothing revealed while active
    view = _get(client, s, f"/v1/quizzes/{q}/items/1")
    assert view["position"] == 1 and view["item"]["selected"] == "B"
    assert view["item"]["question_id"] == first["item"]["question_id"]
    assert not {"correct", "correct_label", "rationale_html"} & set(view["item"])
    r = client.get(f"/v1/quizzes/{q}/items/4", headers=s.headers)
    assert r.status_code == 404 and "not been served" in r.json()["detail"]

    assert _get(client, s, f"/v1/quizzes/{q}/next", skip="true")["position"] == 4
    assert _get(client, s, f"/v1/quizzes/{q}/next", skip="true")["status"] == "complete"
    report = client.post(f"/v1/quizzes/{q}/finish", headers=s.headers).json()
    # 1 and 2 changed to the key; 3 and 4 never answered count as incorrect.
    assert report["raw_score"] == 2 and report["answered"] == 2
    assert [(i["position"], i["selected"], i["correct"]) for i in report["review"]] == [
        (1, "B", True),
        (2, "B", True),
        (3, None, False),
        (4, None, False),
    ]
    subs = [p for t, p in events_of(engine, q) if t == "answer_submitted"]
    assert [(p["position"], p["revision"], p["selected"]) for p in subs] == [
        (2, 1, "A"),
        (1, 1, "A"),
        (1, 2, "B"),
        (2, 2, "B"),
    ]
    nav = _get(client, s, f"/v1/quizzes/{q}/items")
    assert not nav["revisitable"] and [i["correct"] for i in nav["items"]] == [
        True,
        True,
        None,
        None,
    ]
    r = client.post(
        f"/v1/quizzes/{q}/answers", json={"selected": "A", "position": 1}, headers=s.headers
    )
    assert r.status_code == 409


def test_adaptive_and_tutor_quizzes_cannot_skip_or_go_back(client, world, engine):
    exam, _ = fresh_exam(engine, world, per_topic=2)
    s = world.a.student2
    for mode, adaptive in (("exam", True), ("tutor", False), ("tutor", True)):
        q = start(client, s, mode=mode, adaptive=adaptive, exam_code=exam, num_questions=3)["id"]
        next_item(client, s, q)
        r = client.get(f"/v1/quizzes/{q}/next", params={"skip": "true"}, headers=s.headers)
        assert r.status_code == 409 and "only a linear exam" in r.json()["detail"], (mode, r.text)
        answer(client, s, q, "A")
        next_item(client, s, q)
        r = client.post(
            f"/v1/quizzes/{q}/answers", json={"selected": "B", "position": 1}, headers=s.headers
        )
        assert r.status_code == 409 and "final" in r.json()["detail"], (mode, r.text)
        nav = _get(client, s, f"/v1/quizzes/{q}/items")
        assert not nav["revisitable"]
        # Tutor mode told the student already; an active exam does not.
        assert nav["items"][0]["correct"] == (False if mode == "tutor" else None)


def test_expired_exams_are_sealed_by_the_sweep(world, engine, api, client):
    """No request touches the quizzes: the sweeps of two more API processes seal them, each
    once, scored as finish scores it, with its quiz_finished event; history then shows them
    expired."""
    # One difficulty: every item has the same default parameters, so two quizzes with the same
    # answer pattern have the same θ whichever items they drew.
    exam, _ = fresh_exam(engine, world, per_topic=2, difficulties=("medium",))
    s = login(api, make_user(engine, world.a, f"sweep{uuid.uuid4().hex[:4]}", ["student"]))
    q = start(client, s, mode="exam", adaptive=False, exam_code=exam, num_questions=3)["id"]
    next_item(client, s, q)
    answer(client, s, q, "B")
    next_item(client, s, q)  # served, left unanswered
    twin = start(client, s, mode="exam", adaptive=False, exam_code=exam, num_questions=3)["id"]
    next_item(client, s, twin)
    answer(client, s, twin, "B")
    next_item(client, s, twin)

    others = []
    for _ in range(4):  # more expired exams, for the two sweepers to race over
        o = start(client, s, mode="exam", adaptive=False, exam_code=exam, num_questions=2)["id"]
        next_item(client, s, o)
        others.append(o)

    sweepers = [start_server(f"sweep{k}", {"QBANK_API_SEAL_SWEEP_S": "0.2"}) for k in (1, 2)]
    try:
        with engine.begin() as c:
            c.execute(
                text(
                    "UPDATE quiz_sessions SET expires_at = now() - interval '1 second' "
                    "WHERE id = ANY(:q)"
                ),
                {"q": [uuid.UUID(x) for x in (q, *others)]},
            )
        deadline = time.monotonic() + 15
        while True:
            with engine.connect() as c:
                row = c.execute(
                    text(
                        "SELECT status, raw_score, scaled_score, theta, finished_at "
                        "FROM quiz_sessions WHERE id = :q"
                    ),
                    {"q": q},
                ).one()
            if row.status != "active" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        time.sleep(1)  # several more sweeps of both processes
    finally:
        for sweeper in sweepers:
            stop_server(sweeper)
    assert row.status == "expired" and row.finished_at is not None
    finished = [p for t, p in events_of(engine, q) if t == "quiz_finished"]
    assert len(finished) == 1 and finished[0]["status"] == "expired"
    assert (
        finished[0]["score"] == row.raw_score == 1
        and finished[0]["scaled_score"] == row.scaled_score
    )
    # Scored exactly as finish scores it: the twin (same answers) finished by hand.
    report = client.post(f"/v1/quizzes/{twin}/finish", headers=s.headers).json()
    assert (report["raw_score"], report["theta"]) == (row.raw_score, finished[0]["theta"])
    for o in others:
        assert [p["status"] for t, p in events_of(engine, o) if t == "quiz_finished"] == ["expired"]
    with engine.connect() as c:
        statuses = (
            c.execute(
                text("SELECT status FROM quiz_sessions WHERE id = ANY(:q)"),
                {"q": [uuid.UUID(x) for x in others]},
            )
            .scalars()
            .all()
        )
    assert statuses == ["expired"] * 4
    hist = {h["id"]: h for h in _get(client, s, "/v1/quizzes")}
    assert hist[q]["status"] == "expired" and hist[q]["raw_score"] == 1


def test_history_seals_an_expired_exam_it_lists(client, world, engine, api):
    exam, _ = fresh_exam(engine, world, per_topic=1)
    s = login(api, make_user(engine, world.a, f"read{uuid.uuid4().hex[:4]}", ["student"]))
    q = start(client, s, mode="exam", adaptive=False, exam_code=exam, num_questions=2)["id"]
    next_item(client, s, q)
    answer(client, s, q, "B")
    with engine.begin() as c:
        c.execute(
            text("UPDATE quiz_sessions SET expires_at = now() - interval '1 second' WHERE id = :q"),
            {"q": q},
        )
    (hist,) = _get(client, s, "/v1/quizzes")
    assert hist["status"] == "expired" and hist["raw_score"] == 1
    assert [t for t, _ in events_of(engine, q)].count("quiz_finished") == 1
