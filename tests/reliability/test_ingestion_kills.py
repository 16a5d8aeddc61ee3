"""The outbox relay and the Kafka consumer SIGKILLed repeatedly while students take quizzes:
every event still ends in raw.events exactly once.

The relay dies at its worst moment — Kafka has acknowledged a batch, the rows are not yet marked
published — so the restarted relay publishes those events again (the duplicates are counted on
the topic); the consumer is killed from outside at random moments, mid-batch. Loader seams
(killed inside the offsets transaction, or right after its commit) are proven in
tests/ingestion/test_consumer_crash.py; this test adds the relay, live traffic and both at once.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter

import orjson
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from qbank.settings import get_settings
from tests.reliability.events import exactly_once, pending, wait_until
from tests.reliability.services import QBankProcess
from tests.reliability.traffic import StudentTraffic
from tests.support.api_server import start_server, stop_server
from tests.support.banks import Bank


def topic_copies(bootstrap: str, topic: str, quizzes: set[str]) -> Counter:
    """event_id → copies on the topic, for the events of `quizzes`."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(parts)
        begin, end = consumer.beginning_offsets(parts), consumer.end_offsets(parts)
        expected = sum(end[tp] - begin[tp] for tp in parts)
        copies: Counter = Counter()
        seen = 0
        for record in consumer:  # ends after 5 s without a record
            seen += 1
            if record.key.decode() in quizzes:
                copies[orjson.loads(record.value)["event_id"]] += 1
            if seen >= expected:
                break
        assert seen == expected, f"read {seen} of {expected} messages"
        return copies
    finally:
        consumer.close()


def ingestion_kills(
    db_url: str,
    engine: Engine,
    bank: Bank,
    *,
    students: int = 10,
    relay_crashes: int = 3,
    consumer_kills: int = 4,
    seed: int = 11,
) -> dict:
    rnd = random.Random(seed)
    settings = get_settings()
    tag = uuid.uuid4().hex[:8]
    topic = f"events.qbank.rel-kills-{tag}"
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    admin.create_topics([NewTopic(topic, 3, 1)])
    env = {
        "DATABASE_URL": db_url,
        "KAFKA_TOPIC_EVENTS": topic,
        "KAFKA_CONSUMER_GROUP": f"rel-kills-{tag}",
    }
    server = traffic = None
    procs: list[QBankProcess] = []
    try:
        server = start_server("rel-kills", env | {"REDIS_NAMESPACE": f"rel-kills-{tag}"})
        consumer = QBankProcess(
            "consumer-kills", "ingestion.consumer", ["--batch-size", "50"], env
        ).start()
        procs.append(consumer)
        traffic = StudentTraffic(
            server.url, [s.token for s in bank.students[:students]], bank.exam
        ).start()
        traffic.phase = "kills"
        traffic.wait_for("kills", successes=2 * students)

        relay_deaths = 0
        for k in range(relay_crashes):
            relay = QBankProcess(
                f"relay-crash-{k}",
                "tests.reliability.crash_relay",
                [str(rnd.randint(2, 4)), "--poll-interval", "0.1"],
                env,
            ).start()
            procs.append(relay)
            deadline = time.monotonic() + 60
            while relay.proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
                if consumer.kills < consumer_kills and rnd.random() < 0.02:
                    consumer.sigkill()  # mid-batch, from outside, while events flow
                    consumer.start()
            assert relay.proc.returncode == -9, f"relay {k} did not die: {relay.logs()[-2000:]}"
            relay_deaths += 1
        while consumer.kills < consumer_kills:
            time.sleep(rnd.uniform(0.2, 0.8))
            consumer.sigkill()
            consumer.start()

        relay = QBankProcess("relay-after-kills", "ingestion.outbox_relay", [], env).start()
        procs.append(relay)
        time.sleep(1.0)
        traffic.stop()
        drain_s = wait_until(
            "the outbox to drain", lambda: pending(engine, traffic.quizzes) == 0, 60
        )
        copies = topic_copies(settings.kafka_bootstrap, topic, traffic.quizzes)
        load_s = wait_until(
            "raw.events to hold every event",
            lambda: _loaded(engine, traffic.quizzes, len(copies)),
            60,
        )
        return {
            "traffic": traffic.summary(),
            "calls": traffic.of(),
            "relay_crashes": relay_deaths,
            "consumer_kills": consumer.kills,
            "events_on_topic": sum(copies.values()),
            "events_published_twice": sum(1 for n in copies.values() if n > 1),
            "drain_s": round(drain_s, 1),
            "load_s": round(load_s, 1),
            "process_logs": "".join(p.logs() for p in procs),
            **exactly_once(engine, traffic.quizzes),
        }
    finally:
        if traffic is not None and traffic._thread and traffic._thread.is_alive():
            traffic._stop.set()
        for p in procs:
            p.stop()
        if server is not None:
            stop_server(server)
        try:
            admin.delete_topics([topic])
        finally:
            admin.close()


def _loaded(engine: Engine, quizzes, n_events: int) -> bool:
    from tests.reliability.events import raw_counts

    return len(raw_counts(engine, quizzes)) >= n_events


def test_relay_and_consumer_killed_repeatedly_each_event_lands_once(rel_db, rel_engine, rel_bank):
    f = ingestion_kills(rel_db, rel_engine, rel_bank)
    print({k: v for k, v in f.items() if k not in ("calls", "process_logs")})
    assert all(c.status in (200, 201) for c in f["calls"]), f["traffic"]
    assert f["relay_crashes"] == 3 and f["consumer_kills"] == 4
    # The crashes did their damage: events reached the topic twice ...
    assert f["events_published_twice"] > 0
    assert f["events_on_topic"] > f["events"]
    # ... and raw.events holds each event exactly once (checked by exactly_once).
    assert f["events"] == f["raw_rows"] and f["events"] > 100
    # The relays' and consumers' logs never carry the database password.
    password = make_url(rel_db).password
    assert f"{password}@" not in f["process_logs"] and "password=" not in f["process_logs"]
