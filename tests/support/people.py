"""Tenants, users and their tokens, made directly in the database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import httpx
from sqlalchemy import Engine, text

from qbank.passwords import hash_password
from tests.support.api_server import Server

PASSWORD = "correct-horse-battery"


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
