"""Ingestion and incremental-mart benchmarks on the local stack.

    python -m bench.ingest                       # both parts, default sizes
    python -m bench.ingest --skip-dbt            # Kafka → raw only
    python -m bench.ingest --history 5000000 --new 100000

Part 1, Kafka → raw tables: the same N contract events are produced once to a fresh topic, then
  (a) a plain kafka-python read of every message (the client alone),
  (b) a plain COPY of the same rows into raw.events (the database alone),
  (c) `ingestion.consumer` end to end (read, validate, COPY, dedupe, dead letters, offsets),
each timed `--repeat` times (best kept); (c) must reach ≥ 50% of the slower of (a) and (b).

Part 2, incremental `fact_responses`: 100k new events are refreshed on an empty history and on a
5M-event history; the refresh (`dbt run --select +fact_responses`: the incremental staging tables,
the content views and fact_responses; SQL time from dbt's run_results.json) on the large history must cost at most twice the one on the empty history.

Each part uses its own database (created and dropped) and topic (deleted), never the demo's.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psycopg
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from bench.synthetic import SynthBank, SynthItem, as_messages, produce, quiz_events
from ingestion.consumer import EventConsumer
from ingestion.events import EventEnvelope, to_dict
from orchestration.dbt_env import DBT_EXECUTABLE, DBT_PROJECT_DIR, dbt_env
from qbank import migrations
from qbank.db_admin import drop_database, recreate_database
from qbank.settings import Settings, get_settings, libpq_url

COLUMNS = (
    "event_id, event_type, schema_version, occurred_at, tenant_id, user_id, quiz_id, payload, "
    "source_topic, source_partition, source_offset"
)


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


@contextmanager
def scratch_database(settings: Settings, name: str):
    base = make_url(settings.sync_database_url)
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        recreate_database(c, name)
    url = base.set(database=name).render_as_string(hide_password=False)
    migrations.upgrade(url)
    try:
        yield settings.model_copy(update={"database_url": url})
    finally:
        with admin.connect() as c:
            drop_database(c, name)
        admin.dispose()


# ---------------------------------------------------------------- part 1: Kafka → raw tables
def synthetic_bank(n_items: int = 200, n_users: int = 2000) -> SynthBank:
    """Ids only (raw.events has no foreign keys): enough to generate contract events."""
    import numpy as np

    rng = np.random.default_rng(1)
    items = [
        SynthItem(i + 1, i + 1, 1, 1 + i % 5, 1.0, float(rng.normal()), 0.2) for i in range(n_items)
    ]
    users = [(uuid.uuid4(), "all") for _ in range(n_users)]
    bank = SynthBank(uuid.uuid4(), "BENCH", users, items)
    bank.theta = {u: float(rng.normal()) for u, _ in users}
    return bank


def truncate_raw(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as c:
        c.execute("TRUNCATE raw.events, raw.dead_letters, raw.ingestion_offsets")
        c.execute("VACUUM raw.events")


def plain_read(settings: Settings, n: int) -> float:
    start = time.perf_counter()
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        max_poll_records=5000,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    parts = [
        TopicPartition(settings.kafka_topic_events, p)
        for p in consumer.partitions_for_topic(settings.kafka_topic_events)
    ]
    consumer.assign(parts)
    consumer.seek_to_beginning()
    got = 0
    while got < n:
        for records in consumer.poll(timeout_ms=1000).values():
            got += len(records)
    consumer.close(autocommit=False)
    return time.perf_counter() - start


def column_rows(events: list[EventEnvelope], topic: str) -> bytes:
    """The same events as raw.events rows in COPY text format (built outside the clock)."""
    envelope = set(EventEnvelope.model_fields)
    rows = []
    for i, e in enumerate(events):
        payload = orjson.dumps({k: v for k, v in to_dict(e).items() if k not in envelope})
        rows.append(
            f"{e.event_id}\t{e.event_type}\t{e.schema_version}\t{e.occurred_at.isoformat()}\t"
            f"{e.tenant_id}\t{e.user_id}\t{e.quiz_id}\t"
            f"{payload.decode().replace(chr(92), chr(92) * 2)}\t{topic}\t{i % 6}\t{i}\n"
        )
    return "".join(rows).encode()


def plain_copy(conninfo: str, copy_data: bytes) -> float:
    with psycopg.connect(conninfo) as conn:
        start = time.perf_counter()
        with conn.cursor().copy(f"COPY raw.events ({COLUMNS}) FROM STDIN") as copy:
            copy.write(copy_data)
        conn.commit()
        return time.perf_counter() - start


def our_consumer(settings: Settings) -> tuple[float, int]:
    start = time.perf_counter()
    report = EventConsumer(settings, batch_size=5000).run_until_caught_up()
    return time.perf_counter() - start, report.loaded


def bench_kafka(settings: Settings, n_events: int, repeat: int) -> dict:
    topic = f"events.qbank.bench.{uuid.uuid4().hex[:8]}"
    s = settings.model_copy(
        update={"kafka_topic_events": topic, "kafka_consumer_group": f"bench.{topic}"}
    )
    admin = KafkaAdminClient(bootstrap_servers=s.kafka_bootstrap)
    admin.create_topics([NewTopic(topic, s.kafka_topic_partitions, 1)])
    try:
        bank = synthetic_bank()
        events = []
        seed = 0
        while len(events) < n_events:
            events += quiz_events(bank, n_quizzes=500, items_per_quiz=10, seed=seed)
            seed += 1
        events = events[:n_events]
        messages = list(as_messages(events))
        t = time.perf_counter()
        produce(s.kafka_bootstrap, topic, messages)
        log(f"produced {len(messages)} events to {topic} in {time.perf_counter() - t:.1f}s")
        copy_data = column_rows(events, topic)
        conninfo = libpq_url(s.database_url)
        times: dict[str, list[float]] = {"kafka_read": [], "plain_copy": [], "ours": []}
        for r in range(repeat):
            times["kafka_read"].append(plain_read(s, n_events))
            truncate_raw(conninfo)
            times["plain_copy"].append(plain_copy(conninfo, copy_data))
            truncate_raw(conninfo)
            elapsed, loaded = our_consumer(s)
            assert loaded == n_events, f"loaded {loaded} of {n_events}"
            times["ours"].append(elapsed)
            log(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()))
    finally:
        admin.delete_topics([topic])
        admin.close()
    rate = {k: n_events / min(v) for k, v in times.items()}
    slower = min(rate["kafka_read"], rate["plain_copy"])
    return {
        "events": n_events,
        "events_per_s": {k: round(v) for k, v in rate.items()},
        "ours_vs_slower_baseline": round(rate["ours"] / slower, 3),
        "pass": rate["ours"] >= 0.5 * slower,
    }


# ------------------------------------------------------ part 2: incremental fact_responses
def insert_quizzes(conninfo: str, first_quiz: int, n_quizzes: int, start: datetime) -> int:
    """Generate complete quizzes (started, 10 × served + answered, finished) in SQL: 22 events
    per quiz, in the load order a live stream would have. Returns the events inserted."""
    sql = """
    WITH q AS (
        SELECT g AS n,
               md5('quiz' || g)::uuid AS quiz_id,
               md5('user' || (g %% 5000))::uuid AS user_id,
               %(start)s::timestamptz + (g - %(first)s) * interval '7 seconds' AS t0
        FROM generate_series(%(first)s, %(first)s + %(n)s - 1) AS g
    ),
    ev AS (
        SELECT q.n, 0 AS seq, 'quiz_started' AS event_type, q.t0 AS occurred_at, q.user_id,
               q.quiz_id,
               jsonb_build_object('mode', CASE WHEN q.n %% 2 = 0 THEN 'exam' ELSE 'tutor' END,
                                  'adaptive', q.n %% 3 = 0, 'exam_code', 'BENCH',
                                  'num_questions', 10, 'num_pretest', 1,
                                  'filters', '{}'::jsonb, 'quota', '{}'::jsonb) AS payload
        FROM q
        UNION ALL
        SELECT q.n, 2 * p - 1, 'question_served', q.t0 + p * interval '40 seconds', q.user_id,
               q.quiz_id,
               jsonb_build_object('question_id', 1 + (q.n * 7 + p * 13) %% 400,
                                  'question_version_id', 1 + (q.n * 7 + p * 13) %% 400,
                                  'version', 1, 'position', p,
                                  'topic_id', 1 + (q.n + p) %% 12, 'is_pretest', p = 10)
        FROM q, generate_series(1, 10) AS p
        UNION ALL
        SELECT q.n, 2 * p, 'answer_submitted', q.t0 + p * interval '75 seconds', q.user_id,
               q.quiz_id,
               jsonb_build_object('question_id', 1 + (q.n * 7 + p * 13) %% 400,
                                  'question_version_id', 1 + (q.n * 7 + p * 13) %% 400,
                                  'version', 1, 'position', p, 'selected', 'A',
                                  'is_correct', (q.n + p) %% 3 <> 0,
                                  'time_taken_ms', 5000 + (q.n * p) %% 60000, 'revision', 1)
        FROM q, generate_series(1, 10) AS p
        UNION ALL
        SELECT q.n, 21, 'quiz_finished', q.t0 + interval '20 minutes', q.user_id, q.quiz_id,
               jsonb_build_object('status', 'finished', 'score', 6, 'num_scored', 9,
                                  'theta', 0.1, 'se', 0.4, 'scaled_score', 510)
        FROM q
    )
    INSERT INTO raw.events (event_id, event_type, schema_version, occurred_at, tenant_id,
                            user_id, quiz_id, payload, source_topic, source_partition,
                            source_offset)
    SELECT gen_random_uuid(), event_type, 1, occurred_at, %(tenant)s, user_id, quiz_id, payload,
           'bench', 0, n * 22 + seq
    FROM ev ORDER BY n, seq
    """
    with psycopg.connect(conninfo) as conn:
        cur = conn.execute(
            sql,
            {
                "first": first_quiz,
                "n": n_quizzes,
                "start": start,
                "tenant": uuid.UUID(int=1),
            },
        )
        conn.commit()
        return cur.rowcount


def dbt_run(settings: Settings, target: Path, *args: str) -> dict[str, float]:
    """`dbt run` of fact_responses and what it reads (staging); SQL seconds per model."""
    import subprocess

    select = ["--select", "+fact_responses"]
    subprocess.run(
        [DBT_EXECUTABLE, "run", *select, "--target-path", str(target), "--quiet", *args],
        cwd=DBT_PROJECT_DIR,
        env={**os.environ, **dbt_env(settings)},
        check=True,
    )
    results = json.loads((target / "run_results.json").read_text())
    return {r["unique_id"].split(".")[-1]: r["execution_time"] for r in results["results"]}


def refresh_cost(settings: Settings, history: int, new: int, target: Path) -> dict:
    conninfo = libpq_url(settings.database_url)
    per_quiz = 22
    start = datetime(2026, 1, 1, tzinfo=UTC)
    if history:
        t = time.perf_counter()
        loaded = 0
        chunk = 50_000  # quizzes per INSERT, keeps memory bounded
        n_quizzes = history // per_quiz
        for first in range(0, n_quizzes, chunk):
            loaded += insert_quizzes(conninfo, first, min(chunk, n_quizzes - first), start)
        log(f"history: {loaded} events in raw.events ({time.perf_counter() - t:.0f}s)")
    t = time.perf_counter()
    dbt_run(settings, target, "--full-refresh")
    with psycopg.connect(conninfo, autocommit=True) as c:
        c.execute("VACUUM ANALYZE")
    log(f"marts built on the history ({time.perf_counter() - t:.0f}s)")
    inserted = insert_quizzes(
        conninfo, 10_000_000, new // per_quiz, datetime(2026, 6, 1, tzinfo=UTC)
    )
    t = time.perf_counter()
    sql = dbt_run(settings, target)
    wall = time.perf_counter() - t
    with psycopg.connect(conninfo) as c:
        rows = c.execute("SELECT count(*) FROM marts.fact_responses").fetchone()[0]
    return {
        "history_events": history,
        "new_events": inserted,
        "sql_seconds": round(sum(sql.values()), 2),
        "fact_seconds": round(sql["fact_responses"], 2),
        "wall_seconds": round(wall, 2),
        "fact_rows": rows,
    }


def bench_incremental(settings: Settings, history: int, new: int) -> dict:
    target = Path("/tmp") / f"qbank-bench-dbt-{uuid.uuid4().hex[:6]}"
    with scratch_database(settings, "qbank_bench_empty") as s:
        empty = refresh_cost(s, 0, new, target / "empty")
        log(f"empty history: {empty}")
    with scratch_database(settings, "qbank_bench_history") as s:
        large = refresh_cost(s, history, new, target / "history")
        log(f"{history} events of history: {large}")
    ratio = large["sql_seconds"] / max(empty["sql_seconds"], 1e-9)
    return {
        "empty": empty,
        "history": large,
        "ratio_sql": round(ratio, 2),
        "ratio_wall": round(large["wall_seconds"] / empty["wall_seconds"], 2),
        "pass": ratio <= 2.0,
    }


@dataclass
class Args:
    events: int
    repeat: int
    history: int
    new: int
    skip_kafka: bool
    skip_dbt: bool


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--history", type=int, default=5_000_000)
    ap.add_argument("--new", type=int, default=100_000)
    ap.add_argument("--skip-kafka", action="store_true")
    ap.add_argument("--skip-dbt", action="store_true")
    args = Args(**vars(ap.parse_args(argv)))
    settings = get_settings()
    out: dict = {}
    if not args.skip_kafka:
        with scratch_database(settings, "qbank_bench_ingest") as s:
            out["kafka_to_raw"] = bench_kafka(s, args.events, args.repeat)
        k = out["kafka_to_raw"]
        log(
            f"Kafka → raw, {k['events']} events: ours {k['events_per_s']['ours']}/s, "
            f"plain COPY {k['events_per_s']['plain_copy']}/s, "
            f"plain kafka-python read {k['events_per_s']['kafka_read']}/s → "
            f"{k['ours_vs_slower_baseline']:.0%} of the slower baseline "
            f"({'PASS' if k['pass'] else 'FAIL'}: ≥ 50%)"
        )
    if not args.skip_dbt:
        out["incremental_fact_responses"] = bench_incremental(settings, args.history, args.new)
        i = out["incremental_fact_responses"]
        log(
            f"incremental fact_responses, {i['empty']['new_events']} new events: "
            f"{i['empty']['sql_seconds']}s on an empty history, {i['history']['sql_seconds']}s "
            f"on {i['history']['history_events']} events → ×{i['ratio_sql']} "
            f"({'PASS' if i['pass'] else 'FAIL'}: ≤ ×2; wall ×{i['ratio_wall']})"
        )
    print(json.dumps(out, indent=2))
    return 0 if all(part["pass"] for part in out.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
