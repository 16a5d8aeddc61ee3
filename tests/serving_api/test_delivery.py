"""Delivery over HTTP against the real stack: the whole flow and the seed's delivery defects."""

from __future__ import annotations

import uuid

import numpy as np
from sqlalchemy import text

from irt_models.ability import eap
from irt_models.model import info_3pl
from tests.support import bank
from tests.support.quizzes import answer, events_of, fresh_exam, next_item, start


def test_tutor_adaptive_flow_persists_state_and_events(client, world, engine):
    """Author → review → publish over HTTP, then quiz → answer → finish (seed defects 2, 3, 4, 13)."""
    a = world.a
    exam = f"FLOW-{uuid.uuid4().hex[:6]}"
    # One question through the real authoring workflow; the rest from the fast bank.
    body = {
        "topic_id": world.topics["Renal"],
        "stem_md": "Serum K is *7.1* mmol/L with peaked T waves.",
        "lead_in": "First step?",
        "options": [{"label": L, "text_md": f"Step {L}"} for L in "ABCD"],
        "correct_label": "B",
        "rationale_md": "Stabilise the membrane **first** <script>alert(1)</script>.",
        "difficulty_label": "medium",
    }
    q = client.post("/v1/questions", json=body, headers=a.author.headers).json()
    client.post(f"/v1/questions/{q['id']}/versions/1/submit", headers=a.author.headers)
    client.post(f"/v1/questions/{q['id']}/versions/1/approve", headers=a.publisher.headers)
    r = client.post(
        f"/v1/questions/{q['id']}/versions/1/publish",
        json={"exam_codes": [exam]},
        headers=a.publisher.headers,
    )
    assert r.status_code == 200, r.text
    bank.publish_items(engine, a.id, a.admin.id, exam, world.topics, 4)

    quiz = start(client, a.student, mode="tutor", adaptive=True, exam_code=exam, num_questions=8)
    qid = quiz["id"]
    assert quiz["status"] == "active" and quiz["num_pretest"] == 0  # cold start: no pretest slots
    seen, thetas = [], []
    for k in range(8):
        item = next_item(client, a.student, qid)
        assert item["status"] == "active" and item["position"] == k + 1
        again = next_item(client, a.student, qid)  # not answered yet: the same item again
        assert again["item"]["question_id"] == item["item"]["question_id"]
        assert "correct_label" not in item["item"] and "rationale_html" not in item["item"]
        seen.append(item["item"]["question_id"])
        fb = answer(client, a.student, qid, "B" if k % 3 else "A", time_taken_ms=1500)
        assert fb["correct"] is (k % 3 != 0) and fb["correct_label"] == "B"
        assert fb["calibrated_b"] is None  # uncalibrated: no made-up difficulty (defect 13)
        assert "<script>" not in fb["rationale_html"]
        thetas.append(fb["theta"])
    assert len(set(seen)) == 8  # never twice (defect 3)
    assert len({round(t, 6) for t in thetas}) > 3 and thetas[-1] != 0  # θ moves (defect 2)
    done = next_item(client, a.student, qid)
    assert done["status"] == "complete" and done["item"] is None

    # The state is in PostgreSQL (defect 4), graded per served version.
    with engine.connect() as c:
        items = c.execute(
            text(
                "SELECT question_id, position, version FROM quiz_items WHERE quiz_id = :q ORDER BY position"
            ),
            {"q": qid},
        ).all()
        responses = c.execute(
            text("SELECT count(*), sum(time_taken_ms) FROM user_responses WHERE quiz_id = :q"),
            {"q": qid},
        ).one()
    assert [r[0] for r in items] == seen and responses == (8, 12000)

    report = client.post(f"/v1/quizzes/{qid}/finish", headers=a.student.headers).json()
    correct = [k % 3 != 0 for k in range(8)]
    assert report["raw_score"] == sum(correct) and report["num_scored"] == 8
    assert report["scaled_score"] == max(200, min(800, round(500 + 100 * report["theta"])))
    assert {t["topic_name"] for t in report["per_topic"]} <= {
        "Cardiology",
        "Arrhythmias",
        "Heart failure",
        "Renal",
    }
    assert len(report["review"]) == 8 and all(r["rationale_html"] for r in report["review"])
    again = client.post(f"/v1/quizzes/{qid}/finish", headers=a.student.headers).json()
    assert again["scaled_score"] == report["scaled_score"]  # finishing twice changes nothing

    types = [t for t, _ in events_of(engine, qid)]
    assert types == ["quiz_started"] + ["question_served", "answer_submitted"] * 8 + [
        "quiz_finished"
    ]
    finished = events_of(engine, qid)[-1][1]
    assert finished["score"] == sum(correct) and finished["scaled_score"] == report["scaled_score"]
    assert client.get(f"/v1/quizzes/{qid}/next", headers=a.student.headers).status_code == 409


def test_exam_mode_only_acknowledges(client, world, engine):
    """Seed defect 12: no key or rationale before the exam is finished."""
    exam, _ = fresh_exam(engine, world, per_topic=2)
    s = world.a.student
    quiz = start(client, s, mode="exam", adaptive=True, exam_code=exam, num_questions=3)
    assert quiz["expires_at"] is not None
    for _ in range(3):
        next_item(client, s, quiz["id"])
        ack = answer(client, s, quiz["id"], "B")
        assert set(ack) == {"quiz_id", "position", "recorded", "revision"}
    assert client.get(f"/v1/quizzes/{quiz['id']}/report", headers=s.headers).status_code == 409
    report = client.post(f"/v1/quizzes/{quiz['id']}/finish", headers=s.headers).json()
    assert report["raw_score"] == 3 and all(
        r["correct_label"] == "B" and r["rationale_html"] for r in report["review"]
    )


def test_answer_graded_against_the_served_version(client, world, engine):
    """Seed defect 1: a new version published mid-quiz does not change how the served one grades."""
    a = world.a
    exam, qids = fresh_exam(engine, world, per_topic=1, topics={"Renal": world.topics["Renal"]})
    quiz = start(client, a.student, mode="tutor", adaptive=False, exam_code=exam, num_questions=1)
    served = next_item(client, a.student, quiz["id"])["item"]
    assert served["question_id"] == qids[0] and served["version"] == 1
    # Version 2 with a different key goes live while the student is on version 1.
    v1 = client.get(f"/v1/questions/{qids[0]}", headers=a.author.headers).json()["versions"][0]
    edit = {
        k: v1[k] for k in ("topic_id", "stem_md", "lead_in", "rationale_md", "difficulty_label")
    }
    edit |= {"options": v1["options"], "correct_label": "D", "edit_kind": "substantive"}
    assert (
        client.put(f"/v1/questions/{qids[0]}", json=edit, headers=a.author.headers).status_code
        == 200
    )
    client.post(f"/v1/questions/{qids[0]}/versions/2/submit", headers=a.author.headers)
    client.post(f"/v1/questions/{qids[0]}/versions/2/approve", headers=a.publisher.headers)
    r = client.post(
        f"/v1/questions/{qids[0]}/versions/2/publish",
        json={"exam_codes": [exam]},
        headers=a.publisher.headers,
    )
    assert r.json()["live"] == {exam: 2}
    fb = answer(client, a.student, quiz["id"], "B")
    assert fb["correct"] is True and fb["correct_label"] == "B"
    with engine.connect() as c:
        v = c.execute(
            text(
                "SELECT v.version FROM user_responses r JOIN question_versions v ON v.id = r.question_version_id WHERE r.quiz_id = :q"
            ),
            {"q": quiz["id"]},
        ).scalar()
    assert v == 1
    # A new quiz serves (and grades) version 2.
    quiz2 = start(
        client, world.a.student2, mode="tutor", adaptive=False, exam_code=exam, num_questions=1
    )
    assert next_item(client, world.a.student2, quiz2["id"])["item"]["version"] == 2
    assert answer(client, world.a.student2, quiz2["id"], "D")["correct"] is True


def test_adaptive_selection_is_max_information_over_the_whole_pool(client, world, engine):
    """Seed defect 2: θ by EAP from this quiz's answers; the most informative item of the whole
    pool (not a window of 20) is served, with calibrated parameters from the active set."""
    exam, qids = fresh_exam(engine, world, per_topic=10)  # 40 items
    rng = np.random.default_rng(7)
    params = {q: (float(rng.uniform(0.8, 2.0)), float(rng.normal()), 0.2, 1.0) for q in qids}
    bank.activate_parameter_set(engine, world.a.id, exam, params)
    s = world.a.student2
    quiz = start(client, s, mode="tutor", adaptive=True, exam_code=exam, num_questions=6)
    answered, correct = [], []
    for k in range(6):
        item = next_item(client, s, quiz["id"])["item"]
        remaining = [q for q in qids if q not in answered]
        est = eap(
            np.array(correct, bool),
            [params[q][0] for q in answered],
            [params[q][1] for q in answered],
            [0.2] * len(answered),
        )
        info = info_3pl(
            est.theta,
            [params[q][0] for q in remaining],
            [params[q][1] for q in remaining],
            [0.2] * len(remaining),
        )
        assert item["question_id"] == remaining[int(np.argmax(info))], f"position {k + 1}"
        ok = k % 2 == 0
        fb = answer(client, s, quiz["id"], "B" if ok else "C")
        answered.append(item["question_id"])
        correct.append(ok)
        assert fb["calibrated_b"] == params[item["question_id"]][1]
        expect = eap(
            np.array(correct, bool),
            [params[q][0] for q in answered],
            [params[q][1] for q in answered],
            [0.2] * len(answered),
        )
        assert abs(fb["theta"] - expect.theta) < 1e-9 and abs(fb["se"] - expect.se) < 1e-9


def test_sympson_hetter_never_serves_a_rejected_top_item(client, world, engine):
    """Seed defect 11: with K = 0 the most informative item is never served (while others remain)."""
    exam, qids = fresh_exam(engine, world, per_topic=2)  # 8 items
    top = qids[3]
    params = {q: (1.0, 2.5, 0.2, 1.0) for q in qids}
    params[top] = (2.5, 0.0, 0.2, 0.0)  # by far the most informative at θ = 0, but K = 0
    bank.activate_parameter_set(engine, world.a.id, exam, params)
    for _ in range(4):
        quiz = start(
            client, world.a.student, mode="tutor", adaptive=True, exam_code=exam, num_questions=1
        )
        assert next_item(client, world.a.student, quiz["id"])["item"]["question_id"] != top
        with engine.connect() as c:
            rejected = c.execute(
                text("SELECT sh_rejected FROM quiz_sessions WHERE id = :q"), {"q": quiz["id"]}
            ).scalar()
        assert top in rejected  # set aside for the rest of this quiz


def test_quota_by_id_and_by_name_are_one_quota(client, world, engine):
    """Seed defect 7: the quota is resolved to topic ids once; names and ids mean the same thing."""
    exam, _ = fresh_exam(engine, world, per_topic=4)
    s = world.a.student
    t = world.topics
    quiz = start(client, s, mode="tutor", adaptive=True, exam_code=exam, num_questions=6,
                 quota={"Arrhythmias": 3, str(t["Renal"]): 2})  # fmt: skip
    assert quiz["quota"] == {str(t["Arrhythmias"]): 3, str(t["Renal"]): 2}
    topics = []
    for _ in range(6):
        topics.append(next_item(client, s, quiz["id"])["item"]["topic"]["id"])
        answer(client, s, quiz["id"], "B")
    assert topics.count(t["Arrhythmias"]) == 3 and topics.count(t["Renal"]) == 2
    # A quota on a parent counts its subtopics.
    quiz = start(
        client,
        s,
        mode="exam",
        adaptive=False,
        exam_code=exam,
        num_questions=5,
        quota={"Cardiology": 5},
    )
    for _ in range(5):
        tid = next_item(client, s, quiz["id"])["item"]["topic"]["id"]
        assert tid in (t["Cardiology"], t["Arrhythmias"], t["Heart failure"])
        answer(client, s, quiz["id"], "A")


def test_unsatisfiable_or_overlapping_quota_is_422(client, world, engine):
    exam, _ = fresh_exam(engine, world, per_topic=2)
    s = world.a.student
    cases = [
        ({"Renal": 3}, "exceeds the 2 eligible"),
        ({"Renal": 2, "Cardiology": 2}, "totals 4 but the quiz has 3"),
        ({"Cardiology": 1, "Arrhythmias": 1}, "must not overlap"),
        ({"Nephrology": 1}, "no topic named 'Nephrology'"),
        ({"999999": 1}, "topic id 999999 does not exist"),
    ]
    for quota, message in cases:
        r = client.post(
            "/v1/quizzes",
            json={"exam_code": exam, "num_questions": 3, "quota": quota},
            headers=s.headers,
        )
        assert r.status_code == 422 and message in r.json()["detail"], (quota, r.text)


def test_pretest_slots_use_uncalibrated_items_outside_theta(client, world, engine, settings):
    exam, qids = fresh_exam(engine, world, per_topic=7)  # 28 items
    calibrated = qids[:20]
    bank.activate_parameter_set(
        engine, world.a.id, exam, {q: (1.2, 0.0, 0.2, 1.0) for q in calibrated}
    )
    s = world.a.student
    quiz = start(client, s, mode="tutor", adaptive=True, exam_code=exam, num_questions=20)
    assert quiz["num_pretest"] == int(20 * settings.pretest_share) == 2
    for _ in range(20):
        item = next_item(client, s, quiz["id"])["item"]
        fb = answer(client, s, quiz["id"], "A")  # all wrong
        if item["question_id"] in calibrated:
            assert fb["calibrated_b"] == 0.0
        else:
            assert fb["calibrated_b"] is None
    with engine.connect() as c:
        rows = c.execute(
            text("SELECT question_id, is_pretest, calibrated FROM quiz_items WHERE quiz_id = :q"),
            {"q": quiz["id"]},
        ).all()
    pretest = [r for r in rows if r.is_pretest]
    assert len(pretest) == 2 and all(
        r.question_id not in calibrated and not r.calibrated for r in pretest
    )
    assert all(r.calibrated for r in rows if not r.is_pretest)
    report = client.post(f"/v1/quizzes/{quiz['id']}/finish", headers=s.headers).json()
    assert report["num_scored"] == 18 and report["num_pretest"] == 2


def test_pool_exhausted_ends_the_quiz(client, world, engine):
    exam, _ = fresh_exam(
        engine,
        world,
        per_topic=1,
        topics={"Renal": world.topics["Renal"], "Cardiology": world.topics["Cardiology"]},
    )
    s = world.a.student
    quiz = start(client, s, mode="tutor", adaptive=True, exam_code=exam, num_questions=5)
    for _ in range(2):
        next_item(client, s, quiz["id"])
        answer(client, s, quiz["id"], "B")
    out = next_item(client, s, quiz["id"])
    assert out["status"] == "pool_exhausted" and out["item"] is None
    state = client.get(f"/v1/quizzes/{quiz['id']}", headers=s.headers).json()
    assert state["status"] == "pool_exhausted" and state["raw_score"] == 2
    assert events_of(engine, quiz["id"])[-1][1]["status"] == "pool_exhausted"
    assert client.get(f"/v1/quizzes/{quiz['id']}/report", headers=s.headers).status_code == 200


def test_linear_exam_items_can_be_revisited_adaptive_cannot(client, world, engine):
    exam, _ = fresh_exam(engine, world, per_topic=2)
    s = world.a.student
    quiz = start(client, s, mode="exam", adaptive=False, exam_code=exam, num_questions=3)
    q = quiz["id"]
    next_item(client, s, q)
    answer(client, s, q, "A")
    assert client.post(
        f"/v1/quizzes/{q}/items/1/mark", json={"marked": True}, headers=s.headers
    ).json()["revisitable"]
    next_item(client, s, q)
    # Marking the item being served moves `next` on from it, as skip does.
    client.post(f"/v1/quizzes/{q}/items/2/mark", json={}, headers=s.headers)
    assert next_item(client, s, q)["position"] == 3
    answer(client, s, q, "A")
    changed = answer(client, s, q, "B", position=1)
    assert changed["revision"] == 2
    assert answer(client, s, q, "B", position=2)["revision"] == 1
    # An item never marked is changed the same way (any served item, until finish).
    assert answer(client, s, q, "B", position=3)["revision"] == 2
    report = client.post(f"/v1/quizzes/{q}/finish", headers=s.headers).json()
    assert report["raw_score"] == 3
    subs = [p for t, p in events_of(engine, q) if t == "answer_submitted"]
    assert [(p["position"], p["revision"], p["selected"]) for p in subs] == [
        (1, 1, "A"),
        (3, 1, "A"),
        (1, 2, "B"),
        (2, 1, "B"),
        (3, 2, "B"),
    ]
    assert [t for t, _ in events_of(engine, q)].count("question_marked") == 2
    # After finishing nothing changes.
    r = client.post(
        f"/v1/quizzes/{q}/answers", json={"selected": "A", "position": 1}, headers=s.headers
    )
    assert r.status_code == 409

    quiz = start(client, s, mode="exam", adaptive=True, exam_code=exam, num_questions=2)
    next_item(client, s, quiz["id"])
    answer(client, s, quiz["id"], "A")
    client.post(f"/v1/quizzes/{quiz['id']}/items/1/mark", json={"marked": True}, headers=s.headers)
    r = client.post(
        f"/v1/quizzes/{quiz['id']}/answers",
        json={"selected": "B", "position": 1},
        headers=s.headers,
    )
    assert r.status_code == 409 and "final" in r.json()["detail"]
    # Looking back at the answered position shows the choice made, as the navigator does, and
    # nothing of the key while the exam runs.
    view = client.get(f"/v1/quizzes/{quiz['id']}/items/1", headers=s.headers).json()
    nav = client.get(f"/v1/quizzes/{quiz['id']}/items", headers=s.headers).json()
    assert view["item"]["selected"] == nav["items"][0]["selected"] == "A"
    assert view["item"]["marked"] and nav["items"][0]["correct"] is None
    assert not {"correct", "correct_label", "rationale_html"} & set(view["item"])


def test_new_parameter_set_is_used_without_restart(client, world, engine, api):
    exam, qids = fresh_exam(engine, world, per_topic=2)
    s = world.a.student2
    quiz = start(client, s, mode="tutor", adaptive=True, exam_code=exam, num_questions=4)
    next_item(client, s, quiz["id"])
    assert answer(client, s, quiz["id"], "B")["calibrated_b"] is None
    bank.activate_parameter_set(
        engine, world.a.id, exam, {q: (1.1, 0.4321, 0.2, 1.0) for q in qids}
    )
    import time

    deadline = time.monotonic() + 5
    while True:  # the NOTIFY reaches the server asynchronously
        quiz = start(client, s, mode="tutor", adaptive=True, exam_code=exam, num_questions=1)
        next_item(client, s, quiz["id"])
        b = answer(client, s, quiz["id"], "B")["calibrated_b"]
        if b is not None or time.monotonic() > deadline:
            break
    assert b == 0.4321
    assert api.proc.poll() is None  # same process, no restart


def test_history_and_cohort_percentile(client, world, engine, api):
    from tests.support.people import login, make_user

    exam, _ = fresh_exam(engine, world, per_topic=3)
    cohort = f"c-{uuid.uuid4().hex[:6]}"
    strong = login(api, make_user(engine, world.a, f"strong{cohort}", ["student"], cohort=cohort))
    weak = login(api, make_user(engine, world.a, f"weak{cohort}", ["student"], cohort=cohort))
    for person, key in ((strong, "B"), (weak, "A")):
        quiz = start(client, person, mode="tutor", adaptive=False, exam_code=exam, num_questions=4)
        for _ in range(4):
            next_item(client, person, quiz["id"])
            answer(client, person, quiz["id"], key)
        client.post(f"/v1/quizzes/{quiz['id']}/finish", headers=person.headers)
    perf = client.get(
        "/v1/me/performance", params={"exam_code": exam}, headers=strong.headers
    ).json()
    assert perf["cohort"] == cohort and perf["overall"]["percentile"] == 75.0
    assert perf["overall"]["accuracy"] == 1.0 and perf["overall"]["cohort_size"] == 2
    weak_perf = client.get(
        "/v1/me/performance", params={"exam_code": exam}, headers=weak.headers
    ).json()
    assert weak_perf["overall"]["percentile"] == 25.0 and weak_perf["topics"]
    hist = client.get("/v1/quizzes", headers=strong.headers).json()
    assert len(hist) == 1 and hist[0]["raw_score"] == 4 and hist[0]["status"] == "finished"


def test_only_unseen_and_only_previously_incorrect(client, world, engine, api):
    from tests.support.people import login, make_user

    exam, qids = fresh_exam(engine, world, per_topic=2)  # 8 items
    s = login(api, make_user(engine, world.a, f"filters{uuid.uuid4().hex[:4]}", ["student"]))
    quiz = start(client, s, mode="tutor", adaptive=False, exam_code=exam, num_questions=4)
    wrong = set()
    for k in range(4):
        item = next_item(client, s, quiz["id"])["item"]
        answer(client, s, quiz["id"], "B" if k % 2 else "A")
        if k % 2 == 0:
            wrong.add(item["question_id"])
    seen = {r for r in qids} - set()
    quiz = start(
        client,
        s,
        mode="tutor",
        adaptive=False,
        exam_code=exam,
        num_questions=4,
        only_previously_incorrect=True,
    )
    got = set()
    for _ in range(2):
        got.add(next_item(client, s, quiz["id"])["item"]["question_id"])
        answer(client, s, quiz["id"], "B")
    assert got == wrong and next_item(client, s, quiz["id"])["status"] == "pool_exhausted"
    quiz = start(
        client, s, mode="tutor", adaptive=True, exam_code=exam, num_questions=8, only_unseen=True
    )
    unseen = set()
    while (out := next_item(client, s, quiz["id"]))["status"] == "active":
        unseen.add(out["item"]["question_id"])
        answer(client, s, quiz["id"], "B")
    assert len(unseen) == 4 and not unseen & got and unseen <= seen


def test_expired_exam_is_sealed(client, world, engine):
    exam, _ = fresh_exam(engine, world, per_topic=1)
    s = world.a.student
    quiz = start(client, s, mode="exam", adaptive=False, exam_code=exam, num_questions=2)
    next_item(client, s, quiz["id"])
    with engine.begin() as c:
        c.execute(
            text("UPDATE quiz_sessions SET expires_at = now() - interval '1 minute' WHERE id = :q"),
            {"q": quiz["id"]},
        )
    r = client.post(f"/v1/quizzes/{quiz['id']}/answers", json={"selected": "B"}, headers=s.headers)
    assert r.status_code == 409 and "ran out" in r.json()["detail"]
    report = client.get(f"/v1/quizzes/{quiz['id']}/report", headers=s.headers).json()
    assert report["status"] == "expired" and report["raw_score"] == 0


def test_concurrent_requests_on_one_quiz_serve_once_and_answer_once(
    world, engine, api, settings, redis_client
):
    """Racing `next` calls get the same item (one row, one exposure); racing answers: one wins."""
    import asyncio
    from datetime import UTC, datetime

    import httpx

    exam, qids = fresh_exam(engine, world, per_topic=3)
    s = world.a.student2

    async def race():
        async with httpx.AsyncClient(base_url=api.url, timeout=20) as c:
            r = await c.post(
                "/v1/quizzes", json={"exam_code": exam, "num_questions": 3}, headers=s.headers
            )
            quiz = r.json()["id"]
            nexts = await asyncio.gather(
                *(c.get(f"/v1/quizzes/{quiz}/next", headers=s.headers) for _ in range(8))
            )
            answers = await asyncio.gather(
                *(
                    c.post(f"/v1/quizzes/{quiz}/answers", json={"selected": "B"}, headers=s.headers)
                    for _ in range(6)
                )
            )
            return quiz, nexts, answers

    quiz, nexts, answers = asyncio.run(race())
    assert all(r.status_code == 200 for r in nexts), [r.text for r in nexts]
    assert len({r.json()["item"]["question_id"] for r in nexts}) == 1
    assert sorted(r.status_code for r in answers) == [200] + [409] * 5
    with engine.connect() as c:
        assert (
            c.execute(
                text("SELECT count(*) FROM quiz_items WHERE quiz_id = :q"), {"q": quiz}
            ).scalar()
            == 1
        )
        assert (
            c.execute(
                text("SELECT count(*) FROM user_responses WHERE quiz_id = :q"), {"q": quiz}
            ).scalar()
            == 1
        )
    served = nexts[0].json()["item"]["question_id"]
    day = datetime.now(UTC).strftime("%Y%m%d")
    assert (
        int(redis_client.get(f"{settings.redis_namespace}:exposure:{day}:{world.a.id}:{served}"))
        == 1
    )
    types = [t for t, _ in events_of(engine, quiz)]
    assert types == ["quiz_started", "question_served", "answer_submitted"]
