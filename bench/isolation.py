"""API latency during a bulk raw load: analytics on the serving cluster vs on a cluster of its own.

    flock /tmp/qbank-bench.lock python -m bench.isolation              # 2M events, 2 rounds each
    flock /tmp/qbank-bench.lock python -m bench.isolation --events 500000 --rounds 1

Two throw-away PostgreSQL 15 clusters, configured like the local stack (shared_buffers 256MB,
fsync and synchronous_commit on), so the shared stack and other people's work stay out of it:
cluster S holds the serving database (the API on it, `--workers` uvicorn processes, a calibrated
`--items` bank), cluster A an analytics database. Each round COPYs the same `--events` raw events
(complete 22-event quizzes, generated once by bench.ingest's generator) into raw.events in
`--chunk`-row transactions, from a process of its own, while `--students` students answer
adaptive quizzes (next, ~1 s, answer, ~1 s, …: bench.api's pace) until the load ends:

    one  — raw.events in the serving database itself (ANALYTICS_DATABASE_URL unset, as today)
    two  — raw.events in the analytics cluster (ANALYTICS_DATABASE_URL set)

`--analytics-url` puts "two" in an existing database instead (another host: the setup this
machine cannot show, where the clusters do not share cores and disk).

The modes alternate (one, two, one, two, …) so drift of the machine's load hits both alike; each
round starts from an empty raw.events and a CHECKPOINT on both clusters. Reported per round and
as medians over rounds: `next` p50/p99/max, `answer` p99, errors, and the load's events/s. Both
clusters share this machine's CPUs and disk: what "two" removes is the contention inside
PostgreSQL (WAL insertion and flushes, checkpoints, buffer cache), not the contention for cores.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import uvloop

from bench.api import EXAM, RawHttp, build_bank, free_port, start_server, tokens
from bench.ingest import COLUMNS, insert_quizzes
from qbank import migrations
from qbank.settings import Settings, libpq_url
from tests.support.clusters import Cluster, start_cluster

STACK_CONF = "max_connections = 300\nshared_buffers = 256MB\nfsync = on\nsynchronous_commit = on\n"
EVENTS_PER_QUIZ = 22  # bench.ingest.insert_quizzes: started, 10 × (served, answered), finished


def log(msg: str) -> None:
    print(f"[isolation] {msg}", flush=True)


# ------------------------------------------------------------------ the bulk load
def make_copy_file(conninfo: str, n_events: int, path: Path) -> int:
    """Generate the events once in raw.events, keep them as COPY text, empty the table again."""
    n_quizzes = -(-n_events // EVENTS_PER_QUIZ)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for first in range(0, n_quizzes, 50_000):
        insert_quizzes(conninfo, first, min(50_000, n_quizzes - first), start)
    with psycopg.connect(conninfo) as conn, path.open("wb") as f:
        with conn.cursor().copy(f"COPY raw.events ({COLUMNS}) TO STDOUT") as copy:
            for block in copy:
                f.write(block)
        n = conn.execute("SELECT count(*) FROM raw.events").fetchone()[0]
        conn.execute("TRUNCATE raw.events")
        conn.commit()
    return n


def copy_load(conninfo: str, path: str, chunk: int, out: mp.Queue) -> None:
    """COPY the file into raw.events, `chunk` rows per transaction (a backfill as the loader
    would commit it, in large batches); puts (rows, seconds) on `out`."""
    t0 = time.perf_counter()
    rows = 0
    with psycopg.connect(conninfo) as conn, open(path, "rb") as f:
        lines = iter(f)
        done = False
        while not done:
            with conn.cursor().copy(f"COPY raw.events ({COLUMNS}) FROM STDIN") as copy:
                n = 0
                for line in lines:
                    copy.write(line)
                    n += 1
                    if n == chunk:
                        break
                else:
                    done = True
            conn.commit()
            rows += n
    out.put((rows, time.perf_counter() - t0))


# ------------------------------------------------------------------ the students
async def probe(port: int, toks: list[str], quizzes: list[list[str]], stop: asyncio.Event) -> dict:
    next_ms: list[float] = []
    answer_ms: list[float] = []
    errors: list[str] = []

    async def student(i: int, tok: str, mine: list[str]) -> None:
        rnd = random.Random(i)
        await asyncio.sleep(rnd.uniform(0, 2.0))
        http = RawHttp("127.0.0.1", port, tok)
        try:
            for quiz in mine:  # the next quiz when one ends before the load does
                while not stop.is_set():
                    t0 = time.perf_counter()
                    status, body = await http.request("GET", f"/v1/quizzes/{quiz}/next")
                    next_ms.append((time.perf_counter() - t0) * 1000)
                    if status != 200:
                        errors.append(f"next {status} {body[:100]!r}")
                        return
                    if b'"status":"active"' not in body:
                        break
                    await asyncio.sleep(rnd.uniform(0.5, 1.5))
                    t0 = time.perf_counter()
                    status, body = await http.request(
                        "POST", f"/v1/quizzes/{quiz}/answers", b'{"selected":"C"}'
                    )
                    answer_ms.append((time.perf_counter() - t0) * 1000)
                    if status != 200:
                        errors.append(f"answer {status} {body[:100]!r}")
                        return
                    await asyncio.sleep(rnd.uniform(0.5, 1.5))
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:  # counted, never hidden
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            http.close()

    await asyncio.gather(
        *(student(i, t, q) for i, (t, q) in enumerate(zip(toks, quizzes, strict=True)))
    )

    def pct(xs: list[float], p: float) -> float:
        return (
            statistics.quantiles(xs, n=1000, method="inclusive")[int(p * 10) - 1]
            if len(xs) > 10
            else float("nan")
        )

    return {
        "next_n": len(next_ms), "errors": len(errors), "first_errors": errors[:3],
        "next_p50": statistics.median(next_ms), "next_p99": pct(next_ms, 99),
        "next_max": max(next_ms), "answer_p99": pct(answer_ms, 99),
    }  # fmt: skip


def new_quizzes(api: str, toks: list[str], per_student: int) -> list[list[str]]:
    out = []
    with httpx.Client(base_url=api, timeout=60) as c:
        for tok in toks:
            ids = []
            for _ in range(per_student):
                r = c.post(
                    "/v1/quizzes",
                    json={
                        "mode": "tutor",
                        "adaptive": True,
                        "exam_code": EXAM,
                        "num_questions": 120,
                    },  # fmt: skip
                    headers={"Authorization": f"Bearer {tok}"},
                )
                r.raise_for_status()
                ids.append(r.json()["id"])
            out.append(ids)
    return out


async def round_under_load(
    port: int, toks: list[str], quizzes: list[list[str]], target: str, copy_file: Path, chunk: int
) -> dict:
    out: mp.Queue = mp.get_context("spawn").Queue()
    loader = mp.get_context("spawn").Process(
        target=copy_load, args=(target, str(copy_file), chunk, out), daemon=True
    )
    stop = asyncio.Event()

    async def watch() -> None:
        while loader.is_alive():
            await asyncio.sleep(0.2)
        stop.set()

    loader.start()
    stats, _ = await asyncio.gather(probe(port, toks, quizzes, stop), watch())
    loader.join()
    if loader.exitcode != 0:
        raise SystemExit(f"the load process failed (exit {loader.exitcode})")
    rows, seconds = out.get(timeout=10)
    return {**stats, "load_rows": rows, "load_s": seconds, "events_per_s": rows / seconds}


def reset(clusters: list[Cluster], targets: dict[str, str], external: str | None) -> None:
    """Empty raw.events in both targets and checkpoint every cluster, so each round starts alike."""
    for url in targets.values():
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            conn.execute("TRUNCATE raw.events")
    for cluster in clusters:
        cluster.psql("CHECKPOINT")
    if external:
        try:
            with psycopg.connect(libpq_url(external), autocommit=True) as conn:
                conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            pass  # PostgreSQL 15 keeps CHECKPOINT to superusers and pg_checkpoint members


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--rounds", type=int, default=2, help="rounds per mode (alternating)")
    ap.add_argument("--students", type=int, default=50)
    ap.add_argument("--items", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=100_000, help="rows per COPY transaction")
    ap.add_argument(
        "--analytics-url",
        help="an existing analytics database (e.g. on another host; migrated here, its "
        "raw.events emptied each round) instead of a throw-away cluster on this machine",
    )
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="qbank-isolation-"))
    clusters: list[Cluster] = []
    server = None
    try:
        serving = start_cluster(extra_conf=STACK_CONF, prefix="qbank-iso-serving-")
        clusters.append(serving)
        serving.create_database("qbank")
        serving_url = serving.url("qbank")
        if args.analytics_url:
            analytics_url = args.analytics_url
        else:
            analytics = start_cluster(extra_conf=STACK_CONF, prefix="qbank-iso-analytics-")
            clusters.append(analytics)
            analytics.create_database("qbank_analytics")
            analytics_url = analytics.url("qbank_analytics")
        for url in (serving_url, analytics_url):
            migrations.upgrade(url)
        log(
            f"serving cluster :{serving.port}, analytics database {urlsplit(analytics_url).netloc.split('@')[-1]}"
        )
        tenant, students = build_bank(serving_url, args.items, args.students)
        copy_file = work / "events.copy"
        t = time.perf_counter()
        n = make_copy_file(libpq_url(serving_url), args.events, copy_file)
        log(f"{n} events generated ({copy_file.stat().st_size / 2**20:.0f} MiB) "
            f"in {time.perf_counter() - t:.0f}s")  # fmt: skip
        port = free_port()
        server = start_server(serving_url, port, args.workers, work / "api.log")
        settings = Settings(database_url=serving_url)
        toks = tokens(settings, tenant, students)
        targets = {"one": serving_url, "two": analytics_url}
        results: list[dict] = []
        for r in range(args.rounds):
            for mode in ("one", "two") if r % 2 == 0 else ("two", "one"):
                reset(clusters, targets, args.analytics_url)
                target = targets[mode]
                quizzes = new_quizzes(f"http://127.0.0.1:{port}", toks, per_student=3)
                where = urlsplit(target).netloc.split("@")[-1] + urlsplit(target).path
                log(f"round {r + 1} {mode}: COPY {n} events into {where}")
                res = uvloop.run(
                    round_under_load(
                        port, toks, quizzes, libpq_url(target), copy_file, args.chunk
                    )  # fmt: skip
                )
                res = {"round": r + 1, "mode": mode, **res}
                results.append(res)
                log(
                    f"  next p50 {res['next_p50']:.1f} ms, p99 {res['next_p99']:.1f} ms, max "
                    f"{res['next_max']:.0f} ms ({res['next_n']} requests, {res['errors']} errors); "
                    f"answer p99 {res['answer_p99']:.1f} ms; load {res['load_s']:.0f}s "
                    f"({res['events_per_s']:.0f} events/s); load average {os.getloadavg()[0]:.1f}"
                )
                if res["first_errors"]:
                    log(f"  first errors: {res['first_errors']}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        for c in clusters:
            c.stop()
        for f in work.glob("*"):
            f.unlink()
        work.rmdir()

    print()
    print(f"{'mode':<6}{'round':>6}{'next p50':>10}{'next p99':>10}{'next max':>10}"
          f"{'answer p99':>12}{'errors':>8}{'load s':>8}{'events/s':>10}")  # fmt: skip
    for r in results:
        print(f"{r['mode']:<6}{r['round']:>6}{r['next_p50']:>10.1f}{r['next_p99']:>10.1f}"
              f"{r['next_max']:>10.0f}{r['answer_p99']:>12.1f}{r['errors']:>8}"
              f"{r['load_s']:>8.0f}{r['events_per_s']:>10.0f}")  # fmt: skip
    summary = {}
    for mode in ("one", "two"):
        rs = [r for r in results if r["mode"] == mode]
        summary[mode] = {
            k: statistics.median(r[k] for r in rs)
            for k in ("next_p50", "next_p99", "next_max", "answer_p99", "events_per_s")
        } | {"errors": sum(r["errors"] for r in rs)}
    one, two = summary["one"], summary["two"]
    print(
        f"events={n} rounds={args.rounds} students={args.students} workers={args.workers} "
        f"one_next_p50_ms={one['next_p50']:.1f} one_next_p99_ms={one['next_p99']:.1f} "
        f"one_next_max_ms={one['next_max']:.0f} one_answer_p99_ms={one['answer_p99']:.1f} "
        f"one_events_per_s={one['events_per_s']:.0f} one_errors={one['errors']} "
        f"two_next_p50_ms={two['next_p50']:.1f} two_next_p99_ms={two['next_p99']:.1f} "
        f"two_next_max_ms={two['next_max']:.0f} two_answer_p99_ms={two['answer_p99']:.1f} "
        f"two_events_per_s={two['events_per_s']:.0f} two_errors={two['errors']} "
        f"p99_ratio_one_over_two={one['next_p99'] / two['next_p99']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
