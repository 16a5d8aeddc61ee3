"""The `qbank` operator command line."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from qbank import analytics, migrations, parameter_sets
from qbank.db import make_engine, session_scope
from qbank.models import ROLES, Tenant, User
from qbank.passwords import hash_password
from qbank.settings import get_settings

app = typer.Typer(help="QBank operator commands.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
tenant_app = typer.Typer(help="Tenants (operators only).", no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
params_app = typer.Typer(
    help="Item parameter sets: which one is live per tenant and exam code.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(tenant_app, name="tenant")
app.add_typer(user_app, name="user")
analytics_app = typer.Typer(
    help="The analytics database (ANALYTICS_DATABASE_URL): replication of the content.",
    no_args_is_help=True,
)
app.add_typer(params_app, name="params")
app.add_typer(analytics_app, name="analytics")


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default head); with ANALYTICS_DATABASE_URL set, the
    analytics database first (a new column must exist on the subscriber before rows carrying
    it are replicated)."""
    settings = get_settings()
    if settings.analytics_separate:
        migrations.upgrade(settings.analytics_url, revision=revision)
        typer.echo(f"analytics database at {revision}")
    migrations.upgrade(revision=revision)
    typer.echo(f"database at {revision}")


ADMIN_URL_OPT = typer.Option(
    None,
    "--admin-url",
    envvar="ANALYTICS_ADMIN_URL",
    help="a superuser connection to the analytics database, for CREATE SUBSCRIPTION "
    "(PostgreSQL 15); default: ANALYTICS_DATABASE_URL",
)


@analytics_app.command("setup")
def analytics_setup(
    admin_url: str | None = ADMIN_URL_OPT,
    publisher_conninfo: str | None = typer.Option(
        None,
        "--publisher-conninfo",
        help="how the analytics cluster reaches the serving database (libpq); default: DATABASE_URL",
    ),
    wait: float = typer.Option(120.0, help="seconds to wait for the initial copy (0: do not wait)"),
    if_configured: bool = typer.Option(
        False, "--if-configured", help="do nothing when ANALYTICS_DATABASE_URL is unset (make up)"
    ),
) -> None:
    """Migrate the analytics database, publish the content tables on the serving database and
    subscribe the analytics database to them. Idempotent: run it again after a migration."""
    settings = get_settings()
    if if_configured and not settings.analytics_separate:
        return
    try:
        report = analytics.setup(
            settings, admin_url=admin_url, publisher_conninfo=publisher_conninfo
        )
        for line in report.lines():
            typer.echo(line)
        if wait > 0:
            tables = analytics.wait_until_ready(settings, timeout=wait, admin_url=admin_url)
            typer.echo(f"initial copy done: {len(tables)} tables ready")
    except analytics.AnalyticsSetupError as exc:
        fail(str(exc))


@analytics_app.command("status")
def analytics_status(admin_url: str | None = ADMIN_URL_OPT) -> None:
    """The subscription and the replication state of each table."""
    try:
        enabled, tables = analytics.status(get_settings(), admin_url=admin_url)
    except analytics.AnalyticsSetupError as exc:
        fail(str(exc))
    typer.echo(f"subscription {'enabled' if enabled else 'DISABLED'}")
    for t in tables:
        typer.echo(f"  {t.table:<24} {t.state}")


@tenant_app.command("create")
def tenant_create(
    slug: str = typer.Option(..., help="short id, e.g. 'acme-med'"),
    name: str = typer.Option(..., help="display name"),
    admin_email: str = typer.Option(..., help="e-mail of the tenant's first admin"),
    admin_password: str = typer.Option(..., prompt=True, hide_input=True),
    admin_name: str = typer.Option("Administrator"),
) -> None:
    """Create a tenant and its first admin (who then manages the tenant's users)."""
    try:
        pw = hash_password(admin_password)
    except ValueError as exc:
        fail(str(exc))
    try:
        with session_scope(make_engine()) as s:
            if s.scalar(select(Tenant).where(Tenant.slug == slug)):
                fail(f"tenant '{slug}' already exists")
            tenant = Tenant(slug=slug, name=name)
            s.add(tenant)
            s.flush()
            s.add(
                User(
                    tenant_id=tenant.id,
                    email=admin_email,
                    display_name=admin_name,
                    password_hash=pw,
                    roles=["admin"],
                )
            )
            tenant_id = tenant.id
    except IntegrityError as exc:
        fail(f"could not create tenant: {exc.orig}")
    typer.echo(f"tenant {slug} created: id={tenant_id}")


@user_app.command("create")
def user_create(
    tenant: str = typer.Option(..., help="tenant slug"),
    email: str = typer.Option(...),
    password: str = typer.Option(..., prompt=True, hide_input=True),
    display_name: str = typer.Option(...),
    roles: list[str] = typer.Option(["student"], "--role", help=f"one of {', '.join(ROLES)}"),
    cohort: str = typer.Option("all"),
) -> None:
    """Create a user in a tenant (admins can also do this through the API). The e-mail must be
    new in that tenant; other tenants may have their own account with it."""
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        fail(f"unknown role(s) {', '.join(unknown)}; choose from {', '.join(ROLES)}")
    try:
        pw = hash_password(password)
    except ValueError as exc:
        fail(str(exc))
    try:
        with session_scope(make_engine()) as s:
            t = s.scalar(select(Tenant).where(Tenant.slug == tenant))
            if t is None:
                fail(f"no tenant '{tenant}'")
            # E-mails are unique per tenant: the same address may have an account elsewhere.
            if s.scalar(
                select(User.id).where(
                    User.tenant_id == t.id, func.lower(User.email) == email.lower()
                )
            ):
                fail(f"a user with e-mail {email!r} already exists in tenant '{tenant}'")
            s.add(
                User(
                    tenant_id=t.id,
                    email=email,
                    display_name=display_name,
                    password_hash=pw,
                    roles=sorted(set(roles)),
                    cohort=cohort,
                )
            )
    except IntegrityError as exc:
        fail(f"could not create user: {exc.orig}")
    typer.echo(f"user {email} created in {tenant}")


TENANT_OPT = typer.Option(..., "--tenant", help="tenant slug")
EXAM_OPT = typer.Option(..., "--exam-code", help="exam code, e.g. USMLE-1")


@params_app.command("list")
def params_list(tenant: str = TENANT_OPT, exam_code: str = EXAM_OPT) -> None:
    """The parameter sets of an exam code, newest first, with their status and checks."""
    with make_engine().connect() as conn:
        try:
            tid = parameter_sets.tenant_id_of(conn, tenant)
        except parameter_sets.SwitchRefused as exc:
            fail(str(exc))
        sets = parameter_sets.list_sets(conn, tid, exam_code)
    if not sets:
        typer.echo(f"{tenant}/{exam_code}: no parameter sets (cold-start defaults)")
        return
    typer.echo(f"{'set':>6}  {'status':<10}  {'checks':<6}  {'items':>5}  activated_at      run")
    for s in sets:
        when = f"{s.activated_at:%Y-%m-%d %H:%M}" if s.activated_at else "-"
        checks = "passed" if s.checks_passed else "failed"
        typer.echo(
            f"{s.id:>6}  {s.status:<10}  {checks:<6}  {s.n_items:>5}  {when:<16}  "
            f"{s.created_by_run}"
        )


def _switch(tenant: str, exam_code: str, set_id: int | None, *, rollback: bool) -> None:
    try:
        with make_engine().begin() as conn:
            tid = parameter_sets.tenant_id_of(conn, tenant)
            if rollback and set_id is None:
                set_id = parameter_sets.previous_good_set(conn, tid, exam_code)
                if set_id is None:
                    fail(
                        f"{tenant}/{exam_code} has no earlier set that passed its checks; "
                        "see `qbank params list`"
                    )
            out = parameter_sets.switch_active_set(conn, tid, exam_code, set_id)
    except parameter_sets.SwitchRefused as exc:
        fail(str(exc))
    was = f"set {out.previous_set_id}" if out.previous_set_id else "no set"
    if out.active_set_id is None:
        typer.echo(f"{tenant}/{exam_code}: out of service (was {was}); cold-start defaults now")
    else:
        typer.echo(f"{tenant}/{exam_code}: set {out.active_set_id} is live (was {was})")


@params_app.command("retire")
def params_retire(tenant: str = TENANT_OPT, exam_code: str = EXAM_OPT) -> None:
    """Take the live set out of service: every item is served with cold-start defaults."""
    _switch(tenant, exam_code, None, rollback=False)


@params_app.command("rollback")
def params_rollback(
    tenant: str = TENANT_OPT,
    exam_code: str = EXAM_OPT,
    set_id: int | None = typer.Option(
        None, "--set", help="the set to make live (default: the last one live before)"
    ),
) -> None:
    """Make an earlier set that passed its checks the live one again (API processes reload)."""
    _switch(tenant, exam_code, set_id, rollback=True)


if __name__ == "__main__":
    sys.exit(app())
