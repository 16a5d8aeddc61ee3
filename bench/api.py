"""Serving API benchmark: next/answer throughput against a trivial endpoint, and latency.

    python -m bench.api [--items 2000] [--workers 2] [--connections 64] [--duration 15]
                        [--students 200] [--latency-duration 30] [--rounds 3]
    python -m bench.api --burst [--burst-duration 45] [--latency-duration 60] [--window 10]

On loopback against the local stack (PostgreSQL with fsync on, as in production), in a database
of its own (`qbank_bench`, recreated each run) with a 2,000-item calibrated pool:

1. throughput: `wrk`, zero think time, one connection per wrk thread, every request counted:
   a trivial endpoint (`GET /health`, same app, same middlewares) and a 50/50 mix of
   `GET /v1/quizzes/{id}/next` and `POST /v1/quizzes/{id}/answers` (each connection alternates
   them over its own quizzes of 120 questions, fresh ones each round), same server, same
   settings, in `--rounds` alternating rounds (trivial, mix, trivial, mix, ...): this machine's
   speed drifts by tens of percent from minute to minute, so each round's ratio compares
   neighbours and the median of the rounds is reported. Each mix round also measures the CPU
   the API and PostgreSQL spent per request (/proc; the server's processes on this machine):
   other load on the box inflates wall time, much less CPU time, so "answers per core" is
   compared by these;
2. latency: 200 concurrent students with 1 s think time between requests (uniform 0.5–1.5 s,
   so they do not all click at the same instant); p50/p99 of `next`, measured by the client.

With `--burst` (an exam window opening: students arrive together right after a rush), step 2 comes
right after `--burst-duration` seconds of saturation (wrk, the mix, quizzes of its own) and lasts
`--latency-duration` (60 s); p50/p99/p99.9 of `next` and `answer` are reported per `--window`
(10 s) by the time each request was sent. Next to each window, what the server did meanwhile
(sampled from PostgreSQL every 0.2 s): checkpoints started/running, buffers the checkpointer and
the backends wrote, WAL written, autovacuum workers (and their tables), and the wait events of the
bench database's backends; the API's own garbage-collector pauses ≥ 1 ms (QBANK_API_GC_TRACE) are
counted from its log.

Prints a table, then a last line of key=value figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import orjson
import uvloop
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from qbank import db_admin, migrations
from qbank.passwords import hash_password
from qbank.settings import Settings, normalise_pg_url
from serving_api.security import issue_token
from serving_api.server import uvicorn_command

ROOT = Path(__file__).resolve().parent.parent
DB = "qbank_bench"
EXAM = "BENCH-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recreate_database(base: Settings, name: str = DB) -> str:
    """A fresh, migrated database `name` on the settings' server; its URL."""
    url = make_url(normalise_pg_url(base.database_url))
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        db_admin.recreate_database(c, name)
    admin.dispose()
    out = url.set(database=name).render_as_string(hide_password=False)
    migrations.upgrade(out)
    return out


def build_bank(db_url: str, n_items: int, n_students: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """Tenant, students, 20 topics, `n_items` published 4-option items and an active set."""
    eng = create_engine(db_url)
    pw = hash_password("bench-password")
    with eng.begin() as c:
        tenant = c.execute(
            text(
                "INSERT INTO tenants (id, slug, name) VALUES (gen_random_uuid(), 'bench', 'Bench') RETURNING id"
            )
        ).scalar_one()
        author = c.execute(
            text(
                "INSERT INTO users (id, tenant_id, email, display_name, password_hash, roles) "
                "VALUES (gen_random_uuid(), :t, 'author@bench.example', 'Author', :p, ARRAY['author','publisher']) RETURNING id"
            ),
            {"t": tenant, "p": pw},
        ).scalar_one()
        c.execute(
            text(
                "INSERT INTO users (id, tenant_id, email, display_name, password_hash, roles) "
                "SELECT gen_random_uuid(), :t, 's' || g || '@bench.example', 'Student ' || g, :p, "
                "ARRAY['student'] FROM generate_series(1, :n) g"
            ),
            {"t": tenant, "p": pw, "n": n_students},
        )
        students = [
            r[0]
            for r in c.execute(
                text("SELECT id FROM users WHERE 'student' = ANY(roles) ORDER BY email")
            )
        ]
        topics = []
        for k in range(20):
            tid = c.execute(
                text("SELECT nextval(pg_get_serial_sequence('topics','id'))")
            ).scalar_one()
            c.execute(
                text(
                    "INSERT INTO topics (id, tenant_id, name, path) VALUES (:i, :t, :n, CAST(:p AS ltree))"
                ),
                {"i": tid, "t": tenant, "n": f"Topic {k + 1}", "p": f"t{tid}"},
            )
            topics.append(tid)
        c.execute(
            text(
                "INSERT INTO questions (tenant_id, created_by, external_ref) "
                "SELECT :t, :u, 'B-' || g FROM generate_series(1, :n) g"
            ),
            {"t": tenant, "u": author, "n": n_items},
        )
        c.execute(
            text(
                "INSERT INTO question_versions (question_id, tenant_id, version, state, stem_md, lead_in, "
                "rationale_md, correct_label, difficulty_label, topic_id, created_by) "
                "SELECT q.id, :t, 1, 'published', 'A **bench** stem number ' || q.id, 'Which one?', "
                "'Because of *reasons*.', chr(65 + (q.id % 4)::int), (ARRAY['easy','medium','hard'])[1 + q.id % 3], "
                "(:topics)[1 + q.id % 20], :u FROM questions q WHERE q.tenant_id = :t"
            ),
            {"t": tenant, "u": author, "topics": topics},
        )
        c.execute(
            text(
                "INSERT INTO question_options (question_version_id, label, text_md) "
                "SELECT v.id, l, 'Option ' || l FROM question_versions v, unnest(ARRAY['A','B','C','D']) l "
                "WHERE v.tenant_id = :t"
            ),
            {"t": tenant},
        )
        c.execute(
            text(
                "INSERT INTO question_publications (tenant_id, question_id, question_version_id, exam_code, published_by) "
                "SELECT :t, v.question_id, v.id, :e, :u FROM question_versions v WHERE v.tenant_id = :t"
            ),
            {"t": tenant, "e": EXAM, "u": author},
        )
        set_id = c.execute(
            text(
                "INSERT INTO item_parameter_sets (tenant_id, exam_code, status, created_by_run, checks_passed, "
                "activated_at) VALUES (:t, :e, 'active', 'bench', true, now()) RETURNING id"
            ),
            {"t": tenant, "e": EXAM},
        ).scalar_one()
        c.execute(
            text(
                "INSERT INTO item_parameters (set_id, question_version_id, question_id, version, a, b, c, k, n_respondents) "
                "SELECT :s, v.id, v.question_id, 1, 0.7 + random() * 1.3, "
                "(random() + random() + random() + random() - 2) * 1.7, 0.1 + random() * 0.15, 1, 1000 "
                "FROM question_versions v WHERE v.tenant_id = :t"
            ),
            {"s": set_id, "t": tenant},
        )
    eng.dispose()
    return tenant, students


def start_server(
    db_url: str,
    port: int,
    workers: int,
    log: Path,
    extra_env: dict | None = None,
    root: Path = ROOT,
) -> subprocess.Popen:
    """The API on `port`, from the checkout at `root` (another one to compare code versions)."""
    env = {
        **os.environ,
        **(extra_env or {}),
        **({"PYTHONPATH": str(root)} if root != ROOT else {}),
        "DATABASE_URL": db_url,
        "REDIS_NAMESPACE": f"qbank_bench_{uuid.uuid4().hex[:6]}",
        "QBANK_ENV": "test",
        "MAX_DAILY_EXPOSURES": "100000",
    }
    proc = subprocess.Popen(
        uvicorn_command(port, workers),
        cwd=root,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server did not start; see {log}")


def tokens(settings: Settings, tenant: uuid.UUID, students: list[uuid.UUID]) -> list[str]:
    return [issue_token(settings, s, tenant, ["student"])[0] for s in students]


def create_quizzes(
    base: str, toks: list[str], per_student: int, adaptive: bool = True
) -> list[list[str]]:
    out = []
    with httpx.Client(base_url=base, timeout=30) as c:
        for tok in toks:
            ids = []
            for _ in range(per_student):
                r = c.post(
                    "/v1/quizzes",
                    json={
                        "mode": "tutor",
                        "adaptive": adaptive,
                        "exam_code": EXAM,
                        "num_questions": 120,
                    },
                    headers={"Authorization": f"Bearer {tok}"},
                )
                r.raise_for_status()
                ids.append(r.json()["id"])
            out.append(ids)
    return out


WRK_MIX = """
local quizzes = {QUIZZES}
local tokens = {TOKENS}
local n = 0
local id = 1
local turn = 0
local q = 1
function setup(thread)
  n = n + 1
  thread:set("id", n)
end
function init(args)
  id = tonumber(wrk.thread:get("id"))
end
function request()
  -- Pure: wrk may build a request it never sends, so the turn advances in response().
  local my = quizzes[id]
  local hdr = {{["Authorization"] = "Bearer " .. tokens[id], ["Content-Type"] = "application/json"}}
  if turn % 2 == 0 then
    return wrk.format("GET", "/v1/quizzes/" .. my[q] .. "/next", hdr)
  end
  return wrk.format("POST", "/v1/quizzes/" .. my[q] .. "/answers", hdr, '{{"selected":"B","time_taken_ms":900}}')
end
function response(status, headers, body)
  turn = turn + 1
  if turn >= 240 then turn = 0; q = q + 1 end
end
"""


def mix_script(quizzes: list[list[str]], toks: list[str]) -> Path:
    """A wrk script for the next/answer mix: connection i works through quizzes[i] as toks[i]."""
    template = WRK_MIX.replace("{{", "{").replace("}}", "}")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(
            template.replace("{QUIZZES}", lua_table(quizzes)).replace("{TOKENS}", lua_table(toks))
        )
    return Path(f.name)


def lua_table(rows) -> str:
    if isinstance(rows, list):
        return "{" + ",".join(lua_table(r) for r in rows) + "}"
    return f'"{rows}"'


def run_wrk(url: str, connections: int, duration: int, script: Path | None = None) -> dict:
    cmd = ["wrk", "-t", str(connections), "-c", str(connections), "-d", f"{duration}s", "--latency"]
    # A generous timeout: a request wrk gave up on would be followed by the next one of the
    # same quiz while the server still works on it (an answer before its item is served).
    cmd += ["--timeout", "10s"]
    if script:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "requests": total, "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(1) if errors else "none", "raw": out}  # fmt: skip


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return out


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds used so far by each of `pids` still alive."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[p] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        except (OSError, IndexError, ValueError):
            continue
    return out


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two readings: processes born meanwhile count whole; ones that ended
    meanwhile are lost (PostgreSQL's short autovacuum workers, a small undercount)."""
    return sum(t - before.get(p, 0.0) for p, t in after.items())


class CpuMeter:
    """CPU seconds of the API (uvicorn and its workers) and of PostgreSQL (the postmaster's
    processes: backends, WAL writer, checkpointer, autovacuum) while a block runs: the cost of a
    request in CPU, which the box's other load does not inflate the way it does wall time.
    PostgreSQL's processes are found from a backend's parent when the server is on this machine
    (otherwise its share is nan)."""

    def __init__(self, api_pid: int, db_url: str):
        self.api_pid = api_pid
        self.pg_root = None
        with contextlib.suppress(Exception):
            eng = create_engine(db_url)
            with eng.connect() as c:
                backend = c.execute(text("SELECT pg_backend_pid()")).scalar_one()
            eng.dispose()
            with open(f"/proc/{backend}/stat") as f:
                self.pg_root = int(f.read().rsplit(")", 1)[1].split()[1])

    def _pids(self) -> tuple[list[int], list[int]]:
        api = [self.api_pid, *_children(self.api_pid)]
        pg = _children(self.pg_root) if self.pg_root else []
        return api, pg

    def measure(self, fn):
        """(fn's result, API CPU s, PostgreSQL CPU s)."""
        api, pg = self._pids()
        a0, p0 = cpu_seconds(api), cpu_seconds(pg)
        out = fn()
        api, pg = self._pids()
        a1, p1 = cpu_seconds(api), cpu_seconds(pg)
        return out, cpu_used(a0, a1), cpu_used(p0, p1) if self.pg_root else float("nan")


class RawHttp:
    """A minimal keep-alive HTTP/1.1 client (asyncio streams): light enough that 200 students
    in one process measure the server, not the client (httpx costs ~1 ms of CPU a request)."""

    def __init__(self, host: str, port: int, token: str):
        self.host, self.port = host, port
        self.auth = f"Authorization: Bearer {token}\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n".encode()
            + self.auth
            + b"Content-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
        )
        self.writer.write(head + body)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def percentile(xs, q: float) -> float:
    """The q-th percentile (0–100) of `xs`, linearly interpolated; nan when there are fewer than
    two values."""
    if len(xs) < 2:
        return float("nan")
    return float(np.percentile(np.asarray(xs, dtype=float), q))


def window_stats(
    samples: list[tuple[float, float]], window_s: float, duration_s: float
) -> list[dict]:
    """Per window of `window_s` seconds: n, p50, p99, p99.9 and max of the latencies (ms) of the
    requests *sent* in it (`samples`: (seconds since the run began, ms)). A request sent in the
    last moments of the run counts in the last window."""
    n = max(1, int(np.ceil(duration_s / window_s - 1e-9)))
    buckets: list[list[float]] = [[] for _ in range(n)]
    for t, ms in samples:
        buckets[min(n - 1, max(0, int(t // window_s)))].append(ms)
    return [
        {
            "window": f"{k * window_s:g}-{(k + 1) * window_s:g}s",
            "n": len(b),
            "p50": percentile(b, 50),
            "p99": percentile(b, 99),
            "p99.9": percentile(b, 99.9),
            "max": max(b) if b else float("nan"),
        }
        for k, b in enumerate(buckets)
    ]


async def latency_run(port: int, toks: list[str], quizzes: list[str], duration: float) -> dict:
    """Each student: next, think ~1 s, answer, think ~1 s, ... for `duration` seconds."""
    next_ms: list[tuple[float, float]] = []  # (sent, seconds since the start; latency ms)
    answer_ms: list[tuple[float, float]] = []
    errors: list[str] = []
    t_start = time.perf_counter()
    stop_at = time.monotonic() + duration

    async def student(i: int, tok: str, quiz: str) -> None:
        rnd = random.Random(i)
        await asyncio.sleep(rnd.uniform(0, 2.0))  # arrivals spread over the first seconds
        http = RawHttp("127.0.0.1", port, tok)
        try:
            while time.monotonic() < stop_at:
                t0 = time.perf_counter()
                status, body = await http.request("GET", f"/v1/quizzes/{quiz}/next")
                next_ms.append((t0 - t_start, (time.perf_counter() - t0) * 1000))
                if status != 200 or b'"status":"active"' not in body:
                    errors.append(f"next {status} {body[:100]!r}")
                    return
                await asyncio.sleep(rnd.uniform(0.5, 1.5))  # think: 1 s on average
                t0 = time.perf_counter()
                status, body = await http.request(
                    "POST", f"/v1/quizzes/{quiz}/answers", b'{"selected":"C"}'
                )
                answer_ms.append((t0 - t_start, (time.perf_counter() - t0) * 1000))
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
    nx = [ms for _, ms in next_ms]
    an = [ms for _, ms in answer_ms]
    return {
        "next_n": len(nx), "answer_n": len(an), "errors": errors,
        "next_p50": percentile(nx, 50), "next_p99": percentile(nx, 99),
        "next_p999": percentile(nx, 99.9),
        "answer_p50": percentile(an, 50), "answer_p99": percentile(an, 99),
        "answer_p999": percentile(an, 99.9),
        "next_samples": next_ms, "answer_samples": answer_ms,
    }  # fmt: skip


# What the server does, sampled while students are measured (--burst): the suspects of a tail.
SAMPLE_SQL = """
SELECT (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter),
       (SELECT buffers_checkpoint FROM pg_stat_bgwriter),
       (SELECT buffers_backend FROM pg_stat_bgwriter),
       pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint,
       (SELECT coalesce(wait_event, '') FROM pg_stat_activity WHERE backend_type = 'checkpointer'),
       (SELECT coalesce(array_agg(regexp_replace(query, '^autovacuum: ', '')), '{}')
          FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'),
       (SELECT coalesce(array_agg(wait_event_type || ':' || wait_event), '{}')
          FROM pg_stat_activity
         WHERE datname = current_database() AND backend_type = 'client backend'
           AND state = 'active' AND pid <> pg_backend_pid() AND wait_event IS NOT NULL)
"""


class PgSampler(threading.Thread):
    """Polls SAMPLE_SQL every `interval` s on its own connection; `rows` holds (seconds since
    `t_start`, checkpoints, buffers_checkpoint, buffers_backend, wal bytes, checkpointer's wait
    event, autovacuum queries, waits of active backends)."""

    def __init__(self, db_url: str, t_start: float, interval: float = 0.2):
        super().__init__(daemon=True)
        self.db_url, self.t_start, self.interval = db_url, t_start, interval
        self.rows: list[tuple] = []
        self.privileged = False
        self.stopped = threading.Event()

    def run(self) -> None:
        eng = create_engine(self.db_url, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            # Other roles' wait events and queries (the checkpointer's, autovacuum's) are only
            # visible with pg_read_all_stats.
            self.privileged = c.execute(
                text("SELECT pg_has_role(current_user, 'pg_read_all_stats', 'member')")
            ).scalar_one()
            while not self.stopped.wait(self.interval):
                row = c.execute(text(SAMPLE_SQL)).one()
                self.rows.append((time.perf_counter() - self.t_start, *row))
        eng.dispose()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)


def server_windows(
    rows: list[tuple], window_s: float, duration_s: float, privileged: bool = True
) -> list[dict]:
    """Per window: checkpoints started, whether the checkpointer was writing (share of samples
    in CheckpointWriteDelay or a sync), buffers written by the checkpointer / the backends, WAL
    MB, autovacuum (tables seen), and the top wait events of the active backends."""
    n = max(1, int(np.ceil(duration_s / window_s - 1e-9)))
    out = []
    for k in range(n):
        lo, hi = k * window_s, (k + 1) * window_s
        w = [r for r in rows if lo <= r[0] < hi]
        if len(w) < 2:
            out.append({"window": f"{lo:g}-{hi:g}s"})
            continue
        first, last = w[0], w[-1]
        # Idle, the checkpointer sleeps in CheckpointerMain; anything else (a spread write's
        # CheckpointWriteDelay, a file sync, on CPU) is a checkpoint at work.
        writing = sum(1 for r in w if r[5] != "CheckpointerMain") / len(w)
        tables = sorted({q for r in w for q in r[6]})
        waits: dict[str, int] = {}
        for r in w:
            for ev in r[7]:
                waits[ev] = waits.get(ev, 0) + 1
        top = sorted(waits.items(), key=lambda kv: -kv[1])[:3]
        out.append(
            {
                "window": f"{lo:g}-{hi:g}s",
                "ckpt_started": last[1] - first[1],
                "ckpt_busy": f"{writing:.0%}" if privileged else "n/a",
                "buf_ckpt": last[2] - first[2],
                "buf_backend": last[3] - first[3],
                "wal_MB": round((last[4] - first[4]) / 2**20, 1),
                "autovacuum": (";".join(tables) or "-") if privileged else "n/a",
                "waits": ",".join(f"{e}×{c}" for e, c in top) or "-",
            }
        )
    return out


def gc_pauses(log: Path, since_ts: str) -> list[dict]:
    """The API's logged collector pauses (serving_api.heap.trace) at or after ISO time `since_ts`."""
    out = []
    for line in log.read_bytes().splitlines():
        if b'"gc pause"' not in line:
            continue
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if rec.get("ts", "") >= since_ts:
            out.append(rec)
    return out


def print_rows(title: str, rows: list[dict]) -> None:
    """A plain fixed-width table (floats with one decimal)."""
    print(f"\n{title}")
    if not rows:
        return
    cols = list(dict.fromkeys(k for r in rows for k in r))
    cells = [[_cell(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _cell(v) -> str:
    return f"{v:.1f}" if isinstance(v, float) else str(v)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--students", type=int, default=200)
    ap.add_argument("--latency-duration", type=float, default=None, help="30 s; 60 s with --burst")
    ap.add_argument("--rounds", type=int, default=3, help="alternating trivial/mix rounds")
    ap.add_argument(
        "--burst", action="store_true", help="measure the students right after a saturation burst"
    )
    ap.add_argument("--burst-duration", type=int, default=45)
    ap.add_argument("--window", type=float, default=10.0, help="seconds per latency window")
    args = ap.parse_args()
    if args.latency_duration is None:
        args.latency_duration = 60.0 if args.burst else 30.0

    base_settings = Settings()
    print(f"[bench] database {DB}: migrating and loading {args.items} items", flush=True)
    db_url = recreate_database(base_settings)
    n_students = args.connections + args.students
    tenant, students = build_bank(db_url, args.items, n_students)
    settings = base_settings.model_copy(update={"database_url": db_url})
    port = free_port()
    log = Path(tempfile.gettempdir()) / "qbank-bench-api.log"
    server = start_server(
        db_url, port, args.workers, log, {"QBANK_API_GC_TRACE": "1"} if args.burst else None
    )
    base = f"http://127.0.0.1:{port}"
    scripts: list[Path] = []
    meter = CpuMeter(server.pid, db_url)
    try:
        toks = tokens(settings, tenant, students)
        wrk_toks = toks[: args.connections]
        lat_toks = toks[args.connections :]
        # Enough quizzes of 120 questions for every wrk connection at zero think time, per round.
        per_conn = 4 + args.duration // 6
        per_burst = (4 + args.burst_duration // 6) if args.burst else 0
        n_quizzes = (args.rounds * per_conn + per_burst) * len(wrk_toks) + len(lat_toks)
        print(f"[bench] creating {n_quizzes} quizzes", flush=True)
        wrk_quizzes = create_quizzes(base, wrk_toks, args.rounds * per_conn + per_burst)
        lat_quizzes = [q[0] for q in create_quizzes(base, lat_toks, 1)]
        scripts = [
            mix_script([q[r * per_conn : (r + 1) * per_conn] for q in wrk_quizzes], wrk_toks)
            for r in range(args.rounds)
        ]
        if args.burst:
            burst_script = mix_script([q[args.rounds * per_conn :] for q in wrk_quizzes], wrk_toks)
            scripts.append(burst_script)  # after the rounds' scripts: removed with them
        print("[bench] warm-up", flush=True)
        run_wrk(base + "/health", args.connections, 3)
        rounds = []
        for r, script in enumerate(scripts[: args.rounds], 1):
            print(
                f"[bench] round {r}/{args.rounds}: trivial endpoint, then next/answer 50/50 "
                f"(wrk {args.connections} connections, {args.duration}s each)",
                flush=True,
            )
            trivial = run_wrk(base + "/health", args.connections, args.duration)
            mix, api_cpu, pg_cpu = meter.measure(
                lambda script=script: run_wrk(base, args.connections, args.duration, script)
            )
            mix["api_cpu_ms"] = 1000 * api_cpu / max(1, mix["requests"])
            mix["pg_cpu_ms"] = 1000 * pg_cpu / max(1, mix["requests"])
            rounds.append((trivial, mix))
            print(
                f"[bench]   trivial {trivial['rps']:.0f}/s, mix {mix['rps']:.0f}/s, "
                f"ratio {mix['rps'] / trivial['rps']:.1%}; CPU per mix request: API "
                f"{mix['api_cpu_ms']:.2f} ms, PostgreSQL {mix['pg_cpu_ms']:.2f} ms",
                flush=True,
            )
        burst = sampler = None
        if args.burst:
            print(f"[bench] burst: the mix at saturation for {args.burst_duration}s", flush=True)
            burst = run_wrk(base, args.connections, args.burst_duration, burst_script)
            print(f"[bench]   burst {burst['rps']:.0f}/s ({burst['non2xx']} non-2xx)", flush=True)
        print(
            f"[bench] latency: {len(lat_toks)} students, 1 s think time, {args.latency_duration:.0f}s",
            flush=True,
        )
        lat_since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        t_lat = time.perf_counter()
        if args.burst:
            sampler = PgSampler(db_url, t_lat)
            sampler.start()
        try:
            lat = uvloop.run(latency_run(port, lat_toks, lat_quizzes, args.latency_duration))
        finally:
            if sampler is not None:
                sampler.stop()
    finally:
        for script in scripts:
            script.unlink(missing_ok=True)
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    ratios = [m["rps"] / t["rps"] for t, m in rounds]
    ratio = statistics.median(ratios)
    trivial_rps = statistics.median(t["rps"] for t, _ in rounds)
    mix_rps = statistics.median(m["rps"] for _, m in rounds)
    mix_requests = sum(m["requests"] for _, m in rounds)
    mix_non2xx = sum(m["non2xx"] for _, m in rounds)
    trivial_requests = sum(t["requests"] for t, _ in rounds)
    trivial_non2xx = sum(t["non2xx"] for t, _ in rounds)
    api_cpu_ms = statistics.median(m["api_cpu_ms"] for _, m in rounds)
    pg_cpu_ms = statistics.median(m["pg_cpu_ms"] for _, m in rounds)
    print()
    print(f"{'measure':<44}{'value':>14}")
    print("-" * 58)
    rows = [
        ("trivial GET /health requests/s (median)", f"{trivial_rps:.0f}"),
        ("next/answer 50/50 requests/s (median)", f"{mix_rps:.0f}"),
        ("ratio per round", " ".join(f"{x:.1%}" for x in ratios)),
        ("ratio (ours / trivial), median of rounds", f"{ratio:.1%}"),
        ("mix requests (non-2xx)", f"{mix_requests} ({mix_non2xx})"),
        ("CPU ms per mix request: API / PostgreSQL", f"{api_cpu_ms:.2f} / {pg_cpu_ms:.2f}"),
        ("trivial requests (non-2xx)", f"{trivial_requests} ({trivial_non2xx})"),
        (f"latency run: next requests ({len(lat_toks)} students)", str(lat["next_n"])),
        (
            "next p50 / p99 / p99.9 ms",
            f"{lat['next_p50']:.1f} / {lat['next_p99']:.1f} / {lat['next_p999']:.1f}",
        ),
        (
            "answer p50 / p99 / p99.9 ms",
            f"{lat['answer_p50']:.1f} / {lat['answer_p99']:.1f} / {lat['answer_p999']:.1f}",
        ),
        ("latency run errors", str(len(lat["errors"]))),
    ]
    for k, v in rows:
        print(f"{k:<44}{v:>14}")
    if lat["errors"]:
        print("first errors:", lat["errors"][:3])
    windows = {}
    if args.burst:
        print(f"\nburst: {burst['requests']} mix requests at {burst['rps']:.0f}/s "
              f"({burst['non2xx']} non-2xx, socket errors: {burst['socket_errors']}); "
              f"students started at {lat_since}Z")  # fmt: skip
        for kind in ("next", "answer"):
            windows[kind] = window_stats(lat[f"{kind}_samples"], args.window, args.latency_duration)
            print_rows(f"{kind} latency (ms) per window after the burst", windows[kind])
        print_rows("the server meanwhile (PostgreSQL, sampled every 0.2 s)",
                   server_windows(sampler.rows, args.window, args.latency_duration,
                                  sampler.privileged))  # fmt: skip
        if not sampler.privileged:
            print("(ckpt_busy and autovacuum need the role pg_read_all_stats: n/a here)")
        pauses = gc_pauses(log, lat_since)
        print(
            f"\nAPI collector pauses >= 1 ms during the students: {len(pauses)}"
            + (f", max {max(p['pause_ms'] for p in pauses):.1f} ms" if pauses else "")
        )
    print(
        f"trivial_rps={trivial_rps:.0f} mix_rps={mix_rps:.0f} ratio={ratio:.3f} "
        f"ratios={','.join(f'{x:.3f}' for x in ratios)} "
        f"mix_non2xx={mix_non2xx} next_p50_ms={lat['next_p50']:.2f} next_p99_ms={lat['next_p99']:.2f} "
        f"answer_p99_ms={lat['answer_p99']:.2f} latency_errors={len(lat['errors'])} items={args.items} "
        f"workers={args.workers} connections={args.connections} "
        f"api_cpu_ms={api_cpu_ms:.3f} pg_cpu_ms={pg_cpu_ms:.3f}"
        + (
            f" next_p999_ms={lat['next_p999']:.2f} answer_p999_ms={lat['answer_p999']:.2f}"
            f" burst_rps={burst['rps']:.0f} burst_non2xx={burst['non2xx']}"
            + "".join(
                f" {kind}_{q.replace('.', '')}_windows="
                + ",".join(f"{w[q]:.1f}" for w in windows[kind])
                for kind in ("next", "answer")
                for q in ("p99", "p99.9")
            )
            if args.burst
            else ""
        )
    )


if __name__ == "__main__":
    main()
