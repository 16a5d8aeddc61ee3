"""What a student reads about their own work: topic path names everywhere, weekly progress over
scored answers only."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import text

from tests.support.people import login, make_user
from tests.support.quizzes import answer, fresh_exam, next_item, start


def test_topics_carry_their_path_name_everywhere(client, world, engine, api):
    arr = world.topics["Arrhythmias"]
    exam, _ = fresh_exam(engine, world, per_topic=1, topics={"Arrhythmias": arr})
    s = login(api, make_user(engine, world.a, f"paths{uuid.uuid4().hex[:4]}", ["student"]))
    topics = {t["id"]: t for t in client.get("/v1/topics", headers=s.headers).json()}
    assert topics[arr]["path_name"] == "Cardiology › Arrhythmias"
    assert topics[world.topics["Cardiology"]]["path_name"] == "Cardiology"

    quiz = start(client, s, mode="tutor", adaptive=False, exam_code=exam, num_questions=1)
    item = next_item(client, s, quiz["id"])["item"]
    assert item["topic"] == {"id": arr, "name": "Arrhythmias", "path": "Cardiology › Arrhythmias"}
    answer(client, s, quiz["id"], "B")
    nav = client.get(f"/v1/quizzes/{quiz['id']}/items", headers=s.headers).json()
    assert nav["items"][0]["topic"]["path"] == "Cardiology › Arrhythmias"
    report = client.post(f"/v1/quizzes/{quiz['id']}/finish", headers=s.headers).json()
    assert report["per_topic"][0]["topic_path"] == "Cardiology › Arrhythmias"
    assert report["review"][0]["topic"]["path"] == "Cardiology › Arrhythmias"
    perf = client.get("/v1/me/performance", params={"exam_code": exam}, headers=s.headers).json()
    assert [(t["topic_id"], t["topic_path"]) for t in perf["topics"]] == [
        (arr, "Cardiology › Arrhythmias")
    ]

    # A topic created over the API gets its path name at once, and in the list.
    author = world.a.author
    r = client.post(
        "/v1/topics", json={"name": f"Drugs {uuid.uuid4().hex[:4]}", "parent_id": arr},
        headers=author.headers,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["path_name"] == f"Cardiology › Arrhythmias › {r.json()['name']}"
    listed = {t["id"]: t for t in client.get("/v1/topics", headers=s.headers).json()}
    assert listed[r.json()["id"]]["path_name"] == r.json()["path_name"]


def test_progress_by_week_over_scored_answers(client, world, engine, api):
    exam, _ = fresh_exam(engine, world, per_topic=2)  # key B
    s = login(api, make_user(engine, world.a, f"progress{uuid.uuid4().hex[:4]}", ["student"]))
    assert client.get("/v1/me/progress", headers=s.headers).json() == {
        "exam_code": None,
        "weeks": [],
    }
    # Week 1 (moved back by SQL): a tutor quiz, 2 of 3 right.
    old = start(client, s, mode="tutor", adaptive=False, exam_code=exam, num_questions=3)["id"]
    for key in "BBA":
        next_item(client, s, old)
        answer(client, s, old, key)
    client.post(f"/v1/quizzes/{old}/finish", headers=s.headers)
    with engine.begin() as c:
        c.execute(
            text(
                "UPDATE user_responses SET updated_at = updated_at - interval '7 days' "
                "WHERE quiz_id = :q"
            ),
            {"q": old},
        )
        c.execute(
            text(
                "UPDATE quiz_sessions SET finished_at = finished_at - interval '7 days' "
                "WHERE id = :q"
            ),
            {"q": old},
        )
    # This week: an exam, 1 of 2 right, running (counts for nothing), then sealed.
    ex = start(client, s, mode="exam", adaptive=False, exam_code=exam, num_questions=2)["id"]
    for key in "BA":
        next_item(client, s, ex)
        answer(client, s, ex, key)
    running = client.get("/v1/me/progress", params={"exam_code": exam}, headers=s.headers).json()
    assert [w["answered"] for w in running["weeks"]] == [3]
    report = client.post(f"/v1/quizzes/{ex}/finish", headers=s.headers).json()
    prog = client.get("/v1/me/progress", params={"exam_code": exam}, headers=s.headers).json()
    today = dt.datetime.now(dt.UTC).date()
    monday = today - dt.timedelta(days=today.weekday())
    last_monday = monday - dt.timedelta(days=7)
    with engine.connect() as c:
        old_scaled = c.execute(
            text("SELECT scaled_score FROM quiz_sessions WHERE id = :q"), {"q": old}
        ).scalar_one()
    assert prog == {
        "exam_code": exam,
        "weeks": [
            {
                "week_start": last_monday.isoformat(),
                "answered": 3,
                "correct": 2,
                "accuracy": 2 / 3,
                "quizzes": 1,
                "mean_scaled_score": float(old_scaled),
            },
            {
                "week_start": monday.isoformat(),
                "answered": 2,
                "correct": 1,
                "accuracy": 0.5,
                "quizzes": 1,
                "mean_scaled_score": float(report["scaled_score"]),
            },
        ],
    }
    other = client.get("/v1/me/progress", params={"exam_code": "NOPE"}, headers=s.headers)
    assert other.json()["weeks"] == []
    r = client.get("/v1/me/progress", headers=world.a.author.headers)
    assert r.status_code == 403
