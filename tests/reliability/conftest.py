"""Fixtures of the reliability tests: a database of their own on the shared PostgreSQL (so the
relays they run drain nothing of the other tests), a tenant with a user per role and a bank,
and API servers on it.

Tests that must stop a service start a private one (`services.PrivateServices`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine

from qbank.settings import Settings
from tests.support.banks import Bank, migrated_database, seed_bank
from tests.support.databases import TEST_DB, drop_database

REL_DB = f"{TEST_DB}_rel"


@pytest.fixture(scope="package")
def rel_db(settings: Settings) -> Iterator[str]:
    url = migrated_database(REL_DB)
    yield url
    drop_database(REL_DB)


@pytest.fixture(scope="package")
def rel_engine(rel_db: str) -> Iterator[Engine]:
    eng = create_engine(rel_db, pool_pre_ping=True)
    yield eng
    eng.dispose()


@pytest.fixture(scope="package")
def rel_bank(rel_engine: Engine, settings: Settings) -> Bank:
    return seed_bank(rel_engine, settings)
