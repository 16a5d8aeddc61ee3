"""This test run's name and databases on the shared PostgreSQL.

`RUN_ID` makes every name of the run unique (database, Kafka topic, Redis namespace), so a
running demo and other test runs are left alone. The server is the one the environment (or
`.env`) points at when the tests start.
"""

from __future__ import annotations

import os
import secrets

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from qbank.db_admin import drop_database as drop_if_exists
from qbank.db_admin import recreate_database
from qbank.settings import Settings, normalise_pg_url

RUN_ID = f"{os.getpid()}_{secrets.token_hex(3)}"
TEST_DB = f"qbank_test_{RUN_ID}"
BASE_SETTINGS = Settings()
BASE_URL = make_url(normalise_pg_url(BASE_SETTINGS.database_url))


def database_url(name: str) -> str:
    return BASE_URL.set(database=name).render_as_string(hide_password=False)


def admin_engine() -> Engine:
    """A connection to the server's maintenance database, for CREATE/DROP DATABASE."""
    return create_engine(
        BASE_URL.set(database="postgres"), isolation_level="AUTOCOMMIT", pool_size=1
    )


def create_database(name: str) -> str:
    with admin_engine().connect() as c:
        recreate_database(c, name)
    return database_url(name)


def drop_database(name: str) -> None:
    with admin_engine().connect() as c:
        drop_if_exists(c, name)
