"""The main job, reduced, with the analytics database on a cluster of its own.

`python -m demo.run --small` closes the whole loop: bank through the authoring API → students
over HTTP → outbox relay → Kafka → Dagster (ingest, dbt, calibration, exposure control, publish,
report) → the API serves the calibrated set → round 2. Every process (API, relay, the headless
Dagster run, the demo itself) gets DATABASE_URL on one throw-away cluster and
ANALYTICS_DATABASE_URL on another, subscribed by `qbank analytics setup`: ingestion and dbt work
in the analytics database, the calibration reads its marts, the set is published on the serving
database, and round 2 is served with it. (The same loop on one cluster, through the same API and
nightly job, is tests/e2e/test_season_small.py's.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from demo import run as demo_run
from qbank import migrations
from qbank.analytics import wait_until_caught_up
from qbank.settings import PROJECT_ROOT, get_settings
from tests.support.api_server import ARTIFACTS, start_server, stop_server
from tests.support.clusters import start_cluster
from tests.support.kafka import own_topic

pytestmark = pytest.mark.stack


@pytest.fixture
def two_cluster_env(kafka_topic: str, monkeypatch) -> Iterator[dict[str, str]]:
    with own_topic("two-clusters"):
        yield from _two_cluster_env(monkeypatch)


def _two_cluster_env(monkeypatch) -> Iterator[dict[str, str]]:
    serving, analytics = start_cluster(), None
    try:
        analytics = start_cluster()
        serving.create_database("qbank")
        analytics.create_database("qbank_analytics")
        env = {
            "DATABASE_URL": serving.url("qbank"),
            "ANALYTICS_DATABASE_URL": analytics.url("qbank_analytics"),
            "ANALYTICS_ADMIN_URL": analytics.url("qbank_analytics", "qbank_admin"),
        }
        migrations.upgrade(env["DATABASE_URL"])
        subprocess.run(
            [sys.executable, "-m", "qbank.cli", "analytics", "setup"],
            cwd=PROJECT_ROOT, env=os.environ | env, check=True, capture_output=True, timeout=180,
        )  # fmt: skip
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        get_settings.cache_clear()
        yield env
    finally:
        get_settings.cache_clear()
        for c in (serving, analytics):
            if c is not None:
                c.stop()


def test_small_demo_with_a_separate_analytics_cluster(two_cluster_env: dict[str, str]) -> None:
    api = start_server("demo-two-clusters", {"QBANK_ENV": "dev"}, timeout=90)
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / "relay-demo-two-clusters.log").open("wb")
    relay = subprocess.Popen(
        [sys.executable, "-m", "ingestion.outbox_relay"],
        cwd=PROJECT_ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        result = demo_run.main(["--small", "--api-url", api.url])
    finally:
        relay.terminate()
        relay.wait(timeout=20)
        stop_server(api)

    plan = demo_run.SMALL
    answers = (
        plan.linear_students * plan.linear_length + plan.adaptive_students * plan.adaptive_length
    )
    assert result["fact_responses_rows"] == answers
    assert result["events"] >= 2 * answers
    assert result["calibrated_items"] > 0
    assert result[f"items_with_{plan.min_respondents}+_responses"] > 0
    assert result["round2_max_exposure"] > 0

    serving = create_engine(two_cluster_env["DATABASE_URL"])
    analytics = create_engine(two_cluster_env["ANALYTICS_DATABASE_URL"])
    try:
        with serving.connect() as c:
            assert c.execute(text("SELECT count(*) FROM raw.events")).scalar_one() == 0
            active = c.execute(
                text(
                    "SELECT id FROM item_parameter_sets WHERE status = 'active' AND exam_code = :e"
                ),
                {"e": result["exam_code"]},
            ).scalar_one()
            round2 = c.execute(
                text(
                    "SELECT bool_and(i.calibrated OR i.is_pretest), count(*) FROM quiz_items i "
                    "JOIN quiz_sessions q ON q.id = i.quiz_id JOIN users u ON u.id = q.user_id "
                    "WHERE u.email LIKE :p"
                ),
                {"p": f"{result['exam_code'].lower()}-r2-%"},
            ).one()
        assert round2 == (True, plan.round2_students * plan.adaptive_length)
        wait_until_caught_up(get_settings())
        with analytics.connect() as c:
            # The set published on the serving side came back by replication.
            replicated = c.execute(
                text("SELECT status FROM item_parameter_sets WHERE id = :s"), {"s": active}
            ).scalar_one()
        assert replicated == "active"
    finally:
        serving.dispose()
        analytics.dispose()
