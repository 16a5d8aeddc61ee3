"""Which parameter set is live for a (tenant, exam code): the one switch everybody uses.

The pipeline publishing a new set, an operator rolling back to an earlier one and an operator
taking the live set out of service all go through `switch_active_set`: in the caller's
transaction it takes the pair's advisory lock, moves the `active` status and sends
`pg_notify(PARAMETER_SET_CHANNEL, {"tenant_id", "exam_code", "set_id"})` (delivered at commit;
every API process drops its pool of that exam code and reloads it, so no restart is needed).

Only a set that passed its checks can be live. Out of service (`set_id=None`) the previous set
becomes `retired` and the exam code serves every item with the cold-start defaults (a = 1,
b from the difficulty label, c = 1/options) until a set is activated again.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text

from qbank.models.parameters import PARAMETER_SET_CHANNEL


class SwitchRefused(RuntimeError):
    """The requested switch is not allowed (unknown set, another exam code, failed checks)."""


@dataclass(frozen=True)
class SetInfo:
    id: int
    status: str
    checks_passed: bool
    created_by_run: str
    created_at: datetime
    activated_at: datetime | None
    n_items: int


@dataclass(frozen=True)
class SwitchOutcome:
    tenant_id: uuid.UUID
    exam_code: str
    active_set_id: int | None  # None: out of service, cold-start defaults
    previous_set_id: int | None  # the set that was active before (None: none was)


def lock_pair(conn: Connection, tenant_id: uuid.UUID, exam_code: str) -> None:
    """One switch at a time per (tenant, exam code); the partial unique index is the backstop."""
    conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"qbank-params/{tenant_id}/{exam_code}"},
    )


def tenant_id_of(conn: Connection, slug: str) -> uuid.UUID:
    tid = conn.execute(text("SELECT id FROM tenants WHERE slug = :s"), {"s": slug}).scalar()
    if tid is None:
        raise SwitchRefused(f"no tenant '{slug}'")
    return tid


def list_sets(conn: Connection, tenant_id: uuid.UUID, exam_code: str) -> list[SetInfo]:
    """Every set of the pair, newest first."""
    rows = conn.execute(
        text(
            "SELECT s.id, s.status, s.checks_passed, s.created_by_run, s.created_at, "
            "s.activated_at, (SELECT count(*) FROM item_parameters ip WHERE ip.set_id = s.id) "
            "FROM item_parameter_sets s WHERE s.tenant_id = :t AND s.exam_code = :e "
            "ORDER BY s.id DESC"
        ),
        {"t": tenant_id, "e": exam_code},
    ).all()
    return [SetInfo(*r) for r in rows]


def active_set_id(conn: Connection, tenant_id: uuid.UUID, exam_code: str) -> int | None:
    return conn.execute(
        text(
            "SELECT id FROM item_parameter_sets "
            "WHERE tenant_id = :t AND exam_code = :e AND status = 'active'"
        ),
        {"t": tenant_id, "e": exam_code},
    ).scalar()


def switch_active_set(
    conn: Connection, tenant_id: uuid.UUID, exam_code: str, set_id: int | None
) -> SwitchOutcome:
    """Make `set_id` the live set of (tenant, exam code), or none when `set_id` is None.

    Runs in the caller's transaction (commit to make it, and the NOTIFY, happen). Refuses a set
    of another pair, a rejected one or one whose checks failed. The previous active set becomes
    `superseded`, or `retired` when the pair is taken out of service.
    """
    lock_pair(conn, tenant_id, exam_code)
    if set_id is not None:
        row = conn.execute(
            text(
                "SELECT tenant_id, exam_code, status, checks_passed FROM item_parameter_sets "
                "WHERE id = :s"
            ),
            {"s": set_id},
        ).one_or_none()
        if row is None or row.tenant_id != tenant_id or row.exam_code != exam_code:
            raise SwitchRefused(
                f"parameter set {set_id} does not exist for exam code {exam_code!r} of this tenant"
            )
        if not row.checks_passed or row.status == "rejected":
            raise SwitchRefused(
                f"parameter set {set_id} is {row.status} and failed its checks: only a set that "
                "passed its checks can be live (see `qbank params list`)"
            )
    previous = conn.execute(
        text(
            "UPDATE item_parameter_sets SET status = :to "
            "WHERE tenant_id = :t AND exam_code = :e AND status = 'active' "
            "AND id IS DISTINCT FROM CAST(:s AS bigint) RETURNING id"
        ),
        {
            "t": tenant_id,
            "e": exam_code,
            "s": set_id,
            "to": "retired" if set_id is None else "superseded",
        },
    ).scalar()
    if set_id is not None:
        current = conn.execute(
            text(
                "UPDATE item_parameter_sets SET status = 'active', activated_at = now() "
                "WHERE id = :s AND status <> 'active' RETURNING id"
            ),
            {"s": set_id},
        ).scalar()
        if current is None:  # it was active already: nothing changed
            previous = set_id
    conn.execute(
        text("SELECT pg_notify(:channel, :payload)"),
        {
            "channel": PARAMETER_SET_CHANNEL,
            "payload": json.dumps(
                {"tenant_id": str(tenant_id), "exam_code": exam_code, "set_id": set_id}
            ),
        },
    )
    return SwitchOutcome(tenant_id, exam_code, set_id, previous)


def previous_good_set(conn: Connection, tenant_id: uuid.UUID, exam_code: str) -> int | None:
    """The set to roll back to by default: the most recently activated set that passed its
    checks and is not the active one."""
    return conn.execute(
        text(
            "SELECT id FROM item_parameter_sets "
            "WHERE tenant_id = :t AND exam_code = :e AND checks_passed "
            "AND status IN ('superseded', 'retired') AND activated_at IS NOT NULL "
            "ORDER BY activated_at DESC, id DESC LIMIT 1"
        ),
        {"t": tenant_id, "e": exam_code},
    ).scalar()
