"""Kafka broker killed during student traffic: no request fails or waits on Kafka; after the
broker returns, the relay drains the outbox and every event lands in raw.events exactly once.

Real processes end to end: API server, outbox relay, Kafka consumer, and a private Kafka broker
(SIGKILLed, then restarted on the same log dirs) — the shared broker is never touched.
"""

from __future__ import annotations

import statistics
import time
import uuid

from sqlalchemy import Engine

from tests.reliability.events import exactly_once, ingest_report, pending, wait_until
from tests.reliability.services import PrivateServices, QBankProcess
from tests.reliability.traffic import StudentTraffic
from tests.support.api_server import start_server, stop_server
from tests.support.banks import Bank


def kafka_outage(
    db_url: str,
    engine: Engine,
    bank: Bank,
    *,
    students: int = 12,
    before_s: float = 2.0,
    outage_s: float = 4.0,
    after_s: float = 3.0,
) -> dict:
    """Run the scenario; returns its figures (the assertions are the caller's)."""
    tag = uuid.uuid4().hex[:8]
    topic = f"events.qbank.rel-kafka-{tag}"
    kafka = PrivateServices("kafka", {"kafka"}, topic=topic)
    procs: list[QBankProcess] = []
    server = traffic = None
    try:
        kafka.up()
        env = {
            "DATABASE_URL": db_url,
            "KAFKA_BOOTSTRAP": kafka.kafka_bootstrap,
            "KAFKA_TOPIC_EVENTS": topic,
            "KAFKA_CONSUMER_GROUP": f"rel-kafka-{tag}",
        }
        server = start_server("rel-kafka", env | {"REDIS_NAMESPACE": f"rel-kafka-{tag}"})
        relay = QBankProcess(
            "relay-kafka-outage", "ingestion.outbox_relay", ["--kafka-timeout", "2"], env
        )
        consumer = QBankProcess(
            "consumer-kafka-outage", "ingestion.consumer", ["--batch-size", "200"], env
        )
        procs = [relay.start(), consumer.start()]
        tokens = [s.token for s in bank.students[:students]]
        traffic = StudentTraffic(server.url, tokens, bank.exam).start()

        traffic.phase = "kafka up"
        traffic.wait_for("kafka up", successes=3 * students)
        time.sleep(before_s)
        wait_until("the relay to publish", lambda: pending(engine, traffic.quizzes) < 50, 30)

        kafka.kill("kafka")
        traffic.phase = "kafka down"
        down_at = time.monotonic()
        time.sleep(outage_s)
        backlog = pending(engine, traffic.quizzes)
        kafka.up()  # same log dirs; the students go on while it starts
        traffic.phase = "kafka back"
        back_at = time.monotonic()
        outage = back_at - down_at
        time.sleep(after_s)
        traffic.stop()
        drain_s = wait_until(
            "the outbox to drain", lambda: pending(engine, traffic.quizzes) == 0, 120
        )
        ingest_s = wait_until(
            "raw.events to hold every event",
            lambda: _all_loaded(engine, traffic.quizzes),
            120,
        )
        loaded_s = time.monotonic() - back_at
        consumer.stop()
        relay.stop()
        figures = {
            "phases": {p: traffic.summary(p) for p in ("kafka up", "kafka down", "kafka back")},
            "calls": traffic.of(),
            "outage_s": round(outage, 1),
            "backlog_during_outage": backlog,
            "drain_s_after_students_stopped": round(drain_s, 1),
            "ingest_s_after_drain": round(ingest_s, 1),
            "all_loaded_s_after_broker_back": round(loaded_s, 1),
            "quizzes": len(traffic.quizzes),
            "relay_log": relay.logs(),
            "ingest": ingest_report(consumer.logs()),
            **exactly_once(engine, traffic.quizzes),
        }
        return figures
    finally:
        if traffic is not None and traffic._thread and traffic._thread.is_alive():
            traffic._stop.set()
        for p in procs:
            p.stop()
        if server is not None:
            stop_server(server)
        kafka.cleanup()


def no_slower_without_kafka(up: list[float], down: list[float]) -> bool:
    """Requests did not wait on Kafka: the median is no worse than with the broker up, and no
    request came near a Kafka client timeout. (A broker starting on the same two cores takes
    CPU from everything, so single slow requests say little.)"""
    return statistics.median(down) <= 1.5 * statistics.median(up) + 0.05 and max(down) < 5.0


def _all_loaded(engine: Engine, quizzes) -> bool:
    from tests.reliability.events import outbox_ids, raw_counts

    return set(outbox_ids(engine, quizzes)) <= set(raw_counts(engine, quizzes))


def test_kafka_down_never_fails_a_student_and_loses_no_event(rel_db, rel_engine, rel_bank):
    f = kafka_outage(rel_db, rel_engine, rel_bank)
    print({k: v for k, v in f.items() if k not in ("calls", "relay_log")})
    # No student request failed, in any phase, and none waited on Kafka.
    bad = [c for c in f["calls"] if c.status not in (200, 201)]
    assert not bad, bad[:5]
    down = [c.seconds for c in f["calls"] if c.phase == "kafka down"]
    up = [c.seconds for c in f["calls"] if c.phase == "kafka up"]
    assert len(down) > 50, "too little traffic while Kafka was down to prove anything"
    assert no_slower_without_kafka(up, down), (f["phases"]["kafka up"], f["phases"]["kafka down"])
    # The outage was real: events piled up and the relay recorded why.
    assert f["backlog_during_outage"] > 20
    assert "failed" in f["relay_log"] and "KafkaTimeoutError" in f["relay_log"]
    # Every event reached raw.events exactly once (checked in kafka_outage), none dead-lettered.
    assert f["events"] == f["raw_rows"] and f["events"] > 200
    assert f["ingest"]["dead_lettered"] == 0
    # The relay and the consumer noticed the broker was back within seconds (the students
    # kept going for 3 s after it returned).
    assert f["all_loaded_s_after_broker_back"] < 3 + 15, f["all_loaded_s_after_broker_back"]
