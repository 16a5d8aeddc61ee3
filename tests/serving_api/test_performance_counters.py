"""`GET /v1/me/performance` from counters (issue 14): the same numbers as the SQL over every
answer it replaced, counters written by the statement that makes an answer scored, and nothing
counted that is not scored (pretest slots, an exam still running)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import numpy as np
import psycopg
import pytest
from sqlalchemy import Engine

from serving_api.services import performance
from serving_api.services.scored import SCORED_ANSWERS
from tests.support import bank
from tests.support.modules import load_file
from tests.support.people import login, make_user
from tests.support.quizzes import answer, fresh_exam, next_item, start

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]

# The read this issue replaced (serving_api.services.reports before 0007_hot_tables): every scored
# answer of the cohort on each request. Kept here as the reference the counters must equal.
OLD_PERFORMANCE_SQL = f"""
WITH me AS (SELECT cohort FROM users WHERE id = %(user)s AND tenant_id = %(tenant)s),
per_user AS (
  SELECT a.user_id, a.topic_id, count(*) AS answered,
         sum(CASE WHEN a.is_correct THEN 1 ELSE 0 END) AS correct,
         avg(CASE WHEN a.is_correct THEN 1.0 ELSE 0.0 END) AS accuracy
  FROM ({SCORED_ANSWERS}) a
  JOIN users u ON u.id = a.user_id
  WHERE a.tenant_id = %(tenant)s AND u.tenant_id = %(tenant)s
    AND u.cohort = (SELECT cohort FROM me)
    AND (%(exam)s::text IS NULL OR a.exam_code = %(exam)s::text)
  GROUP BY GROUPING SETS ((a.user_id, a.topic_id), (a.user_id))
),
ranked AS (
  SELECT p.*,
         count(*) OVER w_all AS cohort_size,
         count(*) OVER w_tie AS ties,
         rank() OVER (PARTITION BY p.topic_id ORDER BY p.accuracy) - 1 AS below
  FROM per_user p
  WINDOW w_all AS (PARTITION BY p.topic_id), w_tie AS (PARTITION BY p.topic_id, p.accuracy)
)
SELECT r.topic_id, r.answered, r.correct, r.accuracy, r.cohort_size,
       100.0 * (r.below + 0.5 * r.ties) / r.cohort_size AS percentile, (SELECT cohort FROM me)
FROM ranked r
WHERE r.user_id = %(user)s
ORDER BY r.topic_id NULLS FIRST
"""

COUNTERS_SQL = """
SELECT user_id, exam_code, topic_id, answered, correct FROM performance_counters
WHERE tenant_id = %(tenant)s ORDER BY 1, 2, 3
"""
FROM_ANSWERS_SQL = f"""
SELECT a.user_id, a.exam_code, a.topic_id, count(*), count(*) FILTER (WHERE a.is_correct)
FROM ({SCORED_ANSWERS}) a WHERE a.tenant_id = %(tenant)s GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""


def _raw(engine: Engine, sql: str, params: dict) -> list[tuple]:
    conn = engine.raw_connection()
    try:
        cur = conn.cursor()
        cur.execute(sql, params)
        rows = cur.fetchall() if cur.description else []
        conn.commit()
        return rows
    finally:
        conn.close()


def _old(engine: Engine, user: uuid.UUID, tenant: uuid.UUID, exam: str | None) -> dict:
    rows = _raw(engine, OLD_PERFORMANCE_SQL, {"user": user, "tenant": tenant, "exam": exam})
    out: dict = {"cohort": rows[0][6] if rows else None, "rows": {}}
    for topic, answered, correct, acc, size, pct, _ in rows:
        out["rows"][topic] = (
            int(answered),
            int(correct),
            float(acc),
            int(size),
            round(float(pct), 1),
        )
    return out


def _new(perf: dict) -> dict:
    out: dict = {"cohort": perf["cohort"], "rows": {}}
    for topic, e in [(None, perf["overall"])] + [(t["topic_id"], t) for t in perf["topics"]]:
        if e is not None:
            out["rows"][topic] = (
                e["answered"], e["correct"], e["accuracy"], e["cohort_size"], e["percentile"]
            )  # fmt: skip
    return out


def _take(client, who, rng, p_right: float, n: int, finish: bool, **quiz) -> str:
    q = start(client, who, num_questions=n, **quiz)
    for _ in range(n):
        if next_item(client, who, q["id"]).get("item") is None:
            break
        answer(client, who, q["id"], "B" if rng.random() < p_right else "A")
    if finish:
        r = client.post(f"/v1/quizzes/{q['id']}/finish", headers=who.headers)
        assert r.status_code == 200, r.text
    return q["id"]


@pytest.fixture(scope="module")
def cohort(api, world, engine):
    """Five students of one cohort (and one of another) through tutor quizzes with pretest
    slots, finished linear exams and one exam left running each."""
    import httpx

    exam, qids = fresh_exam(engine, world, per_topic=6)  # key B
    # A live set over two thirds of the bank: the rest go to pretest slots (unscored).
    bank.activate_parameter_set(
        engine, world.a.id, exam, {q: (1.0, 0.0, 0.2, 1.0) for q in qids[::3] + qids[1::3]}
    )
    name = f"pc-{uuid.uuid4().hex[:6]}"
    people = [
        login(api, make_user(engine, world.a, f"pc{k}{name}", ["student"], cohort=name))
        for k in range(5)
    ] + [login(api, make_user(engine, world.a, f"pcx{name}", ["student"], cohort=name + "-x"))]
    running = []
    with httpx.Client(base_url=api.url, timeout=20) as client:
        for i, who in enumerate(people):
            rng = np.random.default_rng(7 + i)
            p = 0.2 + 0.15 * i
            _take(client, who, rng, p, 10, True, mode="tutor", adaptive=True, exam_code=exam)
            _take(client, who, rng, p, 6, i % 2 == 0, mode="tutor", adaptive=False, exam_code=exam)
            _take(client, who, rng, p, 6, True, mode="exam", adaptive=False, exam_code=exam)
            running.append(
                _take(
                    client, who, rng, 1 - p, 4, False, mode="exam", adaptive=False, exam_code=exam
                )  # fmt: skip
            )
    return {"exam": exam, "people": people, "running": running, "tenant": world.a.id}


def test_same_numbers_as_the_sql_over_every_answer(cohort, client, engine):
    compared = 0
    for who in cohort["people"]:
        for exam in (cohort["exam"], None):
            params = {"exam_code": exam} if exam else {}
            got = client.get("/v1/me/performance", params=params, headers=who.headers).json()
            new, old = _new(got), _old(engine, who.id, cohort["tenant"], exam)
            assert new["cohort"] == old["cohort"]
            assert new["rows"].keys() == old["rows"].keys()
            for topic, row in old["rows"].items():
                a, c, acc, size, pct = new["rows"][topic]
                assert (a, c, size, pct) == (row[0], row[1], row[3], row[4]), (who.email, topic)
                assert acc == pytest.approx(row[2], rel=1e-12)
                compared += 1
            assert got["percentile_as_of"] is not None
    assert compared >= 6 * 2 * 3


def test_counters_equal_the_scored_answers_and_the_migrations_backfill(cohort, engine):
    params = {"tenant": cohort["tenant"]}
    counters = _raw(engine, COUNTERS_SQL, params)
    assert counters and counters == _raw(engine, FROM_ANSWERS_SQL, params)
    # The migration's backfill counts by the same rule (it may not import the API).
    mod = load_file(ROOT / "sql/migrations/versions/0007_hot_tables.py", "m0007")
    select = mod.BACKFILL.split("\n", 2)[2]  # the SELECT below its INSERT INTO ... line
    backfill = _raw(
        engine,
        f"SELECT user_id, exam_code, topic_id, count, count_1 FROM ({select}) b(user_id, "
        "exam_code, topic_id, tenant_id, count, count_1) WHERE tenant_id = %(tenant)s "
        "ORDER BY 1, 2, 3",
        params,
    )
    assert backfill == counters


def test_unscored_answers_are_not_counted_until_the_exam_is_sealed(api, world, engine, client):
    exam, qids = fresh_exam(engine, world, per_topic=6)
    # 10-question quizzes over a bank two thirds calibrated: one pretest slot each.
    bank.activate_parameter_set(
        engine, world.a.id, exam, {q: (1.0, 0.0, 0.2, 1.0) for q in qids[::3] + qids[1::3]}
    )
    s = login(api, make_user(engine, world.a, f"unscored{uuid.uuid4().hex[:4]}", ["student"]))

    def counted() -> int:
        rows = _raw(
            engine,
            "SELECT coalesce(sum(answered), 0) FROM performance_counters "
            "WHERE user_id = %(u)s AND exam_code = %(e)s",
            {"u": s.id, "e": exam},
        )
        return int(rows[0][0])

    def non_pretest_answered(quiz_id: str) -> int:
        rows = _raw(
            engine,
            "SELECT count(*) FROM user_responses r JOIN quiz_items i ON i.id = r.quiz_item_id "
            "WHERE r.quiz_id = %(q)s AND NOT i.is_pretest",
            {"q": uuid.UUID(quiz_id)},
        )
        return int(rows[0][0])

    rng = np.random.default_rng(3)
    exam_quiz = _take(client, s, rng, 0.5, 10, False, mode="exam", adaptive=False, exam_code=exam)
    assert counted() == 0  # an exam still running counts for nothing
    r = client.post(f"/v1/quizzes/{exam_quiz}/finish", headers=s.headers)
    assert r.status_code == 200, r.text
    sealed = non_pretest_answered(exam_quiz)
    assert sealed > 0 and counted() == sealed  # the seal counted its scored answers, once
    tutor = _take(client, s, rng, 0.5, 10, False, mode="tutor", adaptive=True, exam_code=exam)
    pretest = _raw(
        engine,
        "SELECT count(*) FROM quiz_items WHERE quiz_id IN (%(a)s, %(b)s) AND is_pretest",
        {"a": uuid.UUID(exam_quiz), "b": uuid.UUID(tutor)},
    )[0][0]
    assert pretest > 0  # pretest slots were served and answered, and are not counted
    assert counted() == sealed + non_pretest_answered(tutor)
    r = client.post(f"/v1/quizzes/{tutor}/finish", headers=s.headers)
    assert counted() == sealed + non_pretest_answered(tutor)  # a tutor seal adds nothing


def test_counter_and_answer_are_one_statement(api, world, engine, client):
    """A counter that cannot take the answer (int overflow) fails the whole statement: no
    answer, no event, no state change; once it can, all of them are written together."""
    exam, _ = fresh_exam(engine, world, per_topic=2)
    s = login(api, make_user(engine, world.a, f"atomic{uuid.uuid4().hex[:4]}", ["student"]))
    quiz = start(client, s, mode="tutor", adaptive=False, exam_code=exam, num_questions=2)
    item = next_item(client, s, quiz["id"])["item"]
    topic = item["topic"]["id"]
    key = {"u": s.id, "e": exam, "t": topic, "tenant": world.a.id, "q": uuid.UUID(quiz["id"])}
    _raw(
        engine,
        "INSERT INTO performance_counters VALUES (%(u)s, %(e)s, %(t)s, %(tenant)s, 2147483647, 0)",
        key,
    )

    def state() -> tuple:
        return _raw(
            engine,
            "SELECT (SELECT state_version FROM quiz_sessions WHERE id = %(q)s), "
            "(SELECT count(*) FROM user_responses WHERE quiz_id = %(q)s), "
            "(SELECT count(*) FROM event_outbox WHERE partition_key = %(q)s::text "
            " AND event_type = 'answer_submitted'), "
            "(SELECT answered FROM performance_counters WHERE user_id = %(u)s "
            " AND exam_code = %(e)s AND topic_id = %(t)s)",
            key,
        )[0]

    before = state()
    r = client.post(f"/v1/quizzes/{quiz['id']}/answers", json={"selected": "B"}, headers=s.headers)
    assert r.status_code == 422 and "out of range" in r.text, r.text  # a DataError
    assert state() == before  # nothing of the answer was written
    _raw(
        engine,
        "UPDATE performance_counters SET answered = 5, correct = 1 "
        "WHERE user_id = %(u)s AND exam_code = %(e)s AND topic_id = %(t)s",
        key,
    )
    assert answer(client, s, quiz["id"], "B")["correct"] is True
    sv, responses, events, answered = state()
    assert (sv, responses, events, answered) == (before[0] + 1, 1, 1, 6)
    correct = _raw(
        engine,
        "SELECT correct FROM performance_counters WHERE user_id = %(u)s AND exam_code = %(e)s "
        "AND topic_id = %(t)s",
        key,
    )[0][0]
    assert correct == 2


def test_stored_distribution_ranks_as_the_counters_do(cohort, engine):
    """A large cohort reads its percentiles from the stored distribution: right after a
    refresh it gives exactly what ranking on the spot gives."""
    from qbank.settings import libpq_url

    url = libpq_url(engine.url.render_as_string(hide_password=False))

    async def compare() -> int:
        compared = 0
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            for exam in (cohort["exam"], None):
                who = cohort["people"][0]
                cohort_name = (
                    await (await conn.execute(
                        performance.GROUP_SQL,
                        {"user": who.id, "tenant": cohort["tenant"], "exam_key": ""},
                    )).fetchone()
                )[0]  # fmt: skip
                assert await performance.refresh(conn, cohort["tenant"], cohort_name, exam)
                for who in cohort["people"][:5]:
                    params = {"user": who.id, "tenant": cohort["tenant"], "exam": exam,
                              "exam_key": exam or "", "cohort": cohort_name}  # fmt: skip
                    inline = await (await conn.execute(performance.INLINE_SQL, params)).fetchall()
                    stored = await (await conn.execute(performance.STORED_SQL, params)).fetchall()
                    assert [r[:6] for r in inline] == [tuple(r) for r in stored]
                    compared += len(stored)
        return compared

    assert asyncio.run(compare()) >= 5 * 2 * 3


def test_a_large_cohort_reads_the_stored_distribution_and_refreshes_it_later(
    cohort, engine, client, monkeypatch
):
    """With the threshold at one counter row the cohort is 'large': the first read ranks on the
    spot and stores the distribution, later reads use it (same numbers while nothing changed),
    and a read finding it older than refresh_s has it recomputed in the background."""
    from psycopg_pool import AsyncConnectionPool

    from qbank.settings import libpq_url
    from serving_api.services.topic_paths import TopicPaths

    monkeypatch.setattr(performance, "SMALL_GROUP_ROWS", 1)
    url = libpq_url(engine.url.render_as_string(hide_password=False))
    who = cohort["people"][1]
    expected = client.get(
        "/v1/me/performance", params={"exam_code": cohort["exam"]}, headers=who.headers
    ).json()  # the API (its own threshold: ranked on the spot)

    async def run() -> tuple[dict, dict, object, object]:
        async with AsyncConnectionPool(
            url, min_size=1, max_size=2, kwargs={"autocommit": True}
        ) as pg:
            perf = performance.Performance(pg, refresh_s=0.001)
            paths = TopicPaths()
            async with pg.connection() as conn:
                await conn.execute(
                    "DELETE FROM performance_distribution_groups WHERE tenant_id = %s",
                    (cohort["tenant"],),
                )
                first = await perf.read(conn, paths, who.id, cohort["tenant"], cohort["exam"])
                await asyncio.sleep(0.01)
                second = await perf.read(conn, paths, who.id, cohort["tenant"], cohort["exam"])
                # From the distribution the first read stored (just after ranking on the spot).
                stored_at = second["percentile_as_of"]
                assert stored_at >= first["percentile_as_of"]
                assert perf._refreshing  # older than refresh_s: recomputed in the background
                await asyncio.gather(*perf._refreshing.values())
                third = await perf.read(conn, paths, who.id, cohort["tenant"], cohort["exam"])
            return first, second, stored_at, third["percentile_as_of"]

    first, second, stored_at, refreshed_at = asyncio.run(run())
    for got in (first, second):
        assert {k: v for k, v in got.items() if k != "percentile_as_of"} == {
            k: v for k, v in expected.items() if k != "percentile_as_of"
        }
    assert refreshed_at > stored_at
