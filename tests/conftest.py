"""Test-wide setup: every run gets its own database, Kafka topic and Redis namespace.

The suffix keeps a running demo (database `qbank`, topic `events.qbank`) untouched and lets two
test runs share one stack. The environment is set before anything reads the settings.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from qbank.settings import Settings, get_settings, normalise_pg_url

RUN_ID = f"{os.getpid()}_{secrets.token_hex(3)}"

_base = Settings()
_base_url = make_url(normalise_pg_url(_base.database_url))
TEST_DB = f"qbank_test_{RUN_ID}"
os.environ.update(
    {
        "QBANK_ENV": "test",
        "DATABASE_URL": _base_url.set(database=TEST_DB).render_as_string(hide_password=False),
        "REDIS_URL": _base.redis_url,
        "REDIS_NAMESPACE": f"qbank_test_{RUN_ID}",
        "KAFKA_BOOTSTRAP": _base.kafka_bootstrap,
        "KAFKA_TOPIC_EVENTS": f"events.qbank.test_{RUN_ID}",
        "KAFKA_CONSUMER_GROUP": f"qbank-ingestion-test_{RUN_ID}",
        "DAGSTER_HOME": str(_base.dagster_home.parent / f"dagster-test-{RUN_ID}"),
    }
)
get_settings.cache_clear()


def admin_engine() -> Engine:
    """A connection to the server's maintenance database, for CREATE/DROP DATABASE."""
    return create_engine(
        _base_url.set(database="postgres"), isolation_level="AUTOCOMMIT", pool_size=1
    )


def create_database(name: str) -> str:
    with admin_engine().connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    return _base_url.set(database=name).render_as_string(hide_password=False)


def drop_database(name: str) -> None:
    with admin_engine().connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


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
