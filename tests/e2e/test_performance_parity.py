"""The student dashboard and the BI marts count the same answers (issue 13, one definition).

Students take quizzes over HTTP on a real API process: adaptive tutor quizzes with pretest
slots, linear exams they finish, and a linear exam left running. The events go the production
way (outbox relay → Kafka → consumer → raw.events), dbt builds the marts, and then, per student
and topic, `GET /v1/me/performance` (answered, correct, accuracy, cohort size, percentile) must
equal what the marts say: fact_responses' scored answers, the mid-rank percentile among the
students of the caller's cohort recomputed from them, and topic_performance /
cohort_performance summed over the tenant.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text

from ingestion.consumer import EventConsumer
from ingestion.outbox_relay import OutboxRelay
from qbank.settings import Settings
from tests.support import bank
from tests.support.api_server import Server, start_server, stop_server
from tests.support.databases import TEST_DB
from tests.support.dbt import DbtDatabase
from tests.support.people import Person, login, make_tenant, make_user

pytestmark = pytest.mark.stack

COHORTS = {"s1": "2026-a", "s2": "2026-a", "s3": "2026-a", "s4": "2026-a", "s5": "2026-b"}


@pytest.fixture(scope="module")
def api(migrated_db: str) -> Iterator[Server]:
    server = start_server("performance-parity")
    yield server
    stop_server(server)


def _call(client: httpx.Client, method: str, path: str, who: Person, **kw) -> dict:
    r = client.request(method, path, headers=who.headers, **kw)
    assert r.status_code in (200, 201), (path, r.text)
    return r.json()


def _take(client: httpx.Client, who: Person, rng, p_right: float, finish: bool, **quiz) -> str:
    """Start a quiz, answer every item (key B: right with probability p_right), maybe finish."""
    q = _call(client, "POST", "/v1/quizzes", who, json=quiz)
    for _ in range(quiz["num_questions"]):
        nxt = _call(client, "GET", f"/v1/quizzes/{q['id']}/next", who)
        if nxt.get("item") is None:
            break
        choice = "B" if rng.random() < p_right else str(rng.choice(["A", "C", "D"]))
        _call(client, "POST", f"/v1/quizzes/{q['id']}/answers", who, json={"selected": choice})
    if finish:
        _call(client, "POST", f"/v1/quizzes/{q['id']}/finish", who)
    return q["id"]


def _mid_rank(per_user: pd.DataFrame, user: uuid.UUID) -> float:
    """The API's percentile: 100 · (students below + half the ties, self included) / size."""
    mine = per_user.loc[user, "accuracy"]
    below = (per_user.accuracy < mine).sum()
    ties = (per_user.accuracy == mine).sum()
    return round(100.0 * (below + 0.5 * ties) / len(per_user), 1)


@pytest.fixture(scope="module")
def seeded(api: Server, engine: Engine, settings: Settings, kafka_topic: str, tmp_path_factory):
    slug = f"parity-{uuid.uuid4().hex[:6]}"
    tenant = make_tenant(engine, slug)
    admin = make_user(engine, tenant, "admin", ["admin", "author", "publisher"])
    students = {
        k: login(api, make_user(engine, tenant, k, ["student"], cohort=c))
        for k, c in COHORTS.items()
    }
    topics = bank.make_topics(engine, tenant.id, {"Cardiology": ["Arrhythmias"], "Renal": []})
    exam = f"PAR-{uuid.uuid4().hex[:6]}"
    qids = bank.publish_items(engine, tenant.id, admin.id, exam, topics, per_topic=10)
    # A live set over two thirds of the bank: the others go to pretest slots (unscored).
    calibrated = qids[::3] + qids[1::3]
    bank.activate_parameter_set(
        engine, tenant.id, exam, {q: (1.0, 0.0, 0.2, 1.0) for q in calibrated}
    )

    running: list[str] = []
    with httpx.Client(base_url=api.url, timeout=20) as client:
        for i, who in enumerate(students.values()):
            rng = np.random.default_rng(100 + i)
            p_right = 0.35 + 0.12 * i
            for _ in range(2):
                _take(client, who, rng, p_right, True, mode="tutor", adaptive=True,
                      exam_code=exam, num_questions=10)  # fmt: skip
            _take(client, who, rng, p_right, True, mode="exam", adaptive=False,
                  exam_code=exam, num_questions=8)  # fmt: skip
            # Still running: its answers are in the marts, but count nowhere yet.
            running.append(
                _take(
                    client,
                    who,
                    rng,
                    1.0 - p_right,
                    False,
                    mode="exam",
                    adaptive=False,
                    exam_code=exam,
                    num_questions=6,
                )  # fmt: skip
            )
        performance = {
            key: _call(client, "GET", "/v1/me/performance", who, params={"exam_code": exam})
            for key, who in students.items()
        }

    # The production path: outbox → Kafka → raw.events, then dbt over this run's database.
    OutboxRelay(settings).run(drain=True)
    EventConsumer(settings).run_until_caught_up(max_seconds=120)
    db = DbtDatabase(TEST_DB, engine.url.render_as_string(hide_password=False), engine,
                     settings, tmp_path_factory.mktemp("dbt-parity"))  # fmt: skip
    built = db.dbt("build")
    assert built.success, db.run_results()
    with engine.connect() as c:
        fact = pd.read_sql(
            text("SELECT * FROM marts.fact_responses WHERE tenant_id = :t AND exam_code = :e"),
            c,
            params={"t": tenant.id, "e": exam},
        )
        current = pd.read_sql(
            text(
                "SELECT user_id, cohort FROM snapshots.users_snapshot "
                "WHERE tenant_id = :t AND dbt_valid_to IS NULL"
            ),
            c,
            params={"t": tenant.id},
        )
        topic_perf = pd.read_sql(
            text("SELECT * FROM marts.topic_performance WHERE tenant_id = :t AND exam_code = :e"),
            c,
            params={"t": tenant.id, "e": exam},
        )
        cohort_attempts = c.execute(
            text("SELECT sum(attempts) FROM marts.cohort_performance WHERE tenant_id = :t"),
            {"t": tenant.id},
        ).scalar_one()
    return {
        "students": students,
        "performance": performance,
        "fact": fact,
        "current_cohort": dict(zip(current.user_id, current.cohort, strict=True)),
        "topic_performance": topic_perf,
        "cohort_attempts": int(cohort_attempts),
        "running": {uuid.UUID(q) for q in running},
    }


def test_the_marts_hold_the_unscored_answers_but_do_not_count_them(seeded: dict) -> None:
    fact = seeded["fact"]
    assert fact.is_pretest.any()  # pretest slots were served and answered
    in_running = fact.quiz_id.isin(seeded["running"])
    assert in_running.sum() == 6 * len(COHORTS)
    assert (fact[in_running].quiz_status == "active").all()
    assert not fact[in_running | fact.is_pretest].is_scored.any()
    assert fact[~in_running & ~fact.is_pretest].is_scored.all()
    assert set(fact[~in_running].quiz_status) == {"finished"}


def test_api_performance_equals_the_marts_per_topic(seeded: dict) -> None:
    fact = seeded["fact"]
    scored = fact[fact.is_scored].copy()
    scored["right"] = scored.is_correct.astype(int)
    scored["member_of"] = scored.user_id.map(seeded["current_cohort"])
    compared = 0
    for key, who in seeded["students"].items():
        api = seeded["performance"][key]
        assert api["cohort"] == COHORTS[key]
        # The caller's cohort today (the API's rule): its members' scored answers.
        peers = scored[scored.member_of == COHORTS[key]]
        views = [(None, api["overall"], peers)] + [
            (t["topic_id"], t, peers[peers.topic_id == t["topic_id"]]) for t in api["topics"]
        ]
        mart_topics = set(peers[peers.user_id == who.id].topic_id)
        assert {t["topic_id"] for t in api["topics"]} == mart_topics, key
        for topic, got, rows in views:
            per_user = rows.groupby("user_id").right.agg(answered="size", correct="sum")
            per_user["accuracy"] = per_user.correct / per_user.answered
            mine = per_user.loc[who.id]
            expected = {
                "answered": int(mine.answered),
                "correct": int(mine.correct),
                "accuracy": pytest.approx(float(mine.accuracy)),
                "cohort_size": len(per_user),
                "percentile": pytest.approx(_mid_rank(per_user, who.id), abs=0.05),
            }
            assert {k: got[k] for k in expected} == expected, (key, topic)
            compared += 1
    assert compared >= 3 * len(COHORTS)


def test_topic_and_cohort_marts_sum_to_the_api(seeded: dict) -> None:
    """The aggregate marts count what the students' dashboards count, over the whole tenant."""
    perf = seeded["performance"]
    assert seeded["cohort_attempts"] == sum(p["overall"]["answered"] for p in perf.values())
    direct = seeded["topic_performance"].set_index("topic_id")
    by_topic: dict[int, list[int]] = {}
    for p in perf.values():
        for t in p["topics"]:
            got = by_topic.setdefault(t["topic_id"], [0, 0])
            got[0] += t["answered"]
            got[1] += t["correct"]
    for topic_id, (answered, _correct) in by_topic.items():
        assert direct.loc[topic_id, "direct_attempts"] == answered
    leaves = direct[direct.direct_attempts == direct.attempts]
    for topic_id, row in leaves.iterrows():
        assert row.correct == by_topic[topic_id][1]
