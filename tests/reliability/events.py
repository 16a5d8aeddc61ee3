"""What the outbox holds and what reached the raw tables, for the quizzes of one scenario."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import orjson
from sqlalchemy import Engine, text


def outbox_ids(engine: Engine, quizzes: Iterable[str]) -> dict[str, bool]:
    """event_id → published, for every outbox event of `quizzes`."""
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT event_id::text, published_at IS NOT NULL FROM event_outbox "
                "WHERE partition_key = ANY(:q)"
            ),
            {"q": list(quizzes)},
        ).all()
    return dict(rows)


def raw_counts(engine: Engine, quizzes: Iterable[str]) -> dict[str, int]:
    """event_id → rows in raw.events, for `quizzes`."""
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT event_id::text, count(*) FROM raw.events "
                "WHERE quiz_id = ANY(CAST(:q AS uuid[])) GROUP BY 1"
            ),
            {"q": list(quizzes)},
        ).all()
    return dict(rows)


def pending(engine: Engine, quizzes: Iterable[str]) -> int:
    return sum(1 for sent in outbox_ids(engine, quizzes).values() if not sent)


def wait_until(what: str, check: Callable[[], bool], timeout: float) -> float:
    """Seconds it took for `check` to hold; fails after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout:.0f}s")


def exactly_once(engine: Engine, quizzes: Iterable[str]) -> dict:
    """Every outbox event of `quizzes` is in raw.events once, and raw holds nothing else."""
    quizzes = list(quizzes)
    outbox = outbox_ids(engine, quizzes)
    raw = raw_counts(engine, quizzes)
    missing = set(outbox) - set(raw)
    extra = set(raw) - set(outbox)
    twice = {e: n for e, n in raw.items() if n != 1}
    assert not missing, f"{len(missing)} of {len(outbox)} events never reached raw.events"
    assert not extra, f"{len(extra)} raw events are not in the outbox"
    assert not twice, f"events loaded more than once: {list(twice.items())[:3]}"
    return {"events": len(outbox), "raw_rows": sum(raw.values())}


def ingest_report(log: str) -> dict:
    """The consumer's last JSON report line (printed when it stops)."""
    for line in reversed(log.splitlines()):
        if line.startswith('{"ingest"'):
            return orjson.loads(line)["ingest"]
    raise AssertionError(f"the consumer printed no report:\n{log[-2000:]}")
