"""Load and soak: simulated students through the whole quiz flow against the real API.

    python -m bench.load                                   # 200 students, 5 minutes
    python -m bench.load --students 50 --duration 60 --warmup 20 --ramp 15   # a shorter run

On loopback against the local stack, in a database of its own (`qbank_load`, recreated each run)
with a 2,000-item calibrated bank, the API under uvicorn (`--workers`, default 2) and the outbox
relay publishing to a topic of its own.

1. Logins: the students arrive over `--ramp` seconds and log in (POST /v1/auth/login: an argon2id
   check, ~0.2 s of CPU each, one at a time per API process); their latency is reported apart.
2. The soak: all of them at once for `--duration` seconds, each through the whole quiz flow —
   the dashboard (me, exam codes, history, performance), a quiz (tutor or exam, adaptive or
   linear, 10–20 questions) answered item by item with ~1 s of thinking before each request
   (uniform 0.5–1.5 s), some items marked, finish, the report — and again.

Measured: p50/p99/max per endpoint (by the client, which is a raw asyncio HTTP/1.1 client so it is
not the bottleneck), every non-2xx or failed request (an error; 10 s timeout, 60 s for a login,
which may queue), RSS of the API's processes (every 5 s; growth = end of the soak vs the end of
its warm-up), PostgreSQL connections to the database (every second; bound = what the pools may
open), the outbox backlog (every second) and the time it takes to drain once the students stop.
The machine's load average is printed too: other work on the box shows in the tail latencies.

Exit status 1 when a criterion fails: errors > 0, memory growth ≥ 10 %, connections above the
bound, or a backlog that does not drain within 60 s. The last line holds the figures as key=value.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import orjson
import uvloop
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from sqlalchemy import create_engine, text

from bench.api import EXAM, RawHttp, build_bank, free_port, recreate_database, start_server
from qbank.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DB = "qbank_load"
PASSWORD = "bench-password"  # bench.api.build_bank's students
TIMEOUT_S = 10.0
LOGIN_TIMEOUT_S = 60.0


# ---------------------------------------------------------------------------- setup
def rss_kib(pid: int) -> int:
    """Resident memory of `pid` and its children (uvicorn's workers), KiB."""
    pids = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        pids.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:"))
        except (OSError, StopIteration):
            continue
    return total


class Sampler(threading.Thread):
    """Every second: database connections and outbox backlog; every 5 s: API memory (each
    sample stamped with time.monotonic())."""

    def __init__(self, db_url: str, api_pid: int):
        super().__init__(daemon=True, name="sampler")
        self.engine = create_engine(db_url, pool_size=1)
        self.api_pid = api_pid
        self.stop = threading.Event()
        self.connections: list[tuple[float, int]] = []
        self.backlog: list[tuple[float, int]] = []
        self.rss: list[tuple[float, int]] = []

    def run(self) -> None:
        tick = 0
        with self.engine.connect() as c:
            while not self.stop.is_set():
                now = time.monotonic()
                conns = c.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d"), {"d": DB}
                ).scalar_one()
                pending = c.execute(
                    text("SELECT count(*) FROM event_outbox WHERE published_at IS NULL")
                ).scalar_one()
                c.commit()
                self.connections.append((now, conns - 1))  # not counting this sampler
                self.backlog.append((now, pending))
                if tick % 5 == 0:
                    self.rss.append((now, rss_kib(self.api_pid)))
                tick += 1
                self.stop.wait(1.0)
        self.engine.dispose()


# ---------------------------------------------------------------------------- students
class Stats:
    def __init__(self):
        self.ms: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []

    def record(self, name: str, seconds: float, status: int | None, body: bytes) -> None:
        self.ms[name].append(seconds * 1000)
        if status is None or status >= 300:
            self.errors.append(f"{name} {status} {body[:120]!r}")


async def call(
    http: RawHttp, stats: Stats, name: str, method: str, path: str, body=None, timeout=TIMEOUT_S
):
    payload = orjson.dumps(body) if body is not None else b""
    t0 = time.perf_counter()
    try:
        status, data = await asyncio.wait_for(http.request(method, path, payload), timeout)
    except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
        http.close()
        http.writer = None  # a fresh connection for the next request
        stats.record(name, time.perf_counter() - t0, None, repr(exc).encode())
        return None
    stats.record(name, time.perf_counter() - t0, status, data)
    return orjson.loads(data) if status < 300 and data else None


async def log_in(i: int, email: str, port: int, stats: Stats, ramp: float) -> str | None:
    await asyncio.sleep(random.Random(i).uniform(0, ramp))  # arrivals spread over the ramp
    anon = RawHttp("127.0.0.1", port, "none")
    anon.auth = b""
    body = {"email": email, "password": PASSWORD}
    out = await call(anon, stats, "POST /v1/auth/login", "POST", "/v1/auth/login", body,
                     timeout=LOGIN_TIMEOUT_S)  # fmt: skip
    anon.close()
    return out["access_token"] if out else None


async def student(i: int, token: str, port: int, stats: Stats, stop_at: float) -> None:
    rnd = random.Random(i)

    async def think():
        await asyncio.sleep(rnd.uniform(0.5, 1.5))

    await asyncio.sleep(rnd.uniform(0, 2.0))  # not all on the same instant
    http = RawHttp("127.0.0.1", port, token)
    try:
        while time.monotonic() < stop_at:
            # The dashboard.
            await call(http, stats, "GET /v1/me", "GET", "/v1/me")
            await call(http, stats, "GET /v1/exam-codes", "GET", "/v1/exam-codes")
            await call(http, stats, "GET /v1/quizzes", "GET", "/v1/quizzes?limit=20")
            await call(http, stats, "GET /v1/me/performance", "GET",
                       f"/v1/me/performance?exam_code={EXAM}")  # fmt: skip
            await think()
            mode = rnd.choice(["tutor", "exam"])
            quiz = await call(http, stats, "POST /v1/quizzes", "POST", "/v1/quizzes", {
                "exam_code": EXAM, "mode": mode, "adaptive": rnd.random() < 0.7,
                "num_questions": rnd.randint(10, 20)})  # fmt: skip
            if quiz is None:
                await think()
                continue
            qid = quiz["id"]
            while time.monotonic() < stop_at:
                nxt = await call(http, stats, "GET /v1/quizzes/{id}/next", "GET",
                                 f"/v1/quizzes/{qid}/next")  # fmt: skip
                if nxt is None or nxt["status"] != "active":
                    break
                await think()
                if rnd.random() < 0.1:
                    await call(http, stats, "POST /v1/quizzes/{id}/items/{n}/mark", "POST",
                               f"/v1/quizzes/{qid}/items/{nxt['position']}/mark", {"marked": True})  # fmt: skip
                await call(http, stats, "POST /v1/quizzes/{id}/answers", "POST",
                           f"/v1/quizzes/{qid}/answers",
                           {"selected": rnd.choice("ABCD"), "time_taken_ms": rnd.randint(3000, 60000)})  # fmt: skip
                await think()
            else:
                break  # time is up in the middle of a quiz: leave it active, as students do
            await call(
                http, stats, "POST /v1/quizzes/{id}/finish", "POST", f"/v1/quizzes/{qid}/finish"
            )
            await call(
                http, stats, "GET /v1/quizzes/{id}/report", "GET", f"/v1/quizzes/{qid}/report"
            )
            await think()
    finally:
        http.close()


async def log_everyone_in(port: int, emails: list[str], ramp: float) -> tuple[list[str], Stats]:
    stats = Stats()
    tokens = await asyncio.gather(*(log_in(i, e, port, stats, ramp) for i, e in enumerate(emails)))
    return [t for t in tokens if t], stats


async def soak(port: int, tokens: list[str], duration: float) -> Stats:
    stats = Stats()
    stop_at = time.monotonic() + duration
    await asyncio.gather(*(student(i, t, port, stats, stop_at) for i, t in enumerate(tokens)))
    return stats


# ---------------------------------------------------------------------------- report
def pct(xs: list[float], p: float) -> float:
    if len(xs) < 2:
        return xs[0] if xs else float("nan")
    return statistics.quantiles(xs, n=1000, method="inclusive")[int(p * 10) - 1]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--students", type=int, default=200)
    ap.add_argument("--duration", type=float, default=300.0, help="seconds of the soak")
    ap.add_argument("--warmup", type=float, default=60.0, help="soak seconds before memory counts")
    # Each login verifies an argon2id hash (~0.2 s of CPU, 64 MiB): 200 students arriving
    # within seconds would be a login storm, not a school day.
    ap.add_argument("--ramp", type=float, default=60.0, help="seconds over which students log in")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--items", type=int, default=2000)
    args = ap.parse_args()
    if args.warmup >= args.duration:
        raise SystemExit("--warmup must be shorter than --duration")

    base = Settings()
    print(f"[load] database {DB}: migrating and loading {args.items} items", flush=True)
    db_url = recreate_database(base, DB)
    _tenant, _students = build_bank(db_url, args.items, args.students)
    emails = [f"s{g}@bench.example" for g in range(1, args.students + 1)]
    topic = f"events.qbank.load-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=base.kafka_bootstrap)
    admin.create_topics([NewTopic(topic, base.kafka_topic_partitions, 1)])
    port = free_port()
    log_dir = Path(tempfile.gettempdir())
    server = start_server(db_url, port, args.workers, log_dir / "qbank-bench-load-api.log")
    relay_log = (log_dir / "qbank-bench-load-relay.log").open("wb")
    relay = subprocess.Popen(
        [sys.executable, "-m", "ingestion.outbox_relay"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": db_url, "KAFKA_TOPIC_EVENTS": topic},
        stdout=relay_log,
        stderr=subprocess.STDOUT,
    )
    sampler = Sampler(db_url, server.pid)
    try:
        sampler.start()
        print(f"[load] {args.students} students log in over {args.ramp:.0f}s", flush=True)
        tokens, logins = uvloop.run(log_everyone_in(port, emails, args.ramp))
        print(
            f"[load] {len(tokens)} students for {args.duration:.0f}s "
            f"(warm-up {args.warmup:.0f}s, {args.workers} API workers)",
            flush=True,
        )
        load_before = os.getloadavg()[0]
        t_start = time.monotonic()
        stats = uvloop.run(soak(port, tokens, args.duration))
        stopped = time.monotonic()
        load_after = os.getloadavg()[0]
        drain_s = None
        while time.monotonic() - stopped < 60:
            at, pending = sampler.backlog[-1]
            if at > stopped and pending == 0:
                drain_s = at - stopped
                break
            time.sleep(0.2)
    finally:
        sampler.stop.set()
        sampler.join(10)
        relay.terminate()
        server.terminate()
        for proc in (relay, server):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        relay_log.close()
        try:
            admin.delete_topics([topic])
        finally:
            admin.close()

    # ------------------------------------------------------------------ figures
    rss = sampler.rss
    warm = next((kib for t, kib in rss if t >= t_start + args.warmup), rss[-1][1])
    end = rss[-1][1]
    growth = (end - warm) / warm
    peak_conns = max(n for _t, n in sampler.connections)
    # What the pools may open: per worker the psycopg pool (16) + the ORM (5 + 5 overflow) +
    # the NOTIFY listener, and the relay's one connection.
    bound = args.workers * (16 + 10 + 1) + 1
    peak_backlog = max(n for _t, n in sampler.backlog)
    total = sum(len(v) for v in stats.ms.values())

    print()
    print(f"{'endpoint':<42}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    print("-" * 78)
    for name in [*sorted(stats.ms, key=lambda n: -len(stats.ms[n])), *logins.ms]:
        xs = stats.ms.get(name) or logins.ms[name]
        print(
            f"{name:<42}{len(xs):>9}{statistics.median(xs):>9.1f}{pct(xs, 99):>9.1f}{max(xs):>9.1f}"
        )
    print("-" * 78)
    rows = [
        ("logins (errors)", f"{len(logins.ms['POST /v1/auth/login'])} ({len(logins.errors)})"),
        ("soak requests (errors)", f"{total} ({len(stats.errors)})"),
        ("soak requests/s", f"{total / (stopped - t_start):.0f}"),
        ("load average at start → end of the soak", f"{load_before:.1f} → {load_after:.1f}"),
        ("API RSS after warm-up → end (peak) MiB",
         f"{warm / 1024:.0f} → {end / 1024:.0f} ({max(k for _t, k in rss) / 1024:.0f})"),
        ("API memory growth after warm-up", f"{growth:+.1%}"),
        ("PostgreSQL connections peak (bound)", f"{peak_conns} ({bound})"),
        ("outbox backlog peak", str(peak_backlog)),
        ("outbox drained after the students stopped", f"{drain_s:.1f}s" if drain_s is not None else "NO"),
    ]  # fmt: skip
    for k, v in rows:
        print(f"{k:<44}{v:>34}")
    if stats.errors or logins.errors:
        print("first errors:", (logins.errors + stats.errors)[:5])
    failed = [
        msg
        for bad, msg in (
            (logins.errors, f"{len(logins.errors)} failed logins"),
            (stats.errors, f"{len(stats.errors)} errors"),
            (growth >= 0.10, f"memory grew {growth:.1%}"),
            (peak_conns > bound, f"{peak_conns} connections > {bound}"),
            (drain_s is None, "the outbox did not drain within 60 s"),
        )
        if bad
    ]
    nxt = stats.ms.get("GET /v1/quizzes/{id}/next", [float("nan")])
    ans = stats.ms.get("POST /v1/quizzes/{id}/answers", [float("nan")])
    print(
        f"students={len(tokens)} duration_s={args.duration:.0f} requests={total} "
        f"errors={len(stats.errors) + len(logins.errors)} "
        f"login_p50_ms={statistics.median(logins.ms['POST /v1/auth/login']):.0f} next_p50_ms={statistics.median(nxt):.1f} "
        f"next_p99_ms={pct(nxt, 99):.1f} answer_p50_ms={statistics.median(ans):.1f} "
        f"answer_p99_ms={pct(ans, 99):.1f} rss_warm_mib={warm / 1024:.0f} rss_end_mib={end / 1024:.0f} "
        f"memory_growth={growth:.3f} db_connections_peak={peak_conns} db_connections_bound={bound} "
        f"outbox_backlog_peak={peak_backlog} outbox_drain_s={drain_s if drain_s is None else round(drain_s, 1)} "
        f"result={'FAIL: ' + '; '.join(failed) if failed else 'ok'}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
