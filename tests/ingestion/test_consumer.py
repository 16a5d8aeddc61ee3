"""The Kafka → raw loader on the real stack: exactly once, duplicates, dead letters, offsets."""

from __future__ import annotations

import sys
import threading
import time
import uuid

import orjson
import psycopg
import pytest
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import Engine, text

from bench.synthetic import as_messages, create_bank, produce, quiz_events
from ingestion.consumer import EventConsumer, consumer_lag
from ingestion.events import EventEnvelope, QuizStarted, serialize_event
from qbank.settings import Settings
from tests.ingestion.support import assert_batches_atomic, landed


def _end_offsets(s: Settings) -> dict[int, int]:
    c = KafkaConsumer(bootstrap_servers=s.kafka_bootstrap)
    try:
        tps = [TopicPartition(s.kafka_topic_events, p) for p in range(3)]
        return {tp.partition: o for tp, o in c.end_offsets(tps).items()}
    finally:
        c.close()


def _payload_of(event: EventEnvelope) -> dict:
    envelope = set(EventEnvelope.model_fields)
    return {k: v for k, v in event.model_dump(mode="json").items() if k not in envelope}


def test_events_land_once_with_their_offsets(engine: Engine, topic_settings: Settings) -> None:
    s = topic_settings
    bank = create_bank(engine, n_items=12, n_users=4, seed=1)
    events = list(quiz_events(bank, n_quizzes=6, items_per_quiz=5, revise_share=0.5))
    produce(s.kafka_bootstrap, s.kafka_topic_events, as_messages(events))

    report = EventConsumer(s, batch_size=7).run_until_caught_up()

    assert report.loaded == len(events) and report.messages == len(events)
    assert report.duplicates == 0 and report.dead_lettered == 0
    assert report.batches > 1  # small batches: several transactions, all committed
    with engine.connect() as c:
        rows = {
            r.event_id: r
            for r in c.execute(
                text(
                    "SELECT event_id, event_type, schema_version, occurred_at, tenant_id, "
                    "user_id, quiz_id, payload FROM raw.events WHERE source_topic = :t"
                ),
                {"t": s.kafka_topic_events},
            )
        }
    assert len(rows) == len(events)
    for e in events:
        r = rows[e.event_id]
        assert (r.event_type, r.schema_version, r.tenant_id, r.user_id, r.quiz_id) == (
            e.event_type,
            e.schema_version,
            e.tenant_id,
            e.user_id,
            e.quiz_id,
        )
        assert r.occurred_at == e.occurred_at
        assert r.payload == _payload_of(e)
    # The stored offsets are the end of the log, and nothing is read twice on a second run.
    stored = assert_batches_atomic(engine, s.kafka_topic_events)
    assert stored == {p: o for p, o in _end_offsets(s).items() if o}
    again = EventConsumer(s).run_until_caught_up()
    assert (again.messages, again.loaded) == (0, 0)


def test_duplicate_event_id_lands_once(engine: Engine, topic_settings: Settings) -> None:
    s = topic_settings
    bank = create_bank(engine, n_items=3, n_users=1, seed=2)
    event = next(quiz_events(bank, n_quizzes=1, items_per_quiz=2))
    # Twice in one batch, then again (a relay re-publishing after a crash) in a later run.
    produce(s.kafka_bootstrap, s.kafka_topic_events, as_messages([event, event]))
    first = EventConsumer(s).run_until_caught_up()
    produce(s.kafka_bootstrap, s.kafka_topic_events, as_messages([event]))
    second = EventConsumer(s).run_until_caught_up()

    assert (first.loaded, first.duplicates) == (1, 1)
    assert (second.messages, second.loaded, second.duplicates) == (1, 0, 1)
    got = landed(engine, s.kafka_topic_events)
    assert [r.event_id for r in got["events"]] == [event.event_id]
    assert got["events"][0].source_offset == 0  # the first copy is the one kept


def test_malformed_events_are_dead_lettered_and_the_run_succeeds(
    engine: Engine, topic_settings: Settings
) -> None:
    s = topic_settings
    bank = create_bank(engine, n_items=3, n_users=1, seed=3)
    good = list(quiz_events(bank, n_quizzes=1, items_per_quiz=2))
    base = orjson.loads(serialize_event(good[2]))  # an answer_submitted

    def variant(**changes) -> bytes:
        d = dict(base, event_id=str(uuid.uuid4()))
        for k, v in changes.items():
            if v is ...:
                d.pop(k)
            else:
                d[k] = v
        return orjson.dumps(d)

    bad = {
        b"bad-json": (b'{"event_type": "answer_submitted", ', "not valid JSON"),
        b"not-object": (b"[1, 2, 3]", "must be a JSON object"),
        b"not-utf8": (b"\xff\xfe\x00garbage", "not valid JSON"),
        b"unknown-type": (variant(event_type="quiz_paused"), "unknown event_type 'quiz_paused'"),
        b"missing-field": (variant(is_correct=...), "is_correct: Field required"),
        b"wrong-type": (variant(position="third"), "position: Input should be a valid integer"),
        b"bad-uuid": (variant(user_id="nobody"), "user_id"),
        b"naive-time": (variant(occurred_at="2026-01-05T08:00:00"), "occurred_at"),
        b"future-version": (variant(schema_version=2), "unsupported schema_version 2"),
        b"no-version": (variant(schema_version=...), "unsupported schema_version None"),
        b"extra-field": (variant(answer_text="x"), "answer_text: Extra inputs are not permitted"),
        b"tombstone": (None, "empty message"),
    }
    messages = [*as_messages(good[:2]), *((k, v) for k, (v, _) in bad.items())]
    messages.append(next(as_messages(good[2:])))
    produce(s.kafka_bootstrap, s.kafka_topic_events, messages)

    report = EventConsumer(s, batch_size=5).run_until_caught_up()

    assert (report.loaded, report.dead_lettered) == (3, len(bad))
    with engine.connect() as c:
        dead = c.execute(
            text(
                'SELECT key, value, reason, partition, "offset" FROM raw.dead_letters '
                "WHERE topic = :t"
            ),
            {"t": s.kafka_topic_events},
        ).all()
    by_key = {bytes(d.key): d for d in dead}
    assert set(by_key) == set(bad)
    for key, (value, reason) in bad.items():
        d = by_key[key]
        assert (bytes(d.value) if d.value is not None else None) == value
        assert reason in d.reason, (key, d.reason)
    assert_batches_atomic(engine, s.kafka_topic_events)  # dead letters advance offsets too


def test_copy_escaping_keeps_payload_text_exact(engine: Engine, topic_settings: Settings) -> None:
    s = topic_settings
    tricky = 'tab\there, newline\nthere, back\\slash \\N, quote " and ünïcødé ✓, nul-ish \\0'
    event = QuizStarted(
        tenant_id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        quiz_id=uuid.uuid4(),
        mode="exam",
        adaptive=False,
        exam_code="STEP1",
        num_questions=10,
        filters={"note": tricky, "topics": [1, 2], "nested": {"k\\ey": tricky}},
    )
    produce(s.kafka_bootstrap, s.kafka_topic_events, as_messages([event]))
    assert EventConsumer(s).run_until_caught_up().loaded == 1
    with engine.connect() as c:
        payload = c.execute(
            text("SELECT payload FROM raw.events WHERE event_id = :e"), {"e": event.event_id}
        ).scalar_one()
    assert payload["filters"] == {"note": tricky, "topics": [1, 2], "nested": {"k\\ey": tricky}}


def test_group_mode_seeks_from_postgres_offsets(engine: Engine, topic_settings: Settings) -> None:
    """Service mode resumes where PostgreSQL says, whatever Kafka's group offsets are."""
    s = topic_settings
    bank = create_bank(engine, n_items=5, n_users=3, seed=4)
    events = list(quiz_events(bank, n_quizzes=9, items_per_quiz=3))
    produce(s.kafka_bootstrap, s.kafka_topic_events, as_messages(events))
    end = _end_offsets(s)
    busy = max(end, key=end.get)
    skip_to = end[busy] // 2
    with engine.begin() as c:  # pretend an earlier run loaded the first half of one partition
        c.execute(
            text(
                "INSERT INTO raw.ingestion_offsets (consumer_group, topic, partition, next_offset) "
                "VALUES (:g, :t, :p, :o)"
            ),
            {"g": s.kafka_consumer_group, "t": s.kafka_topic_events, "p": busy, "o": skip_to},
        )
    expected = len(events) - skip_to
    stop = threading.Event()
    consumer = EventConsumer(s, batch_size=4)
    worker = threading.Thread(target=consumer.run_forever, args=(stop,))
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while consumer.report.loaded < expected and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        worker.join(30)
    assert consumer.report.loaded == expected
    got = landed(engine, s.kafka_topic_events)
    offsets_busy = sorted(o for _e, p, o in got["events"] if p == busy)
    assert offsets_busy == list(range(skip_to, end[busy]))
    assert {p: o for p, o in got["offsets"]} == {p: o for p, o in end.items() if o}


def test_consumer_lag_counts_what_is_not_loaded(engine: Engine, topic_settings: Settings) -> None:
    s = topic_settings
    bank = create_bank(engine, n_items=3, n_users=1, seed=5)
    events = list(quiz_events(bank, n_quizzes=2, items_per_quiz=3))
    produce(s.kafka_bootstrap, s.kafka_topic_events, as_messages(events))
    assert sum(consumer_lag(s).values()) == len(events)
    EventConsumer(s).run_until_caught_up()
    assert sum(consumer_lag(s).values()) == 0


def test_switch_interval_is_restored_after_a_run_and_a_failed_start(
    engine: Engine, topic_settings: Settings
) -> None:
    """The consumer shortens the GIL switch interval while it runs, never beyond."""
    before = sys.getswitchinterval()
    seen: list[float] = []
    s = topic_settings
    bank = create_bank(engine, n_items=3, n_users=1, seed=3)
    produce(
        s.kafka_bootstrap,
        s.kafka_topic_events,
        as_messages(quiz_events(bank, n_quizzes=1, items_per_quiz=2)),
    )
    EventConsumer(s, on_batch=lambda _: seen.append(sys.getswitchinterval())).run_until_caught_up()
    assert seen and all(v < before for v in seen)
    assert sys.getswitchinterval() == before
    unreachable = s.model_copy(
        update={"database_url": "postgresql+psycopg://qbank:qbank@127.0.0.1:1/qbank"}
    )
    with pytest.raises(psycopg.OperationalError):
        EventConsumer(unreachable).run_until_caught_up()
    assert sys.getswitchinterval() == before
