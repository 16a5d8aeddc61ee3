"""Quiz states kept in memory between a student's requests (serving_api.services.quiz_cache).

The copy saves the read of the usual next → answer → next, and must never be trusted over what is
stored: two API processes serving one quiz in turn, and a direct UPDATE of the session row, must
give exactly the answers and rows that reading every state from PostgreSQL gives.
"""

from __future__ import annotations

import random

import httpx
import numpy as np
import pytest
from sqlalchemy import text

from irt_models.ability import eap
from tests.support.api_server import start_server, stop_server
from tests.support.quizzes import events_of, fresh_exam, start


def metric(body: str, name: str, labels: str = "") -> float:
    prefix = name + (labels and "{" + labels + "}")
    return sum(
        float(line.split()[-1]) for line in body.splitlines() if line.startswith(prefix + " ")
    )


def reads(client: httpx.Client) -> tuple[float, float]:
    body = client.get("/metrics").text
    name = "qbank_quiz_state_reads_total"
    return metric(body, name, 'source="cache"'), metric(body, name, 'source="database"')


@pytest.fixture(scope="module")
def second_api(api):
    """Another API process on the same database, Redis and Kafka (a second pod)."""
    server = start_server("cache-b")
    yield server
    stop_server(server)


def test_usual_flow_reads_no_state_from_the_database(client, world, engine):
    exam, _ = fresh_exam(engine, world, per_topic=2)
    s = world.a.student
    quiz = start(client, s, mode="tutor", adaptive=True, exam_code=exam, num_questions=4)
    cache0, db0 = reads(client)
    for _ in range(4):
        r = client.get(f"/v1/quizzes/{quiz['id']}/next", headers=s.headers)
        assert r.status_code == 200 and r.json()["status"] == "active", r.text
        r = client.post(
            f"/v1/quizzes/{quiz['id']}/answers", json={"selected": "B"}, headers=s.headers
        )
        assert r.status_code == 200, r.text
    cache1, db1 = reads(client)
    assert (cache1 - cache0, db1 - db0) == (8, 0)
    # Calling next again before answering is a read: it is answered from a fresh one.
    client.get(f"/v1/quizzes/{quiz['id']}/next", headers=s.headers)
    assert reads(client)[1] == db1 + 1


def test_two_processes_serving_one_quiz_in_turn_agree_with_the_database(
    client, second_api, world, engine
):
    """Each request goes to either process at random (no sticky sessions): the quiz ends with
    one row per position, each answered once, θ as EAP of the stored answers, the events in
    order, and every answer the same as from a state read just then."""
    rng = random.Random(7)
    exam, _ = fresh_exam(engine, world, per_topic=3)
    s = world.a.student2
    n = 10
    apis = [client, httpx.Client(base_url=second_api.url, timeout=20)]
    quiz = start(apis[1], s, mode="tutor", adaptive=True, exam_code=exam, num_questions=n)
    qid = quiz["id"]
    served = []
    for k in range(n):
        out = rng.choice(apis).get(f"/v1/quizzes/{qid}/next", headers=s.headers)
        assert out.status_code == 200, out.text
        item = out.json()
        assert item["position"] == k + 1 and item["answered"] == k
        again = rng.choice(apis).get(f"/v1/quizzes/{qid}/next", headers=s.headers).json()
        assert again["item"]["question_id"] == item["item"]["question_id"]
        served.append(item["item"]["question_id"])
        fb = rng.choice(apis).post(
            f"/v1/quizzes/{qid}/answers", json={"selected": rng.choice("AB")}, headers=s.headers
        )
        assert fb.status_code == 200 and fb.json()["position"] == k + 1, fb.text
        late = rng.choice(apis).post(
            f"/v1/quizzes/{qid}/answers", json={"selected": "A"}, headers=s.headers
        )
        assert late.status_code == 409 and "no item is waiting" in late.json()["detail"]
    assert len(set(served)) == n
    finished = apis[0].post(f"/v1/quizzes/{qid}/finish", headers=s.headers)
    assert finished.status_code == 200 and finished.json()["status"] == "finished"
    for api_client in apis:  # both processes know it is over, whatever they held
        r = api_client.get(f"/v1/quizzes/{qid}/next", headers=s.headers)
        assert r.status_code == 409 and "quiz is finished" in r.json()["detail"]
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT i.position, i.question_id, i.a, i.b, i.c, r.is_correct, "
                "(SELECT count(*) FROM user_responses x WHERE x.quiz_item_id = i.id) "
                "FROM quiz_items i JOIN user_responses r ON r.quiz_item_id = i.id "
                "WHERE i.quiz_id = :q ORDER BY i.position"
            ),
            {"q": qid},
        ).all()
        ses = c.execute(
            text("SELECT theta, raw_score, state_version FROM quiz_sessions WHERE id = :q"),
            {"q": qid},
        ).one()
    assert [r[0] for r in rows] == list(range(1, n + 1)) and [r[1] for r in rows] == served
    assert all(r[6] == 1 for r in rows)
    est = eap(np.array([r[5] for r in rows]), [r[2] for r in rows], [r[3] for r in rows],
              [r[4] for r in rows])  # fmt: skip
    assert ses.theta == pytest.approx(est.theta, abs=1e-9)
    assert ses.raw_score == sum(r[5] for r in rows)
    assert ses.state_version == 2 * n + 1  # every serve, answer and the seal; nothing else
    types = [t for t, _ in events_of(engine, qid)]
    assert types == ["quiz_started"] + ["question_served", "answer_submitted"] * n + [
        "quiz_finished"
    ]
    apis[1].close()


def test_linear_exam_marks_and_revisits_across_processes(client, second_api, world, engine):
    exam, _ = fresh_exam(engine, world, per_topic=2)
    s = world.a.student2
    other = httpx.Client(base_url=second_api.url, timeout=20)
    quiz = start(client, s, mode="exam", adaptive=False, exam_code=exam, num_questions=3)
    qid = quiz["id"]
    for api_client in (client, other, client):
        assert api_client.get(f"/v1/quizzes/{qid}/next", headers=s.headers).status_code == 200
        r = api_client.post(f"/v1/quizzes/{qid}/answers", json={"selected": "A"}, headers=s.headers)
        assert r.status_code == 200, r.text
    mark = other.post(f"/v1/quizzes/{qid}/items/1/mark", json={"marked": True}, headers=s.headers)
    assert mark.status_code == 200 and mark.json()["revisitable"] is True
    change = client.post(
        f"/v1/quizzes/{qid}/answers", json={"selected": "B", "position": 1}, headers=s.headers
    )
    assert change.status_code == 200 and change.json()["revision"] == 2, change.text
    unmark = client.post(
        f"/v1/quizzes/{qid}/items/1/mark", json={"marked": False}, headers=s.headers
    )
    assert unmark.status_code == 200
    again = other.post(
        f"/v1/quizzes/{qid}/answers", json={"selected": "C", "position": 1}, headers=s.headers
    )
    # Unmarked, still changeable (a linear exam's answers change until finish), and the other
    # process's outdated copy costs a fresh read, not a lost revision.
    assert again.status_code == 200 and again.json()["revision"] == 3, again.text
    with engine.connect() as c:
        got = c.execute(
            text(
                "SELECT r.selected_label, r.revision, i.marked FROM user_responses r "
                "JOIN quiz_items i ON i.id = r.quiz_item_id WHERE i.quiz_id = :q AND i.position = 1"
            ),
            {"q": qid},
        ).one()
    assert tuple(got) == ("C", 3, False)
    other.close()


def test_any_update_of_the_session_row_bumps_its_state_version(client, world, engine):
    """An operator's direct UPDATE outdates every copy: the next write re-reads (the trigger)."""
    exam, _ = fresh_exam(engine, world, per_topic=2)
    s = world.a.student
    quiz = start(client, s, mode="tutor", adaptive=True, exam_code=exam, num_questions=3)
    client.get(f"/v1/quizzes/{quiz['id']}/next", headers=s.headers)
    with engine.begin() as c:
        before = c.execute(
            text("SELECT state_version FROM quiz_sessions WHERE id = :q"), {"q": quiz["id"]}
        ).scalar()
        c.execute(
            text("UPDATE quiz_sessions SET num_questions = 2 WHERE id = :q"), {"q": quiz["id"]}
        )
        after = c.execute(
            text("SELECT state_version FROM quiz_sessions WHERE id = :q"), {"q": quiz["id"]}
        ).scalar()
    assert after == before + 1
    client.post(f"/v1/quizzes/{quiz['id']}/answers", json={"selected": "B"}, headers=s.headers)
    client.get(f"/v1/quizzes/{quiz['id']}/next", headers=s.headers)
    client.post(f"/v1/quizzes/{quiz['id']}/answers", json={"selected": "B"}, headers=s.headers)
    # The edit (2 questions, not 3) is what the API now works from.
    done = client.get(f"/v1/quizzes/{quiz['id']}/next", headers=s.headers).json()
    assert done["status"] == "complete" and done["num_questions"] == 2
