"""A consumer killed (SIGKILL) mid-batch and restarted loads nothing twice and loses nothing."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import Engine, text

from bench.synthetic import as_messages, create_bank, produce, quiz_events
from qbank.settings import PROJECT_ROOT, Settings
from tests.ingestion.support import (
    assert_batches_atomic,
    landed,
    topic_env,
    wait_for_loader_backends,
)

MALFORMED = [(b"k", b"{broken"), (b"k", b'{"event_type": "nope"}'), (None, b"[]")]


def _consumer(s: Settings, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **topic_env(s)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _report(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])["ingest"]


@pytest.fixture
def stream(engine: Engine, topic_settings: Settings):
    bank = create_bank(engine, n_items=20, n_users=10, seed=21)
    events = list(quiz_events(bank, n_quizzes=80, items_per_quiz=12, revise_share=0.2))
    messages = list(as_messages(events))
    # Malformed messages spread through the log.
    for i, m in enumerate(MALFORMED):
        messages.insert((i + 1) * len(messages) // 4, m)
    produce(topic_settings.kafka_bootstrap, topic_settings.kafka_topic_events, messages)
    return topic_settings, events


def _restart_and_check(engine: Engine, s: Settings, events: list, already: int) -> None:
    report = _report(_consumer(s, "ingestion.consumer", "--until-caught-up"))
    # Resumed exactly at the committed offsets: nothing re-read, hence nothing loaded twice.
    assert report["duplicates"] == 0
    assert report["loaded"] == len(events) - already
    got = landed(engine, s.kafka_topic_events)
    assert sorted(str(e[0]) for e in got["events"]) == sorted(str(e.event_id) for e in events)
    assert len(got["dead"]) == len(MALFORMED)
    assert_batches_atomic(engine, s.kafka_topic_events)


@pytest.mark.parametrize("point", ["in_transaction", "after_commit"])
def test_killed_mid_batch_then_restarted(engine: Engine, stream, point: str) -> None:
    s, events = stream
    proc = _consumer(s, "tests.ingestion.crash_consumer", point, "3", "250")
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    wait_for_loader_backends(engine, s)
    assert_batches_atomic(engine, s.kafka_topic_events)
    loaded = len(landed(engine, s.kafka_topic_events)["events"])
    # in_transaction: the third batch's rows vanished with its offsets; after_commit: they stay.
    assert 0 < loaded < len(events)
    _restart_and_check(engine, s, events, loaded)


def test_killed_at_random_moments(engine: Engine, stream) -> None:
    """SIGKILL from outside while batches are flowing, three times, then run to the end."""
    s, events = stream
    rng = random.Random(5)
    for fraction in (0.2, 0.5, 0.8):
        # Paced at 30 ms a batch of 10: the last kill leaves ~40 batches (over a second) in hand,
        # where unpaced the consumer once loaded everything before this loop saw the target.
        proc = _consumer(s, "tests.ingestion.crash_consumer", "paced", "0.03", "10")
        target = int(fraction * len(events)) + rng.randrange(10)
        deadline = time.monotonic() + 60
        while _count(engine, s) < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL, "finished before it could be killed"
        wait_for_loader_backends(engine, s)
        assert_batches_atomic(engine, s.kafka_topic_events)
    loaded = _count(engine, s)
    assert loaded < len(events)
    _restart_and_check(engine, s, events, loaded)


def _count(engine: Engine, s: Settings) -> int:
    with engine.connect() as c:
        return c.execute(
            text("SELECT count(*) FROM raw.events WHERE source_topic = :t"),
            {"t": s.kafka_topic_events},
        ).scalar_one()
