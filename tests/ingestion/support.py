"""Helpers for the ingestion tests: readers of what landed and consistency checks."""

from __future__ import annotations

import time

from sqlalchemy import Engine, text

from ingestion.raw_loader import application_name
from qbank.settings import Settings


def topic_env(s: Settings) -> dict[str, str]:
    return {
        "KAFKA_TOPIC_EVENTS": s.kafka_topic_events,
        "KAFKA_CONSUMER_GROUP": s.kafka_consumer_group,
    }


def landed(engine: Engine, topic: str) -> dict[str, list]:
    """event_ids, (partition, offset) of rows and dead letters, and stored offsets of a topic."""
    # One snapshot for the three reads, so a commit landing in between cannot skew them.
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as c:
        events = c.execute(
            text(
                "SELECT event_id, source_partition, source_offset FROM raw.events "
                "WHERE source_topic = :t"
            ),
            {"t": topic},
        ).all()
        dead = c.execute(
            text('SELECT partition, "offset", reason FROM raw.dead_letters WHERE topic = :t'),
            {"t": topic},
        ).all()
        offsets = c.execute(
            text("SELECT partition, next_offset FROM raw.ingestion_offsets WHERE topic = :t"),
            {"t": topic},
        ).all()
    return {"events": events, "dead": dead, "offsets": offsets}


def wait_for_loader_backends(engine: Engine, s: Settings, timeout: float = 30.0) -> None:
    """After a client is killed its server backend may still finish a COMMIT: wait it out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as c:
            n = c.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :a"),
                {"a": application_name(s.kafka_consumer_group)},
            ).scalar_one()
        if n == 0:
            return
        time.sleep(0.05)
    raise AssertionError("the killed consumer's database session did not end")


def assert_batches_atomic(engine: Engine, topic: str) -> dict[int, int]:
    """Every partition's rows and dead letters cover exactly [0, stored next offset).

    Holds after any crash iff rows and offsets commit together (the stream has no duplicates).
    Returns the stored offsets.
    """
    got = landed(engine, topic)
    stored = {p: o for p, o in got["offsets"]}
    covered: dict[int, list[int]] = {}
    for _eid, p, o in got["events"]:
        covered.setdefault(p, []).append(o)
    for p, o, _reason in got["dead"]:
        covered.setdefault(p, []).append(o)
    for p in set(stored) | set(covered):
        offs = sorted(covered.get(p, []))
        assert offs == list(range(stored.get(p, 0))), (
            f"partition {p}: stored next offset {stored.get(p)} but rows cover "
            f"{offs[:3]}..{offs[-3:]} ({len(offs)} offsets)"
        )
    return stored
