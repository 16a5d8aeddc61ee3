"""A tenant with a user per role, students, topics and a published exam."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import Engine

from qbank import migrations
from qbank.settings import Settings
from serving_api.security import issue_token
from tests.support import bank
from tests.support.databases import create_database
from tests.support.people import Person, Tenant, make_tenant, make_user


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
