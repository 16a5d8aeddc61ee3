"""`GET /v1/me/performance` with a large cohort's history: p50/p99 at 1M and 10M answers.

    python -m bench.performance_read [--scales 1000000,10000000] [--requests 200] [--max-seconds 60]
                                     [--reuse] [--server-root PATH]

For each scale, in a database of its own (`qbank_perfread`, recreated), one tenant, one cohort,
one exam code and 20 topics: `answers / 1000` students with 1,000 answers each (quizzes of 100:
80% tutor, 15% sealed exams, 5% exams still running; a pretest slot in 20), written by
generate_series in SQL. The throwaway database drops its foreign keys and the indexes neither
read uses, and its three bulk tables are unlogged (checking 20M references and writing them to
the WAL would take most of the load); what the reads use is indexed as in production.
`performance_counters` is filled from the answers by the migration's own backfill when the
schema has it (0007_hot_tables; the code before it reads the answers themselves).

Then the API (uvicorn, 2 workers) answers `GET /v1/me/performance?exam_code=...` for random
students of the cohort, one request at a time: the first (which may compute the cohort's stored
distribution) apart, then `--requests` more or `--max-seconds`, whichever ends first.
`--reuse` keeps a database this bench loaded before at the same scale (its name says the
scale: `qbank_perfread_<answers>`), and `--server-root` runs the API from another checkout (the
code before a change, against the same data).
Prints a table; the last line holds the figures as key=value.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.api import free_port, percentile, recreate_database, start_server
from qbank.settings import Settings, normalise_pg_url
from serving_api.security import issue_token

ROOT = Path(__file__).resolve().parent.parent
DB = "qbank_perfread"
EXAM = "PERF-1"
PER_STUDENT = 1000
PER_QUIZ = 100
TOPICS = 20
QUESTIONS = 2000
CHUNK_STUDENTS = 1000  # one INSERT per 1,000 students (1M answers): progress, bounded statements


def drop_foreign_keys(c) -> None:
    rows = c.execute(
        text(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint "
            "WHERE contype = 'f' AND connamespace = 'public'::regnamespace"
        )
    ).all()
    for table, name in rows:
        c.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))


# Indexes neither read uses (the loader needs quiz_items (quiz_id, position)): not maintained
# while 20M rows go in.
UNUSED_INDEXES = (
    "uq_quiz_items_quiz_id_question_id",
    "ix_quiz_items_question_version",
    "uq_user_responses_quiz_item_id",
    "ix_user_responses_quiz_id",
    "ix_user_responses_user_question",
)
BULK_TABLES = ("quiz_sessions", "quiz_items", "user_responses")


def prepare_bulk_load(c) -> None:
    """A throwaway database: no foreign keys, no unused indexes, and the bulk tables unlogged
    (their rows die with the bench; writing them to the WAL too doubled the load's time)."""
    drop_foreign_keys(c)
    for name in UNUSED_INDEXES:
        owner = c.execute(
            text("SELECT conrelid::regclass::text FROM pg_constraint WHERE conname = :n"),
            {"n": name},
        ).scalar()
        if owner:  # a unique constraint's index goes with the constraint
            c.execute(text(f'ALTER TABLE {owner} DROP CONSTRAINT "{name}"'))
        else:
            c.execute(text(f'DROP INDEX IF EXISTS "{name}"'))
    for table in BULK_TABLES:
        c.execute(text(f"ALTER TABLE {table} SET UNLOGGED"))


def load(db_url: str, answers: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """The cohort and its history; (tenant, students)."""
    students = max(1, answers // PER_STUDENT)
    eng = create_engine(db_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        prepare_bulk_load(c)
        tenant = c.execute(
            text("INSERT INTO tenants (id, slug, name) VALUES (gen_random_uuid(), 'perf', 'Perf') RETURNING id")
        ).scalar_one()  # fmt: skip
        c.execute(
            text(
                "INSERT INTO users (id, tenant_id, email, display_name, password_hash, roles, cohort) "
                "SELECT gen_random_uuid(), :t, 's' || g || '@perf.example', 'S' || g, 'x', "
                "ARRAY['student'], 'cohort-1' FROM generate_series(1, :n) g"
            ),
            {"t": tenant, "n": students},
        )
        c.execute(
            text(
                "INSERT INTO topics (tenant_id, name, path) SELECT :t, 'Topic ' || g, "
                "CAST('p' || g AS ltree) FROM generate_series(1, :k) g"
            ),
            {"t": tenant, "k": TOPICS},
        )
        topics = [r[0] for r in c.execute(text("SELECT id FROM topics ORDER BY id"))]
        author = c.execute(text("SELECT id FROM users LIMIT 1")).scalar_one()
        c.execute(
            text(
                "INSERT INTO questions (tenant_id, created_by, external_ref) "
                "SELECT :t, :u, 'P-' || g FROM generate_series(1, :n) g"
            ),
            {"t": tenant, "u": author, "n": QUESTIONS},
        )
        c.execute(
            text(
                "INSERT INTO question_versions (question_id, tenant_id, version, state, stem_md, "
                "lead_in, rationale_md, correct_label, difficulty_label, topic_id, created_by) "
                "SELECT q.id, :t, 1, 'published', 'stem', 'lead', 'why', 'A', 'easy', "
                "(:topics)[1 + q.id % :k], :u FROM questions q"
            ),
            {"t": tenant, "u": author, "topics": topics, "k": TOPICS},
        )
        # A quiz's items are consecutive versions from an offset of its own (so its topics
        # spread), each with its version's topic.
        qv = c.execute(text("SELECT min(id) FROM question_versions")).one()
        ids = [r[0] for r in c.execute(text("SELECT id FROM users ORDER BY id"))]
        for lo in range(0, students, CHUNK_STUDENTS):
            hi = min(students, lo + CHUNK_STUDENTS)
            t0 = time.perf_counter()
            params = {"t": tenant, "lo": lo + 1, "hi": hi, "per": PER_STUDENT // PER_QUIZ,
                      "e": EXAM, "qv": qv[0], "nq": QUESTIONS, "pq": PER_QUIZ}  # fmt: skip
            # Quiz j of student i: mode and status by j (80% tutor, 15% sealed exams, 5% running).
            c.execute(
                text(
                    "WITH u AS (SELECT id, row_number() OVER (ORDER BY id) AS i FROM users) "
                    "INSERT INTO quiz_sessions (id, tenant_id, user_id, mode, adaptive, exam_code, "
                    "num_questions, status, started_at, finished_at) "
                    "SELECT gen_random_uuid(), :t, u.id, CASE WHEN j % 20 < 16 THEN 'tutor' ELSE "
                    "'exam' END, false, :e, :pq, CASE WHEN j % 20 = 19 THEN 'active' ELSE "
                    "'finished' END, now() - interval '30 days', CASE WHEN j % 20 = 19 THEN NULL "
                    "ELSE now() - interval '30 days' END "
                    "FROM u, generate_series(1, :per) j WHERE u.i BETWEEN :lo AND :hi"
                ),
                params,
            )
            c.execute(
                text(
                    "WITH s AS (SELECT s.id, s.user_id FROM quiz_sessions s JOIN "
                    "(SELECT id, row_number() OVER (ORDER BY id) AS i FROM users) u "
                    "ON u.id = s.user_id WHERE u.i BETWEEN :lo AND :hi) "
                    "INSERT INTO quiz_items (quiz_id, tenant_id, question_id, question_version_id, "
                    "version, topic_id, position, is_pretest, a, b, c, calibrated) "
                    "SELECT s.id, :t, v.question_id, v.id, 1, v.topic_id, p, p % 20 = 0, 1, 0, "
                    "0.2, true FROM s CROSS JOIN generate_series(1, :pq) p JOIN question_versions v "
                    "ON v.id = :qv + (p - 1 + abs(hashtext(s.id::text))) % :nq"
                ),
                params,
            )
            # Each student has an ability of their own: P(correct) spreads the accuracies.
            c.execute(
                text(
                    "WITH u AS (SELECT id, row_number() OVER (ORDER BY id) AS i FROM users), "
                    "s AS (SELECT s.id, s.user_id FROM quiz_sessions s JOIN u ON u.id = s.user_id "
                    "WHERE u.i BETWEEN :lo AND :hi) "
                    "INSERT INTO user_responses (quiz_item_id, quiz_id, tenant_id, user_id, "
                    "question_id, question_version_id, selected_label, is_correct, time_taken_ms) "
                    "SELECT i.id, s.id, :t, s.user_id, i.question_id, i.question_version_id, 'A', "
                    "random() < 0.3 + 0.5 * (abs(hashtext(s.user_id::text)) % 1000) / 1000.0, 900 "
                    "FROM s JOIN quiz_items i ON i.quiz_id = s.id"
                ),
                params,
            )
            print(f"[bench]   students {lo + 1}-{hi}: {time.perf_counter() - t0:.1f}s", flush=True)
        has_counters = c.execute(text("SELECT to_regclass('performance_counters') IS NOT NULL")).scalar_one()  # fmt: skip
        if has_counters:
            t0 = time.perf_counter()
            c.execute(text(backfill_sql()))
            print(f"[bench]   counters from the answers: {time.perf_counter() - t0:.1f}s")
        c.execute(text("ANALYZE"))
    eng.dispose()
    return tenant, ids


def loaded_cohort(base: Settings, name: str):
    """(url, tenant, students) of a database this bench loaded completely, else None."""
    url = make_url(normalise_pg_url(base.database_url))
    admin = create_engine(url.set(database="postgres"))
    with admin.connect() as c:
        exists = c.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).first()
    admin.dispose()
    if not exists:
        return None
    db_url = url.set(database=name).render_as_string(hide_password=False)
    eng = create_engine(db_url)
    with eng.connect() as c:
        done = c.execute(
            text("SELECT count(*) FROM pg_stats WHERE tablename = 'user_responses'")
        ).scalar_one()
        tenant = c.execute(text("SELECT id FROM tenants WHERE slug = 'perf'")).scalar()
        students = [r[0] for r in c.execute(text("SELECT id FROM users ORDER BY id"))]
    eng.dispose()
    return (db_url, tenant, students) if done and tenant else None  # ANALYZE ran: fully loaded


def backfill_sql() -> str:
    spec = importlib.util.spec_from_file_location(
        "m0007", ROOT / "sql/migrations/versions/0007_hot_tables.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.BACKFILL


def measure(port: int, settings: Settings, tenant, students, requests: int, max_s: float) -> dict:
    rnd = random.Random(1)
    times: list[float] = []
    errors = 0
    first_ms = float("nan")
    deadline = time.monotonic() + max_s
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        for k in range(requests + 1):
            who = rnd.choice(students)
            tok = issue_token(settings, who, tenant, ["student"])[0]
            t0 = time.perf_counter()
            r = client.get(
                "/v1/me/performance",
                params={"exam_code": EXAM},
                headers={"Authorization": f"Bearer {tok}"},
            )
            ms = (time.perf_counter() - t0) * 1000
            ok = r.status_code == 200 and r.json()["overall"] is not None
            errors += not ok
            if k == 0:
                first_ms = ms
            else:
                times.append(ms)
            if time.monotonic() > deadline:
                break
    return {
        "first_ms": first_ms,
        "n": len(times),
        "p50": statistics.median(times) if times else float("nan"),
        "p99": percentile(times, 99),
        "errors": errors,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--scales", default="1000000,10000000")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--max-seconds", type=float, default=60.0)
    ap.add_argument("--reuse", action="store_true", help="keep an already loaded database")
    ap.add_argument("--server-root", type=Path, default=ROOT, help="checkout to run the API from")
    args = ap.parse_args()
    base = Settings()
    results = []
    for answers in (int(x) for x in args.scales.split(",")):
        name = f"{DB}_{answers}"
        print(f"[bench] {answers:,} answers: database {name}", flush=True)
        t0 = time.perf_counter()
        loaded = loaded_cohort(base, name) if args.reuse else None
        if loaded is None:
            db_url = recreate_database(base, name)
            tenant, students = load(db_url, answers)
        else:
            db_url, tenant, students = loaded
        load_s = time.perf_counter() - t0
        settings = base.model_copy(update={"database_url": db_url})
        port = free_port()
        log = Path(tempfile.gettempdir()) / "qbank-bench-perfread.log"
        server = start_server(db_url, port, 2, log, root=args.server_root)
        try:
            res = measure(port, settings, tenant, students, args.requests, args.max_seconds)
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
        res.update(answers=answers, students=len(students), load_s=load_s)
        results.append(res)
        print(
            f"[bench]   first {res['first_ms']:.1f} ms, p50 {res['p50']:.1f} ms, "
            f"p99 {res['p99']:.1f} ms over {res['n']} requests ({res['errors']} errors)",
            flush=True,
        )
    print(f"\n{'answers':>12}{'students':>10}{'load s':>9}{'first ms':>10}{'n':>6}"
          f"{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")  # fmt: skip
    for r in results:
        print(f"{r['answers']:>12,}{r['students']:>10}{r['load_s']:>9.0f}{r['first_ms']:>10.1f}"
              f"{r['n']:>6}{r['p50']:>9.1f}{r['p99']:>9.1f}{r['errors']:>8}")  # fmt: skip
    print(
        " ".join(
            f"p50_ms_{r['answers']}={r['p50']:.2f} p99_ms_{r['answers']}={r['p99']:.2f} "
            f"first_ms_{r['answers']}={r['first_ms']:.1f} n_{r['answers']}={r['n']} "
            f"errors_{r['answers']}={r['errors']}"
            for r in results
        )
    )


if __name__ == "__main__":
    main()
