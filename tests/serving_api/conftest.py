"""Fixtures for the API tests: a real uvicorn server on this run's database, Redis and Kafka.

`api` is one server process for the whole session (QBANK_ENV=test); `world` holds two tenants
with one user per role (and two students in tenant A), created directly in the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine

from tests.support import bank
from tests.support.api_server import Server, start_server, stop_server
from tests.support.people import (
    ROLE_USERS,
    World,
    login,
    make_tenant,
    make_user,
)


@pytest.fixture(scope="session")
def api(migrated_db: str) -> Iterator[Server]:
    server = start_server("main")
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def world(api: Server, engine: Engine) -> World:
    suffix = uuid.uuid4().hex[:6]
    a = make_tenant(engine, f"alpha-{suffix}")
    b = make_tenant(engine, f"beta-{suffix}")
    for tenant in (a, b):
        for key, roles in ROLE_USERS.items():
            login(api, make_user(engine, tenant, key, roles))
    topics = bank.make_topics(
        engine, a.id, {"Cardiology": ["Arrhythmias", "Heart failure"], "Renal": []}
    )
    bank.publish_items(engine, a.id, a.admin.id, "WORLD-1", topics, per_topic=12)
    bank.make_topics(engine, b.id, {"Cardiology": []})
    return World(a, b, "WORLD-1", topics)


@pytest.fixture
def client(api: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=10) as c:
        yield c
