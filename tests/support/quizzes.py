"""Small helpers for delivery tests: a fresh exam code per test, quiz calls, table snapshots."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import Engine, text

from tests.support import bank


def fresh_exam(
    engine: Engine, world, per_topic: int = 5, topics: dict[str, int] | None = None, **kw
) -> tuple[str, list[int]]:
    exam = f"EX-{uuid.uuid4().hex[:8]}"
    qids = bank.publish_items(
        engine, world.a.id, world.a.admin.id, exam, topics or world.topics, per_topic, **kw
    )
    return exam, qids


def start(client: httpx.Client, person, **body) -> dict:
    r = client.post("/v1/quizzes", json=body, headers=person.headers)
    assert r.status_code == 201, r.text
    return r.json()


def next_item(client: httpx.Client, person, quiz_id) -> dict:
    r = client.get(f"/v1/quizzes/{quiz_id}/next", headers=person.headers)
    assert r.status_code == 200, r.text
    return r.json()


def answer(client: httpx.Client, person, quiz_id, selected: str, **extra) -> dict:
    r = client.post(
        f"/v1/quizzes/{quiz_id}/answers",
        json={"selected": selected, **extra},
        headers=person.headers,
    )
    assert r.status_code == 200, r.text
    return r.json()


def events_of(engine: Engine, quiz_id) -> list[tuple[str, dict]]:
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT event_type, payload FROM event_outbox WHERE partition_key = :q ORDER BY id"
            ),
            {"q": str(quiz_id)},
        ).all()
    return [(r[0], r[1]) for r in rows]


SNAPSHOT_TABLES = (
    "tenants", "users", "topics", "questions", "question_versions", "question_options",
    "question_publications", "version_transitions", "quiz_sessions", "quiz_items",
    "user_responses", "event_outbox", "item_parameter_sets", "item_parameters",
)  # fmt: skip


def snapshot(engine: Engine) -> dict[str, str]:
    """An md5 of every row of every table the API writes: equal snapshots, nothing changed."""
    out = {}
    with engine.connect() as c:
        for t in SNAPSHOT_TABLES:
            out[t] = c.execute(
                text(
                    f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM {t} x"
                )
            ).scalar()
    return out
