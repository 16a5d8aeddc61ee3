"""`qbank tenant create` and `qbank user create` against the real database."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from typer.testing import CliRunner

from qbank.cli import app
from qbank.passwords import verify_password

runner = CliRunner()


def test_tenant_create_makes_tenant_and_admin(engine):
    slug = f"acme-{uuid.uuid4().hex[:6]}"
    email = f"admin-{slug}@example.org"
    res = runner.invoke(
        app,
        [
            "tenant",
            "create",
            "--slug",
            slug,
            "--name",
            "Acme Medical",
            "--admin-email",
            email,
            "--admin-password",
            "correct-horse-1",
        ],
    )
    assert res.exit_code == 0, res.output
    with engine.connect() as c:
        row = c.execute(
            text(
                "SELECT u.roles, u.password_hash, u.cohort FROM users u "
                "JOIN tenants t ON t.id=u.tenant_id WHERE t.slug=:s"
            ),
            {"s": slug},
        ).one()
    assert row.roles == ["admin"] and row.cohort == "all"
    assert verify_password(row.password_hash, "correct-horse-1")
    assert not verify_password(row.password_hash, "wrong")

    again = runner.invoke(
        app,
        [
            "tenant",
            "create",
            "--slug",
            slug,
            "--name",
            "x",
            "--admin-email",
            "other@example.org",
            "--admin-password",
            "pw-123456",
        ],
    )
    assert again.exit_code == 2 and "already exists" in again.output


def test_user_create_validates_roles_and_tenant(engine):
    res = runner.invoke(
        app,
        [
            "user",
            "create",
            "--tenant",
            "no-such-tenant",
            "--email",
            "a@b.org",
            "--password",
            "pw-123456",
            "--display-name",
            "A",
        ],
    )
    assert res.exit_code == 2 and "no tenant 'no-such-tenant'" in res.output
    res = runner.invoke(
        app,
        [
            "user",
            "create",
            "--tenant",
            "x",
            "--email",
            "a@b.org",
            "--password",
            "pw-123456",
            "--display-name",
            "A",
            "--role",
            "root",
        ],
    )
    assert res.exit_code == 2 and "unknown role(s) root" in res.output


def test_short_password_refused(engine):
    res = runner.invoke(
        app,
        [
            "tenant",
            "create",
            "--slug",
            "short-pw",
            "--name",
            "x",
            "--admin-email",
            "s@x.org",
            "--admin-password",
            "short",
        ],
    )
    assert res.exit_code == 2 and "at least 8 characters" in res.output


def _user_create(slug: str, email: str):
    return runner.invoke(
        app,
        [
            "user",
            "create",
            "--tenant",
            slug,
            "--email",
            email,
            "--password",
            "pw-123456",
            "--display-name",
            "Ana",
        ],
    )


def test_user_create_same_email_in_two_tenants_but_not_twice_in_one(engine):
    slugs = [f"cli-{k}-{uuid.uuid4().hex[:6]}" for k in range(2)]
    for slug in slugs:
        res = runner.invoke(
            app,
            [
                "tenant",
                "create",
                "--slug",
                slug,
                "--name",
                slug,
                "--admin-email",
                f"admin@{slug}.example",
                "--admin-password",
                "pw-123456",
            ],
        )
        assert res.exit_code == 0, res.output
    email = f"ana-{uuid.uuid4().hex[:6]}@example.org"
    for slug in slugs:
        res = _user_create(slug, email)
        assert res.exit_code == 0, res.output
    again = _user_create(slugs[0], email.upper())
    assert again.exit_code == 2
    assert f"already exists in tenant '{slugs[0]}'" in again.output
    with engine.connect() as c:
        n = c.execute(
            text("SELECT count(*) FROM users WHERE lower(email) = lower(:e)"), {"e": email}
        ).scalar_one()
    assert n == 2
