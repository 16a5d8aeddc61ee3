"""The Alembic chain goes up and down on a fresh database and agrees with the ORM."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from qbank import migrations
from qbank.models import Base
from tests.support.databases import RUN_ID, create_database, drop_database


def test_one_revision_chain():
    script = ScriptDirectory.from_config(migrations.alembic_config("postgresql+psycopg://x/y"))
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1


@pytest.mark.stack
def test_upgrade_downgrade_upgrade_on_fresh_database():
    name = f"qbank_mig_{RUN_ID}"
    url = create_database(name)
    try:
        migrations.upgrade(url)
        eng = create_engine(url)
        with eng.connect() as c:
            tables = set(inspect(c).get_table_names()) | {
                f"raw.{t}" for t in inspect(c).get_table_names(schema="raw")
            }
        assert {"tenants", "question_versions", "item_parameters", "raw.events"} <= tables

        migrations.downgrade(url)
        with eng.connect() as c:
            assert inspect(c).get_table_names() == ["alembic_version"]
            assert not c.execute(text("SELECT 1 FROM pg_namespace WHERE nspname='raw'")).first()

        migrations.upgrade(url)
        with eng.connect() as c:
            assert "quiz_items" in inspect(c).get_table_names()
        eng.dispose()
    finally:
        drop_database(name)


def test_orm_and_migrated_database_agree(engine):
    def include_name(name, type_, parent_names):
        return name in {None, "public", "raw"} if type_ == "schema" else True

    with engine.connect() as c:
        ctx = MigrationContext.configure(
            c,
            opts={
                "include_schemas": True,
                "include_name": include_name,
                "compare_type": True,
                "compare_server_default": True,
            },
        )
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_tenant_accounts_migration_keeps_users_and_downgrades_only_when_it_can():
    """0004_tenant_accounts: existing users survive the index swap; afterwards an e-mail may
    exist in two tenants (never twice in one); the downgrade refuses while such a pair exists
    and works once it is gone."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    name = f"qbank_mig4_{RUN_ID}"
    url = create_database(name)
    eng = create_engine(url)
    user = (
        "INSERT INTO users (id, tenant_id, email, display_name, password_hash, roles) "
        "VALUES (gen_random_uuid(), :t, :e, 'Ana', 'x', ARRAY['student']) RETURNING id"
    )
    try:
        migrations.upgrade(url, revision="0003")
        with eng.begin() as c:
            a, b = (
                c.execute(
                    text(
                        "INSERT INTO tenants (id, slug, name) VALUES (gen_random_uuid(), :s, :s) "
                        "RETURNING id"
                    ),
                    {"s": s},
                ).scalar_one()
                for s in ("mig-a", "mig-b")
            )
            ana_a = c.execute(text(user), {"t": a, "e": "ana@example.org"}).scalar_one()
            with pytest.raises(IntegrityError), c.begin_nested():  # the old, global rule
                c.execute(text(user), {"t": b, "e": "Ana@Example.org"})
        migrations.upgrade(url, revision="0004_tenant_accounts")
        with eng.begin() as c:
            assert c.execute(text("SELECT id FROM users")).scalars().all() == [ana_a]
            ana_b = c.execute(text(user), {"t": b, "e": "Ana@Example.org"}).scalar_one()
            with (
                pytest.raises(IntegrityError, match="uq_users_tenant_email_lower"),
                c.begin_nested(),
            ):
                c.execute(text(user), {"t": a, "e": "ANA@example.org"})
        with pytest.raises(RuntimeError, match="1 e-mail address"):
            migrations.downgrade(url, revision="0003")
        with eng.begin() as c:
            c.execute(text("DELETE FROM users WHERE id = :u"), {"u": ana_b})
        migrations.downgrade(url, revision="0003")
        with eng.connect() as c:
            indexes = {i["name"] for i in inspect(c).get_indexes("users")}
            assert c.execute(text("SELECT id FROM users")).scalars().all() == [ana_a]
        assert {"uq_users_email_lower", "ix_users_tenant_id"} <= indexes
        assert not indexes & {"uq_users_tenant_email_lower", "ix_users_email_lower"}
    finally:
        eng.dispose()
        drop_database(name)
