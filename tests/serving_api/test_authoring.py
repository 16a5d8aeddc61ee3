"""Authoring over HTTP: topics, the review workflow per role, publication upserts, edits, import."""

from __future__ import annotations

import orjson
from sqlalchemy import text

from tests.serving_api.bank import make_topics


def content(topic_id: int, key: str = "B", stem: str = "A 64-year-old man has chest pain.") -> dict:
    return {
        "topic_id": topic_id,
        "stem_md": stem,
        "lead_in": "Which artery is occluded?",
        "options": [
            {"label": "A", "text_md": "LAD"},
            {"label": "B", "text_md": "RCA"},
            {"label": "C", "text_md": "LCx"},
        ],
        "correct_label": key,
        "rationale_md": "Inferior leads map to the **RCA**.",
        "difficulty_label": "hard",
        "bloom_level": 3,
        "tags": {"system": "cv"},
        "assets": ["https://example.org/ecg.png"],
        "references": ["Harrison 21e"],
    }


def test_topics_hierarchy(client, world):
    h = world.a.author.headers
    root = client.post("/v1/topics", json={"name": "Neuro", "blueprint_code": "N"}, headers=h)
    assert root.status_code == 201, root.text
    child = client.post(
        "/v1/topics", json={"name": "Stroke", "parent_id": root.json()["id"]}, headers=h
    )
    assert child.status_code == 201
    assert child.json()["path"] == f"{root.json()['path']}.t{child.json()['id']}"
    dup = client.post("/v1/topics", json={"name": "neuro"}, headers=h)
    assert dup.status_code == 409 and "already exists" in dup.json()["detail"]
    # A parent from another tenant does not exist for this caller.
    other = client.post(
        "/v1/topics",
        json={"name": "X", "parent_id": root.json()["id"]},
        headers=world.b.author.headers,
    )
    assert other.status_code == 422
    listed = client.get("/v1/topics", headers=world.a.student.headers).json()
    assert {"Neuro", "Stroke"} <= {t["name"] for t in listed}
    assert all(t["name"] != "Neuro" or t["id"] == root.json()["id"] for t in listed)
    assert "Neuro" not in {
        t["name"] for t in client.get("/v1/topics", headers=world.b.student.headers).json()
    }


def test_workflow_publish_upsert_and_new_version(client, world, engine):
    topic = world.topics["Renal"]
    author, publisher = world.a.author.headers, world.a.publisher.headers
    r = client.post("/v1/questions", json=content(topic) | {"external_ref": "WF-1"}, headers=author)
    assert r.status_code == 201, r.text
    q = r.json()
    qid = q["id"]
    assert [v["state"] for v in q["versions"]] == ["draft"]

    # Authors cannot approve or publish; publishers cannot author.
    assert client.post(f"/v1/questions/{qid}/versions/1/approve", headers=author).status_code == 403
    pub = {"exam_codes": ["WF-EXAM"]}
    assert (
        client.post(f"/v1/questions/{qid}/versions/1/publish", json=pub, headers=author).status_code
        == 403
    )
    assert client.post("/v1/questions", json=content(topic), headers=publisher).status_code == 403
    # Skipping review is refused for everyone (the seed let authors publish directly).
    r = client.post(f"/v1/questions/{qid}/versions/1/publish", json=pub, headers=publisher)
    assert r.status_code == 409 and "draft" in r.json()["detail"]

    # Edit the draft in place (same version), submit, return with a comment, resubmit.
    r = client.put(f"/v1/questions/{qid}", json=content(topic, key="A"), headers=author)
    assert r.status_code == 200 and len(r.json()["versions"]) == 1
    assert r.json()["versions"][0]["correct_label"] == "A"
    assert client.post(f"/v1/questions/{qid}/versions/1/submit", headers=author).status_code == 200
    assert (
        client.put(f"/v1/questions/{qid}", json=content(topic), headers=author).status_code == 409
    )
    r = client.post(f"/v1/questions/{qid}/versions/1/return", json={}, headers=publisher)
    assert r.status_code == 422  # a return needs a comment
    r = client.post(
        f"/v1/questions/{qid}/versions/1/return",
        json={"comment": "Key should be B"},
        headers=publisher,
    )
    assert r.status_code == 200
    v1 = r.json()["versions"][0]
    assert v1["state"] == "draft" and v1["review_comment"] == "Key should be B"
    client.put(f"/v1/questions/{qid}", json=content(topic, key="B"), headers=author)
    client.post(f"/v1/questions/{qid}/versions/1/submit", headers=author)
    assert (
        client.post(f"/v1/questions/{qid}/versions/1/approve", headers=publisher).status_code == 200
    )
    r = client.post(f"/v1/questions/{qid}/versions/1/publish", json=pub, headers=publisher)
    assert r.status_code == 200, r.text
    assert r.json()["live"] == {"WF-EXAM": 1}
    # Publishing again is an upsert, never a duplicate row.
    r = client.post(
        f"/v1/questions/{qid}/versions/1/publish",
        json={"exam_codes": ["WF-EXAM", "WF-2"]},
        headers=publisher,
    )
    assert r.status_code == 200 and r.json()["live"] == {"WF-EXAM": 1, "WF-2": 1}
    with engine.connect() as c:
        n = c.execute(
            text("SELECT count(*) FROM question_publications WHERE question_id = :q"), {"q": qid}
        ).scalar()
    assert n == 2

    # Editing a published question makes version 2 as a draft; version 1 stays live. The edit
    # must say its kind once the question has been published.
    r = client.put(f"/v1/questions/{qid}", json=content(topic, stem="Revised stem"), headers=author)
    assert r.status_code == 422 and "edit_kind is required" in r.json()["detail"]
    r = client.put(
        f"/v1/questions/{qid}",
        json=content(topic, stem="Revised stem") | {"edit_kind": "minor"},
        headers=author,
    )
    assert r.status_code == 200
    states = {v["version"]: v["state"] for v in r.json()["versions"]}
    assert states == {1: "published", 2: "draft"} and r.json()["live"] == {"WF-EXAM": 1, "WF-2": 1}
    for action in ("submit",):
        assert (
            client.post(f"/v1/questions/{qid}/versions/2/{action}", headers=author).status_code
            == 200
        )
    client.post(f"/v1/questions/{qid}/versions/2/approve", headers=publisher)
    r = client.post(
        f"/v1/questions/{qid}/versions/2/publish",
        json={"exam_codes": ["WF-EXAM"]},
        headers=publisher,
    )
    assert r.json()["live"] == {"WF-EXAM": 2, "WF-2": 1}
    r = client.post(
        f"/v1/questions/{qid}/versions/2/publish", json={"exam_codes": ["WF-2"]}, headers=publisher
    )
    states = {v["version"]: v["state"] for v in r.json()["versions"]}
    assert states == {1: "retired", 2: "published"}  # superseded everywhere
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT exam_code, question_version_id FROM question_publications WHERE question_id = :q"
            ),
            {"q": qid},
        ).all()
        transitions = c.execute(
            text(
                "SELECT count(*) FROM version_transitions t JOIN question_versions v "
                "ON v.id = t.question_version_id WHERE v.question_id = :q"
            ),
            {"q": qid},
        ).scalar()
    assert len(rows) == 2 and len({r[1] for r in rows}) == 1
    assert transitions >= 10

    # Retire: gone from every exam code.
    r = client.post(
        f"/v1/questions/{qid}/versions/2/retire", json={"comment": "outdated"}, headers=publisher
    )
    assert r.status_code == 200 and r.json()["live"] == {}
    assert (
        client.post(f"/v1/questions/{qid}/versions/2/retire", headers=publisher).status_code == 409
    )

    # The review queue lists by the latest version's state.
    client.post("/v1/questions", json=content(topic), headers=author)
    queue = client.get("/v1/questions", params={"state": "draft"}, headers=publisher).json()
    assert all(item["latest_state"] == "draft" for item in queue) and queue


def test_bulk_import_reports_each_line(client, world, engine):
    make_topics(engine, world.a.id, {"Import topic": ["Sub"]})
    good = content(world.topics["Renal"]) | {"external_ref": "IMP-1"}
    by_name = {k: v for k, v in content(0).items() if k != "topic_id"} | {
        "topic": "Import topic/Sub",
        "external_ref": "IMP-2",
    }
    lines = [
        orjson.dumps(good).decode(),
        "{not json",
        orjson.dumps(content(world.topics["Renal"], key="Z")).decode(),
        orjson.dumps(by_name).decode(),
        "",
        orjson.dumps(good).decode(),  # same external_ref again
        orjson.dumps(
            {k: v for k, v in by_name.items()} | {"topic": "Nowhere", "external_ref": "IMP-3"}
        ).decode(),
    ]
    r = client.post(
        "/v1/questions/import",
        content="\n".join(lines).encode(),
        headers=world.a.author.headers | {"content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["accepted"] == 2 and report["rejected"] == 4
    by_line = {x["line"]: x for x in report["lines"]}
    assert by_line[1]["status"] == "accepted" and by_line[4]["status"] == "accepted"
    assert "not JSON" in by_line[2]["errors"][0]
    assert "correct_label" in " ".join(by_line[3]["errors"])
    assert "repeats" in by_line[6]["errors"][0]
    assert "not found" in by_line[7]["errors"][0]
    with engine.connect() as c:
        n = c.execute(
            text("SELECT count(*) FROM questions WHERE external_ref LIKE 'IMP-%'")
        ).scalar()
    assert n == 2
    # Importing the same accepted line again is rejected as a duplicate, nothing added.
    r = client.post(
        "/v1/questions/import", content=lines[0].encode(), headers=world.a.author.headers
    )
    assert r.json()["rejected"] == 1 and "already used" in r.json()["lines"][0]["errors"][0]
