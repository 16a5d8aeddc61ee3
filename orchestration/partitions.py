"""The psychometric assets' partitions: one per (tenant, exam code) with published items.

A partition key is `<tenant slug>/<exam code>` (both constrained by the schema: a slug is
`[a-z0-9][a-z0-9-]*`, an exam code `[A-Za-z0-9][A-Za-z0-9_.-]*`, neither holds a `/`), so the
UI reads `acme/USMLE-1` instead of a UUID. The partitions are dynamic: the sensor
`exam_code_partitions_sensor` (and `orchestration.nightly` before it launches runs) adds one
when an exam code gets its first published item.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import dagster as dg
from sqlalchemy import Engine, text

exam_partitions = dg.DynamicPartitionsDefinition(name="exam_codes")


@dataclass(frozen=True)
class ExamPartition:
    tenant_id: uuid.UUID
    tenant_slug: str
    exam_code: str

    @property
    def key(self) -> str:
        return f"{self.tenant_slug}/{self.exam_code}"


def published_exam_codes(engine: Engine) -> list[ExamPartition]:
    """Every (tenant, exam code) with at least one published item, in key order."""
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT DISTINCT t.id, t.slug, p.exam_code FROM question_publications p "
                "JOIN tenants t ON t.id = p.tenant_id ORDER BY t.slug, p.exam_code"
            )
        ).all()
    return [ExamPartition(r[0], r[1], r[2]) for r in rows]


def resolve_partition(engine: Engine, key: str) -> ExamPartition:
    """The tenant and exam code of a partition key; a clear error for a key that names none."""
    slug, sep, exam_code = key.partition("/")
    if not sep or not slug or not exam_code:
        raise dg.Failure(f"partition key {key!r} is not '<tenant slug>/<exam code>'")
    with engine.connect() as c:
        tenant_id = c.execute(text("SELECT id FROM tenants WHERE slug = :s"), {"s": slug}).scalar()
    if tenant_id is None:
        raise dg.Failure(f"partition {key!r}: no tenant with slug {slug!r}")
    return ExamPartition(tenant_id, slug, exam_code)


def new_partition_keys(instance: dg.DagsterInstance, engine: Engine) -> list[str]:
    """Keys of published exam codes that are not partitions yet."""
    known = set(instance.get_dynamic_partitions(exam_partitions.name))
    return [p.key for p in published_exam_codes(engine) if p.key not in known]


def sync_partitions(instance: dg.DagsterInstance, engine: Engine) -> list[str]:
    """Add the missing partitions now (what the sensor requests on its next tick); returns
    the keys added."""
    new = new_partition_keys(instance, engine)
    if new:
        instance.add_dynamic_partitions(exam_partitions.name, new)
    return new
