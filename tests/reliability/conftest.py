"""Fixtures of the reliability tests: a database of their own on the shared PostgreSQL (so the
relays they run drain nothing of the other tests), a tenant with a user per role and a bank,
and API servers on it.

Tests that must stop a service start a private one (`services.PrivateServices`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import Engine, create_engine

from qbank import migrations
from qbank.settings import Settings
from serving_api.security import issue_token
from tests.conftest import TEST_DB, create_database, drop_database
from tests.serving_api import bank
from tests.serving_api.conftest import Person, Tenant, make_tenant, make_user

REL_DB = f"{TEST_DB}_rel"


@dataclass
class Bank:
    """A tenant with one user per role, `students` more students, topics and an exam."""

    tenant: Tenant
    exam: str
    topics: dict[str, int]
    students: list[Person] = field(default_factory=list)

    def __getattr__(self, role: str) -> Person:
        return getattr(self.__dict__["tenant"], role)


def seed_bank(
    engine: Engine, settings: Settings, n_students: int = 20, per_topic: int = 10
) -> Bank:
    """Users (with tokens signed by `settings.app_secret`), topics and published items."""
    suffix = uuid.uuid4().hex[:6]
    tenant = make_tenant(engine, f"rel-{suffix}")
    for role in ("admin", "author", "publisher", "student"):
        make_user(engine, tenant, role, [role])
    topics = bank.make_topics(engine, tenant.id, {"Cardiology": ["Arrhythmias"], "Renal": []})
    exam = f"REL-{suffix}"
    bank.publish_items(engine, tenant.id, tenant.admin.id, exam, topics, per_topic=per_topic)
    out = Bank(tenant, exam, topics)
    for k in range(n_students):
        out.students.append(make_user(engine, tenant, f"s{k}", ["student"]))
    for person in [*tenant.people.values()]:
        person.token = issue_token(settings, person.id, tenant.id, person.roles)[0]
    return out


def migrated_database(name: str) -> str:
    url = create_database(name)
    migrations.upgrade(url)
    return url


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
