"""The analytics database off the serving primary: one schema, content by logical replication.

With ANALYTICS_DATABASE_URL set, ingestion loads `raw`, dbt builds `staging` and `marts` and the
pipeline reads them in that database, so a multi-million-row load never competes with the API
for the serving primary's WAL, checkpoints and buffer cache. What the marts and the calibration
read of the content (tenants, users, topics, questions and versions, publications, parameter
sets) reaches it by PostgreSQL logical replication: a publication on the serving database, a
subscription on the analytics one. `setup` makes both, idempotently (`qbank analytics setup`).

One schema: the analytics database is migrated by the same Alembic chain (`qbank db upgrade`
migrates it first, then the serving one, so a new column exists on the subscriber before rows
carrying it arrive). The replicated tables on the analytics side belong to the subscription:
nothing may write them there (a conflicting row stops the apply worker until it is removed).

PostgreSQL 15 requires of the roles involved: on the serving cluster `wal_level = logical`
(a restart) and a role with REPLICATION that owns the published tables (the connection the
subscription makes); on the analytics cluster a superuser to CREATE SUBSCRIPTION (PostgreSQL 16
grants it to members of `pg_create_subscription`) — give it as `--admin-url` when the
analytics role is not one.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from qbank import migrations
from qbank.settings import Settings, libpq_url

PUBLICATION = "qbank_analytics"

# What the analytics side reads of the serving database: the dbt sources of schema `public`
# (dbt_qbank/models/staging/qbank/_qbank__sources.yml; `live_item_parameters` is a view the
# migrations create on both sides over these tables) and what orchestration's calibration and
# traffic queries join (question_versions, question_publications, topics, parameter sets).
# Quiz sessions, items and responses are not here: the marts get them from the events, and they
# are the busiest tables of the API. tests/qbank/test_analytics.py fails when a dbt source is missing.
REPLICATED_TABLES = (
    "tenants",
    "users",
    "topics",
    "questions",
    "question_versions",
    "question_publications",
    "item_parameter_sets",
    "item_parameters",
)


class AnalyticsSetupError(RuntimeError):
    """Replication cannot be set up; the message says what to change."""


@dataclass
class SetupReport:
    publication: str
    subscription: str
    created: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        done = ", ".join(self.created) if self.created else "nothing new (already set up)"
        return [
            f"publication {self.publication} on the serving database: {len(self.tables)} tables",
            f"subscription {self.subscription} on the analytics database",
            f"created: {done}",
        ]


def subscription_name(settings: Settings) -> str:
    """One subscription (and replication slot: slot names are per publishing cluster) per
    analytics database: its name and a digest of its address, so two analytics clusters with a
    database of the same name may follow one serving cluster without taking each other's slot."""
    info = psycopg.conninfo.conninfo_to_dict(settings.analytics_libpq_url)
    dbname = str(info.get("dbname", ""))
    where = f"{info.get('host', '')}:{info.get('port', '')}/{dbname}"
    digest = hashlib.sha1(where.encode()).hexdigest()[:8]
    slug = re.sub(r"[^a-z0-9_]", "_", dbname.lower())[:36]
    return f"qbank_analytics_{slug}_{digest}"


def _connect(url: str) -> psycopg.Connection:
    return psycopg.connect(libpq_url(url), autocommit=True)


def _system_identifier(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()
    assert row is not None
    return int(row[0])


def check_publisher(conn: psycopg.Connection) -> None:
    """What the serving side needs, each missing piece named with its remedy."""
    wal_level = conn.execute("SHOW wal_level").fetchone()[0]  # type: ignore[index]
    if wal_level != "logical":
        raise AnalyticsSetupError(
            f"the serving cluster runs with wal_level={wal_level}; logical replication needs "
            "wal_level=logical (ALTER SYSTEM SET wal_level = logical, then restart it; "
            "scripts/stack.py configures the local stack so)"
        )
    can = conn.execute(
        "SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    if not (can and can[0]):
        raise AnalyticsSetupError(
            "the serving database's role lacks REPLICATION, which the subscription's "
            "connection needs: ALTER ROLE <role> REPLICATION (as a superuser)"
        )


def ensure_publication(conn: psycopg.Connection) -> bool:
    """The publication of REPLICATED_TABLES; True when it was created. An existing one is set
    to exactly these tables (a table added to the list is published on the next setup)."""
    tables = sql.SQL(", ").join(sql.Identifier("public", t) for t in REPLICATED_TABLES)
    exists = conn.execute(
        "SELECT 1 FROM pg_publication WHERE pubname = %s", (PUBLICATION,)
    ).fetchone()
    if exists:
        conn.execute(
            sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(sql.Identifier(PUBLICATION), tables)
        )
        return False
    conn.execute(
        sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(sql.Identifier(PUBLICATION), tables)
    )
    return True


def ensure_slot(conn: psycopg.Connection, slot: str) -> bool:
    """A logical slot on the publisher, made apart from the subscription: CREATE SUBSCRIPTION
    in the same cluster as its publisher would wait forever for its own transaction to end
    while creating the slot (PostgreSQL's documented case for create_slot = false)."""
    if conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone():
        return False
    conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
    return True


def setup(
    settings: Settings,
    *,
    admin_url: str | None = None,
    publisher_conninfo: str | None = None,
    migrate: bool = True,
) -> SetupReport:
    """Migrate the analytics database, publish the content on the serving one and subscribe
    the analytics one to it. Idempotent: run it again after a migration or to repair.

    `admin_url`: a superuser connection to the analytics database (default: the analytics URL).
    `publisher_conninfo`: how the analytics *cluster* reaches the serving one (default: the
    serving URL, right when both run on one host or network)."""
    if not settings.analytics_separate:
        raise AnalyticsSetupError(
            "ANALYTICS_DATABASE_URL is not set: raw, staging and marts live in the serving "
            "database, and there is nothing to replicate"
        )
    serving, analytics = settings.sync_database_url, settings.analytics_url
    if libpq_url(serving) == libpq_url(analytics):
        raise AnalyticsSetupError("ANALYTICS_DATABASE_URL names the serving database itself")
    sub = subscription_name(settings)
    report = SetupReport(PUBLICATION, sub, tables=list(REPLICATED_TABLES))
    if migrate:
        migrations.upgrade(analytics)
    with _connect(serving) as pub, _connect(admin_url or analytics) as adm:
        check_publisher(pub)
        if ensure_publication(pub):
            report.created.append("publication")
        existing = adm.execute(
            "SELECT subenabled FROM pg_subscription WHERE subname = %s", (sub,)
        ).fetchone()
        if existing:
            # Tables added to the publication since: copy them and follow them too.
            adm.execute(sql.SQL("ALTER SUBSCRIPTION {} REFRESH PUBLICATION").format(
                sql.Identifier(sub)))  # fmt: skip
            if not existing[0]:
                adm.execute(sql.SQL("ALTER SUBSCRIPTION {} ENABLE").format(sql.Identifier(sub)))
                report.created.append("subscription enabled")
            return report
        # A slot without its subscription (dropped while the publisher was unreachable) holds
        # an old position: the initial copy plus its backlog would apply rows twice.
        _drop_slot(pub, sub)
        options: sql.Composable = sql.SQL("")
        if _system_identifier(pub) == _system_identifier(adm):
            ensure_slot(pub, sub)
            report.created.append("replication slot")
            options = sql.SQL(" WITH (create_slot = false, slot_name = {})").format(
                sql.Literal(sub)
            )
        adm.execute(
            sql.SQL("CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {}").format(
                sql.Identifier(sub),
                sql.Literal(publisher_conninfo or libpq_url(serving)),
                sql.Identifier(PUBLICATION),
            )
            + options
        )
        report.created.append("subscription")
    return report


def teardown(settings: Settings, *, admin_url: str | None = None) -> None:
    """Drop the subscription (and with it its slot on the publisher), and the publication when
    no other analytics database follows the serving one."""
    sub = subscription_name(settings)
    with (
        _connect(admin_url or settings.analytics_url) as adm,
        _connect(settings.sync_database_url) as pub,
    ):
        if adm.execute("SELECT 1 FROM pg_subscription WHERE subname = %s", (sub,)).fetchone():
            same_cluster = _system_identifier(pub) == _system_identifier(adm)
            ident = sql.Identifier(sub)
            if same_cluster:
                # DROP SUBSCRIPTION would wait on its own cluster to drop the slot: detach first.
                adm.execute(sql.SQL("ALTER SUBSCRIPTION {} DISABLE").format(ident))
                adm.execute(sql.SQL("ALTER SUBSCRIPTION {} SET (slot_name = NONE)").format(ident))
            adm.execute(sql.SQL("DROP SUBSCRIPTION {}").format(ident))
        _drop_slot(pub, sub)
        # The publication serves every analytics database that follows this one: it goes with
        # the last subscription's slot.
        others = pub.execute(
            "SELECT 1 FROM pg_replication_slots WHERE database = current_database() "
            "AND plugin = 'pgoutput' AND slot_name LIKE 'qbank\\_analytics\\_%'"
        ).fetchone()
        if not others:
            pub.execute(
                sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(PUBLICATION))
            )


def _drop_slot(pub: psycopg.Connection, slot: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        row = pub.execute(
            "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", (slot,)
        ).fetchone()
        if row is None:
            return
        if row[0] is None:
            pub.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
            return
        if time.monotonic() > deadline:
            raise AnalyticsSetupError(f"replication slot {slot} stays in use by pid {row[0]}")
        time.sleep(0.2)


@dataclass
class TableState:
    table: str
    state: str  # PostgreSQL's pg_subscription_rel.srsubstate, spelled out


SYNC_STATES = {"i": "initialize", "d": "copying", "f": "copied", "s": "synchronized", "r": "ready"}


def status(settings: Settings, *, admin_url: str | None = None) -> tuple[bool, list[TableState]]:
    """(subscription enabled, state of each subscribed table); AnalyticsSetupError when the
    subscription does not exist."""
    sub = subscription_name(settings)
    with _connect(admin_url or settings.analytics_url) as adm:
        row = adm.execute(
            "SELECT oid, subenabled FROM pg_subscription WHERE subname = %s", (sub,)
        ).fetchone()
        if row is None:
            raise AnalyticsSetupError(f"no subscription {sub}: run `qbank analytics setup`")
        tables = adm.execute(
            "SELECT c.relname, r.srsubstate FROM pg_subscription_rel r "
            "JOIN pg_class c ON c.oid = r.srrelid WHERE r.srsubid = %s ORDER BY 1",
            (row[0],),
        ).fetchall()
    return bool(row[1]), [TableState(t, SYNC_STATES.get(s or "", s or "")) for t, s in tables]


def wait_until_ready(
    settings: Settings, timeout: float = 60.0, *, admin_url: str | None = None
) -> list[TableState]:
    """Block until every subscribed table finished its initial copy (state `ready`)."""
    deadline = time.monotonic() + timeout
    while True:
        enabled, tables = status(settings, admin_url=admin_url)
        if enabled and tables and all(t.state == "ready" for t in tables):
            return tables
        if time.monotonic() > deadline:
            raise AnalyticsSetupError(
                f"replication not ready after {timeout:.0f}s: "
                + ", ".join(f"{t.table}={t.state}" for t in tables)
            )
        time.sleep(0.2)


def wait_until_caught_up(settings: Settings, timeout: float = 30.0) -> float:
    """Block until the subscriber confirmed everything the serving database wrote before this
    call (its slot's confirmed_flush_lsn passes the current WAL position); returns the seconds
    waited. Used before the pipeline reads content it has just written on the serving side."""
    slot = subscription_name(settings)
    start = time.monotonic()
    with _connect(settings.sync_database_url) as pub:
        target = pub.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
        while True:
            row = pub.execute(
                "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots "
                "WHERE slot_name = %s",
                (target, slot),
            ).fetchone()
            if row is None:
                raise AnalyticsSetupError(
                    f"no replication slot {slot}: run `qbank analytics setup`"
                )
            if row[0]:
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                raise AnalyticsSetupError(
                    f"the analytics database is more than {timeout:.0f}s behind the serving one "
                    f"(slot {slot}); see `qbank analytics status` and the analytics server log"
                )
            time.sleep(0.05)
