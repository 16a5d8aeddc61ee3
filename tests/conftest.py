"""Test-wide setup: every run gets its own database, Kafka topic and Redis namespace.

The suffix keeps a running demo (database `qbank`, topic `events.qbank`) untouched and lets two
test runs share one stack. The environment is set before anything reads the settings.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import Engine, create_engine

from qbank.settings import Settings, get_settings
from tests.support.databases import (
    BASE_SETTINGS,
    RUN_ID,
    TEST_DB,
    create_database,
    database_url,
    drop_database,
)

TEST_DAGSTER_HOME = BASE_SETTINGS.dagster_home.parent / f"dagster-test-{RUN_ID}"
os.environ.update(
    {
        "QBANK_ENV": "test",
        "DATABASE_URL": database_url(TEST_DB),
        # One database unless a test says otherwise (tests/qbank/test_analytics.py), whatever
        # the developer's environment or .env sets.
        "ANALYTICS_DATABASE_URL": "",
        "QBANK_ANALYTICS": "0",
        "REDIS_URL": BASE_SETTINGS.redis_url,
        "REDIS_NAMESPACE": f"qbank_test_{RUN_ID}",
        "KAFKA_BOOTSTRAP": BASE_SETTINGS.kafka_bootstrap,
        "KAFKA_TOPIC_EVENTS": f"events.qbank.test_{RUN_ID}",
        "KAFKA_CONSUMER_GROUP": f"qbank-ingestion-test_{RUN_ID}",
        "DAGSTER_HOME": str(TEST_DAGSTER_HOME),
    }
)
get_settings.cache_clear()


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def migrated_db(settings: Settings) -> Iterator[str]:
    """This run's database, created and migrated to head once; dropped at the end."""
    from qbank import migrations

    url = create_database(TEST_DB)
    migrations.upgrade(url)
    yield url
    drop_database(TEST_DB)


@pytest.fixture(scope="session")
def engine(migrated_db: str) -> Iterator[Engine]:
    eng = create_engine(migrated_db, pool_pre_ping=True)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def kafka_topic(settings: Settings) -> Iterator[str]:
    """This run's events topic, created with the configured partitions and deleted afterwards."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    admin.create_topics([NewTopic(settings.kafka_topic_events, settings.kafka_topic_partitions, 1)])
    admin.close()
    yield settings.kafka_topic_events
    # A fresh client: the broker closes connections idle for 10 minutes (connections.max.idle.ms),
    # and a whole test session is longer than that.
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        admin.delete_topics([settings.kafka_topic_events])
    finally:
        admin.close()


@pytest.fixture(scope="session")
def redis_client(settings: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.redis_url)
    yield client
    keys = list(client.scan_iter(f"{settings.redis_namespace}:*"))
    if keys:
        client.delete(*keys)
    client.close()


# Fixtures that reach PostgreSQL, Redis, Kafka or an API process. A test whose fixture closure
# holds any of them is marked `stack`, so `pytest -m "not stack"` runs the pure tests with every
# service stopped (modules that connect by themselves carry `pytestmark = pytest.mark.stack`).
STACK_FIXTURES = frozenset(
    {
        "migrated_db",
        "engine",
        "kafka_topic",
        "redis_client",
        "dbt_db",
        "scratch_dbt_db",
        "bi_database",
        "rel_db",
        "rel_engine",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if STACK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.stack)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """This run's DAGSTER_HOME holds only its dagster.yaml and compute logs (the instance was in
    the dropped database): removed after a green run, kept to read after a red one."""
    if exitstatus == 0:
        shutil.rmtree(TEST_DAGSTER_HOME, ignore_errors=True)
