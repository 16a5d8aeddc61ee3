"""Fixtures for the API tests: a real uvicorn server on this run's database, Redis and Kafka.

`api` is one server process for the whole session (QBANK_ENV=test); `world` holds two tenants
with one user per role (and two students in tenant A), created directly in the database.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from qbank.passwords import hash_password
from serving_api.server import uvicorn_command
from tests.serving_api import bank

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
PASSWORD = "correct-horse-battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    log_path: Path

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(
    name: str,
    env_overrides: dict[str, str] | None = None,
    wait: bool = True,
) -> Server:
    """The API in its own process, on a free loopback port."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    log_path = ARTIFACTS / f"api-{name}.log"
    env = {**os.environ, **(env_overrides or {})}
    proc = subprocess.Popen(
        uvicorn_command(port),
        cwd=ROOT,
        env=env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = Server(f"http://127.0.0.1:{port}", proc, log_path)
    if wait:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"API exited with {proc.returncode}:\n{server.logs()[-3000:]}")
            try:
                if httpx.get(server.url + "/health", timeout=1).status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        proc.kill()
        raise RuntimeError(f"API did not start:\n{server.logs()[-3000:]}")
    return server


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@pytest.fixture(scope="session")
def api(migrated_db: str) -> Iterator[Server]:
    server = start_server("main")
    yield server
    stop_server(server)


@dataclass
class Person:
    id: uuid.UUID
    email: str
    roles: list[str]
    tenant_id: uuid.UUID
    token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Tenant:
    id: uuid.UUID
    slug: str
    people: dict[str, Person] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Person:
        try:
            return self.__dict__["people"][name]
        except KeyError:
            raise AttributeError(name) from None


_HASH = None


def password_hash() -> str:
    global _HASH
    if _HASH is None:
        _HASH = hash_password(PASSWORD)
    return _HASH


def make_tenant(engine: Engine, slug: str) -> Tenant:
    with engine.begin() as c:
        tid = c.execute(
            text(
                "INSERT INTO tenants (id, slug, name) VALUES (gen_random_uuid(), :s, :n) RETURNING id"
            ),
            {"s": slug, "n": slug.title()},
        ).scalar_one()
    return Tenant(tid, slug)


def make_user(
    engine: Engine, tenant: Tenant, key: str, roles: list[str], cohort: str = "all"
) -> Person:
    email = f"{key}.{uuid.uuid4().hex[:8]}@{tenant.slug}.example"
    with engine.begin() as c:
        uid = c.execute(
            text(
                "INSERT INTO users (id, tenant_id, email, display_name, password_hash, roles, cohort) "
                "VALUES (gen_random_uuid(), :t, :e, :d, :p, :r, :c) RETURNING id"
            ),
            {
                "t": tenant.id,
                "e": email,
                "d": key.title(),
                "p": password_hash(),
                "r": roles,
                "c": cohort,
            },
        ).scalar_one()
    person = Person(uid, email, roles, tenant.id)
    tenant.people[key] = person
    return person


def login(api: Server, person: Person) -> Person:
    r = httpx.post(api.url + "/v1/auth/login", json={"email": person.email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    person.token = r.json()["access_token"]
    return person


@dataclass
class World:
    a: Tenant
    b: Tenant
    exam: str
    topics: dict[str, int]


ROLE_USERS = {
    "admin": ["admin"],
    "author": ["author"],
    "publisher": ["publisher"],
    "student": ["student"],
    "student2": ["student"],
}


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
