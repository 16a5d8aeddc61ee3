"""Long variants of the fault scenarios proven in tests/reliability (same code, longer outages,
more students), with their figures.

    python -m bench.faults                       # every scenario
    python -m bench.faults --only kafka,postgres --outage 60 --students 40

- kafka: the broker SIGKILLed for `--outage` s under traffic (a private broker), then restarted;
  no request may fail, every event must reach raw.events exactly once;
- postgres: a private cluster stopped for `--outage` s under traffic, then started; requests
  during the outage must be 503s within 3 s, the same API process serves again;
- redis: Redis frozen (SIGSTOP) then killed, `--outage` s each, then back; no 5xx, counting
  resumes exactly;
- kills: the relay SIGKILLed after Kafka acked a batch, 8 times, the consumer SIGKILLed
  mid-batch 10 times, under traffic; each event in raw.events exactly once.

The shared dev stack is never stopped; everything runs in a database of its own
(`qbank_faults`, recreated). Exit status 1 when a scenario's criterion fails.
"""

from __future__ import annotations

import argparse
import sys
import time

import tests.conftest  # noqa: F401  (per-run Redis namespace and topic names, as in the tests)
from qbank.settings import get_settings
from tests.conftest import drop_database
from tests.reliability.conftest import migrated_database, seed_bank

DB = "qbank_faults"


def _ok_statuses(calls, allowed=(200, 201)) -> list:
    return [c for c in calls if c.status not in allowed]


def kafka(db, engine, bank, students: int, outage: float) -> tuple[dict, list[str]]:
    from tests.reliability.test_kafka_outage import kafka_outage, no_slower_without_kafka

    f = kafka_outage(db, engine, bank, students=students, outage_s=outage, after_s=5)
    bad = _ok_statuses(f["calls"])
    down = [c.seconds for c in f["calls"] if c.phase == "kafka down"]
    up = [c.seconds for c in f["calls"] if c.phase == "kafka up"]
    problems = [f"{len(bad)} failed requests"] if bad else []
    if not no_slower_without_kafka(up, down):
        problems.append("requests were slower while Kafka was down")
    keep = ("outage_s", "backlog_during_outage", "all_loaded_s_after_broker_back", "events",
            "raw_rows", "quizzes")  # fmt: skip
    return {
        **{k: f[k] for k in keep},
        "phases": f["phases"],
        "kafka_duplicates": f["ingest"]["duplicates"],
    }, problems


def postgres(db, engine, bank, students: int, outage: float) -> tuple[dict, list[str]]:
    from tests.reliability.test_postgres_restart import FAST_S, postgres_restart

    f = postgres_restart(students=students, outage_s=outage, after_s=10)
    down = [c for c in f["calls"] if c.phase == "pg down"]
    problems = []
    if [c for c in down if c.error or c.status not in (200, 201, 503) or c.seconds >= FAST_S]:
        problems.append("a request during the outage hung, failed without a 503, or took ≥ 3 s")
    if _ok_statuses([c for c in f["calls"] if c.phase == "steady"]):
        problems.append("errors after recovery")
    if not f["same_process"]:
        problems.append("the API process did not survive")
    if [s for s in f["secrets"] if s in f["log"]]:
        problems.append("a secret in the API log")
    if _ok_statuses([c for c in f["calls"] if c.ended < f["down_at"]]):
        problems.append("errors before the outage")
    keep = ("recovered_s", "same_process", "state_without_event", "ready_down", "ready_back")
    return {**{k: f[k] for k in keep}, "phases": f["phases"]}, problems


def redis(db, engine, bank, students: int, outage: float) -> tuple[dict, list[str]]:
    from tests.reliability.test_redis_outage import redis_outage

    f = redis_outage(db, engine, bank, students=students, phase_s=outage)
    problems = []
    if _ok_statuses(f["calls"]):
        problems.append("failed requests")
    slow = max(c.seconds for c in f["calls"] if c.phase in ("redis frozen", "redis down"))
    if slow >= 2.0:
        problems.append(f"a request took {slow:.1f}s without Redis")
    if f["counted_after_return"] + f["missed_after_return"] != f["served_after_return"]:
        problems.append("a serve after Redis returned was neither counted nor a counted miss")
    return {k: v for k, v in f.items() if k != "calls"}, problems


def kills(db, engine, bank, students: int, outage: float) -> tuple[dict, list[str]]:
    from tests.reliability.test_ingestion_kills import ingestion_kills

    f = ingestion_kills(
        db,
        engine,
        bank,
        students=students,
        relay_crashes=8,
        consumer_kills=10,
        seed=int(time.time()),
    )
    problems = ["failed requests"] if _ok_statuses(f["calls"]) else []
    return {k: v for k, v in f.items() if k not in ("calls", "process_logs")}, problems


SCENARIOS = {"kafka": kafka, "postgres": postgres, "redis": redis, "kills": kills}


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    ap.add_argument("--students", type=int, default=40)
    ap.add_argument("--outage", type=float, default=45.0, help="seconds each fault lasts")
    args = ap.parse_args()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios {sorted(unknown)}; choose from {list(SCENARIOS)}")

    from sqlalchemy import create_engine

    db = migrated_database(DB)
    engine = create_engine(db, pool_pre_ping=True)
    bank = seed_bank(engine, get_settings(), n_students=args.students, per_topic=40)
    failed = []
    try:
        for name in chosen:
            print(
                f"\n[faults] {name}: {args.students} students, {args.outage:.0f}s fault", flush=True
            )
            t0 = time.monotonic()
            try:
                figures, problems = SCENARIOS[name](db, engine, bank, args.students, args.outage)
            except AssertionError as exc:  # exactly-once and the scenarios' own checks
                figures, problems = {}, [str(exc)]
            for k, v in figures.items():
                print(f"  {k}: {v}")
            print(f"  took {time.monotonic() - t0:.0f}s: {'; '.join(problems) or 'ok'}", flush=True)
            failed += [f"{name}: {p}" for p in problems]
    finally:
        engine.dispose()
        drop_database(DB)
    print("\nresult=" + ("FAIL: " + " | ".join(failed) if failed else "ok"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
