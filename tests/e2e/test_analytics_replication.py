"""Analytics off the serving primary, end to end, across two PostgreSQL clusters.

Two throw-away clusters with wal_level=logical (the shared one may run without it, and changing
it takes a restart): the API serves from one, `qbank analytics setup` (the real command line)
subscribes the other to its content. A student's quiz goes the production way (API → outbox →
Kafka → consumer) into the analytics database's raw tables, dbt builds the marts there over the
replicated content, and a question published afterwards on the serving side appears in the
analytics database's staging. The serving database gets no raw rows and
no dbt schemas.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text

from ingestion.consumer import EventConsumer
from ingestion.outbox_relay import OutboxRelay
from orchestration.resources import build_resources
from qbank import analytics, migrations
from qbank.settings import PROJECT_ROOT, Settings
from tests.support import bank
from tests.support.api_server import Server, start_server, stop_server
from tests.support.clusters import Cluster, start_cluster
from tests.support.dbt import DbtDatabase
from tests.support.kafka import own_topic
from tests.support.people import login, make_tenant, make_user

pytestmark = pytest.mark.stack


@dataclass
class TwoClusters:
    serving: Cluster
    analytics: Cluster
    settings: Settings
    admin_url: str
    serving_engine: Engine
    analytics_engine: Engine

    def cli(self, *args: str) -> str:
        env = {
            **os.environ,
            "DATABASE_URL": self.settings.database_url,
            "ANALYTICS_DATABASE_URL": self.settings.analytics_database_url,
            "ANALYTICS_ADMIN_URL": self.admin_url,
        }
        out = subprocess.run(
            [sys.executable, "-m", "qbank.cli", *args],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout


@pytest.fixture(scope="module")
def two(settings: Settings, kafka_topic: str) -> Iterator[TwoClusters]:
    with own_topic("replication") as (topic, group):
        yield from _two(settings, topic, group)


def _two(settings: Settings, topic: str, group: str) -> Iterator[TwoClusters]:
    serving, analytics_cluster = start_cluster(), None
    try:
        analytics_cluster = start_cluster()
        serving.create_database("qbank")
        analytics_cluster.create_database("qbank_analytics")
        s = settings.model_copy(
            update={
                "database_url": serving.url("qbank"),
                "analytics_database_url": analytics_cluster.url("qbank_analytics"),
                "kafka_topic_events": topic,
                "kafka_consumer_group": group,
            }
        )
        migrations.upgrade(s.database_url)
        se, ae = create_engine(s.database_url), create_engine(s.analytics_url)
        yield TwoClusters(
            serving, analytics_cluster, s,
            analytics_cluster.url("qbank_analytics", "qbank_admin"), se, ae,
        )  # fmt: skip
        se.dispose()
        ae.dispose()
    finally:
        for c in (serving, analytics_cluster):
            if c is not None:
                c.stop()


@pytest.fixture(scope="module")
def api(two: TwoClusters) -> Iterator[Server]:
    # The API is given both URLs, as every process of a deployment is: it must use the serving one.
    server = start_server(
        "analytics-replication",
        {
            "DATABASE_URL": two.settings.database_url,
            "ANALYTICS_DATABASE_URL": two.settings.analytics_database_url,
        },
        # Beside benchmarks and other suites on this 2-core box, start-up took over 30 s once.
        timeout=90,
    )
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def built(two: TwoClusters, api: Server, tmp_path_factory) -> dict:
    """Setup by the CLI, content on the serving side, a quiz over HTTP, ingestion, dbt build."""
    first = two.cli("analytics", "setup")
    again = two.cli("analytics", "setup")
    status = two.cli("analytics", "status")

    se = two.serving_engine
    tenant = make_tenant(se, f"repl-{uuid.uuid4().hex[:6]}")
    admin = make_user(se, tenant, "admin", ["admin", "author", "publisher"])
    student = login(api, make_user(se, tenant, "student", ["student"], cohort="2026-a"))
    topics = bank.make_topics(se, tenant.id, {"Cardiology": [], "Renal": []})
    exam = f"REP-{uuid.uuid4().hex[:6]}"
    qids = bank.publish_items(se, tenant.id, admin.id, exam, topics, per_topic=4)

    with httpx.Client(base_url=api.url, timeout=20, headers=student.headers) as client:
        quiz = client.post(
            "/v1/quizzes",
            json={"mode": "tutor", "adaptive": False, "exam_code": exam, "num_questions": 5},
        )
        assert quiz.status_code == 201, quiz.text
        qid = quiz.json()["id"]
        for _ in range(5):
            assert client.get(f"/v1/quizzes/{qid}/next").status_code == 200
            r = client.post(f"/v1/quizzes/{qid}/answers", json={"selected": "B"})
            assert r.status_code == 200, r.text
        assert client.post(f"/v1/quizzes/{qid}/finish").status_code == 200

    OutboxRelay(two.settings).run(drain=True)
    EventConsumer(two.settings).run_until_caught_up(max_seconds=120)
    analytics.wait_until_caught_up(two.settings)
    db = DbtDatabase("qbank_analytics", two.settings.analytics_url, two.analytics_engine,
                     two.settings, tmp_path_factory.mktemp("dbt-analytics"))  # fmt: skip
    result = db.dbt("build")
    assert result.success, db.run_results()
    return {"first": first, "again": again, "status": status, "tenant": tenant, "exam": exam,
            "qids": qids, "quiz": uuid.UUID(qid), "admin": admin, "topics": topics, "db": db}  # fmt: skip


def _scalar(engine: Engine, sql: str, **params):
    with engine.connect() as c:
        return c.execute(text(sql), params).scalar_one()


def test_setup_is_idempotent_and_every_table_is_ready(built: dict) -> None:
    assert "created: publication, subscription" in built["first"]
    assert "nothing new" in built["again"]
    assert "subscription enabled" in built["status"]
    for table in analytics.REPLICATED_TABLES:
        assert f"{table} " in built["status"] and "ready" in built["status"]
    assert built["status"].count("ready") == len(analytics.REPLICATED_TABLES)


def test_events_land_in_the_analytics_database_only(two: TwoClusters, built: dict) -> None:
    q = "SELECT count(*) FROM raw.events WHERE quiz_id = :q"
    # started, 5 × (served, answered), finished
    assert _scalar(two.analytics_engine, q, q=built["quiz"]) == 12
    assert _scalar(two.serving_engine, "SELECT count(*) FROM raw.events") == 0
    dbt_schemas = (
        "SELECT count(*) FROM pg_namespace WHERE nspname IN ('staging', 'marts', 'snapshots')"
    )
    assert _scalar(two.serving_engine, dbt_schemas) == 0
    assert _scalar(two.analytics_engine, dbt_schemas) == 3


def test_marts_join_the_replicated_content(two: TwoClusters, built: dict) -> None:
    with two.analytics_engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT f.question_id, f.cohort, f.topic_id, f.is_scored FROM marts.fact_responses f "
                "WHERE f.quiz_id = :q ORDER BY f.position"
            ),
            {"q": built["quiz"]},
        ).all()
    assert len(rows) == 5
    assert {r.question_id for r in rows} <= set(built["qids"])
    assert {r.cohort for r in rows} == {"2026-a"}  # from the replicated users (snapshot)
    assert {r.topic_id for r in rows} <= set(built["topics"].values())
    assert all(r.is_scored for r in rows)


def test_a_question_published_later_appears_in_staging(two: TwoClusters, built: dict) -> None:
    staged = "SELECT count(*) FROM staging.stg_qbank__questions WHERE question_id = :q"
    extra = bank.make_topics(two.serving_engine, built["tenant"].id, {"Pulmonology": []})
    (new_qid,) = bank.publish_items(
        two.serving_engine, built["tenant"].id, built["admin"].id, built["exam"], extra, 1
    )
    waited = analytics.wait_until_caught_up(two.settings)
    assert waited < 10
    # Staging models are views over the replicated tables: the next run sees the question.
    assert _scalar(two.analytics_engine, staged, q=new_qid) == 1
    result = built["db"].dbt("build", "--select", "stg_qbank__questions+")
    assert result.success, built["db"].run_results()


def test_the_pipeline_reads_analytics_and_publishes_on_the_serving_database(
    two: TwoClusters,
) -> None:
    saved = dict(os.environ)  # build_resources exports the URLs, as a Dagster process does
    try:
        qbank = build_resources(two.settings)["qbank"]
        # What a run's EnvVars resolve to.
        resolved = type(qbank)(
            database_url=os.environ["QBANK_DAGSTER_DATABASE_URL"],
            analytics_database_url=os.environ["QBANK_DAGSTER_ANALYTICS_DATABASE_URL"],
            kafka_bootstrap=qbank.kafka_bootstrap,
            kafka_topic_events=qbank.kafka_topic_events,
            kafka_consumer_group=qbank.kafka_consumer_group,
        )
        dbt_port = os.environ["QBANK_DBT_PORT"]
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert dbt_port == str(two.analytics.port)
    assert resolved.serving_engine.url.port == two.serving.port
    assert resolved.analytics_engine.url.port == two.analytics.port
    assert resolved.settings().analytics_url == two.settings.analytics_url
    assert resolved.wait_for_replica() is not None
    resolved.serving_engine.dispose()
    resolved.analytics_engine.dispose()
