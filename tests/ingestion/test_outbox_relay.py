"""The outbox relay against the real PostgreSQL and Kafka: order per quiz, keys, Kafka down."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from psycopg.types.json import Jsonb
from sqlalchemy import Engine, text

from ingestion.events import AnswerSubmitted, QuestionServed, QuizStarted, parse_event, to_dict
from qbank.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def topic_settings(settings: Settings, migrated_db: str) -> Iterator[Settings]:
    """Settings pointing at a new 3-partition topic of this test alone."""
    name = f"{settings.kafka_topic_events}.relay.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    admin.create_topics([NewTopic(name, 3, 1)])
    yield settings.model_copy(update={"kafka_topic_events": name})
    try:
        admin.delete_topics([name])
    finally:
        admin.close()


def topic_env(s: Settings) -> dict[str, str]:
    return {"KAFKA_TOPIC_EVENTS": s.kafka_topic_events}


def relay(settings: Settings, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ingestion.outbox_relay", "--drain", "--kafka-timeout", "3", *extra],
        cwd=ROOT,
        env={**os.environ, **topic_env(settings), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def quiz_events(tenant: uuid.UUID, user: uuid.UUID, quiz: uuid.UUID, n_items: int) -> list:
    events = [
        QuizStarted(
            tenant_id=tenant,
            user_id=user,
            quiz_id=quiz,
            mode="tutor",
            adaptive=True,
            exam_code="E",
            num_questions=n_items,
        )
    ]
    for pos in range(1, n_items + 1):
        events.append(
            QuestionServed(
                tenant_id=tenant,
                user_id=user,
                quiz_id=quiz,
                question_id=pos,
                question_version_id=pos,
                version=1,
                position=pos,
                topic_id=1,
                is_pretest=False,
                parameter_set_id=None,
                a_used=1.0,
                b_used=0.0,
                c_used=0.25,
            )  # fmt: skip
        )
        events.append(
            AnswerSubmitted(
                tenant_id=tenant,
                user_id=user,
                quiz_id=quiz,
                question_id=pos,
                question_version_id=pos,
                version=1,
                position=pos,
                selected="A",
                is_correct=True,
                time_taken_ms=1000,
            )  # fmt: skip
        )
    return events


def write_outbox(engine: Engine, events: list) -> None:
    with engine.begin() as c:
        tenant = events[0].tenant_id
        c.execute(
            text(
                "INSERT INTO tenants (id, slug, name) VALUES (:i, :s, 'Relay') ON CONFLICT DO NOTHING"
            ),
            {"i": tenant, "s": f"relay-{tenant.hex[:8]}"},
        )
        raw = c.connection.driver_connection
        with raw.cursor() as cur:
            cur.executemany(
                "INSERT INTO event_outbox (event_id, event_type, tenant_id, partition_key, payload) "
                "VALUES (%s, %s, %s, %s, %s)",
                [
                    (e.event_id, e.event_type, e.tenant_id, str(e.quiz_id), Jsonb(to_dict(e)))
                    for e in events
                ],
            )


def read_topic(settings: Settings) -> list:
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    topic = settings.kafka_topic_events
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    consumer.assign(parts)
    expected = sum(consumer.end_offsets(parts).values())
    out = []
    for record in consumer:  # stops after 3 s without a record
        out.append(record)
        if len(out) >= expected:
            break
    consumer.close()
    return sorted(out, key=lambda r: (r.partition, r.offset))


def pending(engine: Engine, ids) -> list:
    with engine.connect() as c:
        return c.execute(
            text(
                "SELECT event_id, attempts, last_error FROM event_outbox WHERE published_at IS NULL AND event_id = ANY(:ids)"
            ),
            {"ids": list(ids)},
        ).all()


def test_relay_publishes_in_order_per_quiz_keyed_by_quiz(engine, topic_settings):
    tenant, user = uuid.uuid4(), uuid.uuid4()
    quizzes = [uuid.uuid4() for _ in range(4)]
    per_quiz = {q: quiz_events(tenant, user, q, 5) for q in quizzes}
    # Interleave the quizzes as concurrent students would.
    interleaved = [e for step in zip(*per_quiz.values(), strict=True) for e in step]
    write_outbox(engine, interleaved)

    done = relay(topic_settings)
    assert done.returncode == 0, done.stderr
    assert not pending(engine, [e.event_id for e in interleaved])

    records = [r for r in read_topic(topic_settings) if uuid.UUID(r.key.decode()) in per_quiz]
    assert len(records) == len(interleaved)
    for q, events in per_quiz.items():
        got = [r for r in records if r.key == str(q).encode()]
        assert len({r.partition for r in got}) == 1  # one quiz, one partition
        assert [parse_event(r.value).event_id for r in got] == [e.event_id for e in events]
        assert all(orjson.loads(r.value)["quiz_id"] == str(q) for r in got)


def test_kafka_down_keeps_events_then_delivers(engine, topic_settings):
    tenant, user, quiz = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    events = quiz_events(tenant, user, quiz, 2)
    write_outbox(engine, events)
    ids = [e.event_id for e in events]

    down = relay(topic_settings, env={"KAFKA_BOOTSTRAP": "127.0.0.1:9"})  # nothing listens there
    assert down.returncode == 0, down.stderr
    left = pending(engine, ids)
    assert len(left) == len(ids), "nothing is marked sent while Kafka is down"
    assert all(attempts >= 1 and err for _id, attempts, err in left)

    up = relay(topic_settings)
    assert up.returncode == 0, up.stderr
    assert not pending(engine, ids)
    got = [
        parse_event(r.value).event_id
        for r in read_topic(topic_settings)
        if r.key == str(quiz).encode()
    ]
    assert got == ids


def test_standby_relay_does_not_publish_while_another_leads(engine, topic_settings, settings):
    import psycopg

    from ingestion.outbox_relay import LOCK_KEY, libpq_url

    events = quiz_events(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), 1)
    write_outbox(engine, events)
    with psycopg.connect(libpq_url(settings)) as leader:
        assert leader.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]
        standby = relay(topic_settings)
        assert standby.returncode == 0
        assert "another relay is publishing" in standby.stderr
        assert len(pending(engine, [e.event_id for e in events])) == len(events)
    assert relay(topic_settings).returncode == 0
    assert not pending(engine, [e.event_id for e in events])
