"""The Alembic chain goes up and down on a fresh database and agrees with the ORM."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from qbank import migrations
from qbank.models import Base
from tests.conftest import RUN_ID, create_database, drop_database


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
