"""ANALYTICS_DATABASE_URL: the settings, what is replicated, and what setup refuses.

The replication itself, across two clusters, is tests/e2e/test_analytics_replication.py.
"""

from __future__ import annotations

import psycopg
import pytest
import yaml

from qbank import analytics
from qbank.models import Base
from qbank.settings import PROJECT_ROOT, Settings
from tests.support.clusters import start_cluster

SOURCES = PROJECT_ROOT / "dbt_qbank" / "models" / "staging" / "qbank" / "_qbank__sources.yml"


def test_unset_means_the_serving_database() -> None:
    s = Settings(database_url="postgres://u:p@db:5432/qbank", analytics_database_url="")
    assert not s.analytics_separate
    assert s.analytics_url == "postgresql+psycopg://u:p@db:5432/qbank"
    # A copy with another serving database follows it (tests and benches copy the settings).
    other = s.model_copy(update={"database_url": "postgresql://u:p@db:5432/other"})
    assert other.analytics_url.endswith("/other")


def test_set_means_its_own_database() -> None:
    s = Settings(
        database_url="postgresql://u:p@db/qbank",
        analytics_database_url="postgres://a:b@warehouse:6432/qa",
    )
    assert s.analytics_separate
    assert s.analytics_url == "postgresql+psycopg://a:b@warehouse:6432/qa"
    assert s.analytics_libpq_url == "postgresql://a:b@warehouse:6432/qa"
    name = analytics.subscription_name(s)
    assert name.startswith("qbank_analytics_qa_") and len(name) <= 63
    elsewhere = s.model_copy(update={"analytics_database_url": "postgresql://a:b@other:6432/qa"})
    assert analytics.subscription_name(elsewhere) != name


def test_qbank_analytics_points_at_the_local_analytics_cluster() -> None:
    s = Settings(QBANK_ANALYTICS="1", QBANK_ANALYTICS_PG_PORT="55999", analytics_database_url="")
    assert s.analytics_url == "postgresql+psycopg://qbank:qbank@127.0.0.1:55999/qbank_analytics"
    explicit = Settings(QBANK_ANALYTICS="1", analytics_database_url="postgresql://x@h/db")
    assert explicit.analytics_url == "postgresql+psycopg://x@h/db"


def test_every_content_table_dbt_reads_is_replicated() -> None:
    tables = {t["name"] for src in yaml.safe_load(SOURCES.read_text())["sources"]
              for t in src["tables"]}  # fmt: skip
    orm_tables = {t.name for t in Base.metadata.tables.values() if t.schema in (None, "public")}
    # What is not an ORM table is a view the migrations create on both sides.
    assert tables - orm_tables == {"live_item_parameters"}
    assert tables & orm_tables <= set(analytics.REPLICATED_TABLES)
    assert set(analytics.REPLICATED_TABLES) <= orm_tables


def test_setup_refuses_without_a_separate_database() -> None:
    with pytest.raises(analytics.AnalyticsSetupError, match="ANALYTICS_DATABASE_URL is not set"):
        analytics.setup(Settings(database_url="postgresql://u@h/q", analytics_database_url=""))
    same = Settings(
        database_url="postgresql+psycopg2://u@h/q", analytics_database_url="postgresql://u@h/q"
    )
    with pytest.raises(analytics.AnalyticsSetupError, match="serving database itself"):
        analytics.setup(same, migrate=False)


@pytest.mark.stack
def test_the_publisher_needs_logical_wal_and_a_replication_role() -> None:
    cluster = start_cluster(extra_conf="wal_level = replica\n")
    try:
        cluster.create_database("q")
        cluster.psql("CREATE ROLE plain LOGIN PASSWORD 'plain'")
        with (
            psycopg.connect(cluster.url("q").replace("+psycopg", "")) as conn,
            pytest.raises(analytics.AnalyticsSetupError, match="wal_level=logical"),
        ):
            analytics.check_publisher(conn)
    finally:
        cluster.stop()
    cluster = start_cluster()
    try:
        cluster.create_database("q")
        cluster.psql("CREATE ROLE plain LOGIN PASSWORD 'plain'")
        with (
            psycopg.connect(cluster.url("q", "plain").replace("+psycopg", "")) as conn,
            pytest.raises(analytics.AnalyticsSetupError, match="REPLICATION"),
        ):
            analytics.check_publisher(conn)
        with psycopg.connect(cluster.url("q").replace("+psycopg", "")) as conn:
            analytics.check_publisher(conn)  # qbank has REPLICATION
    finally:
        cluster.stop()
