"""Where the Dagster instance lives: PostgreSQL, not SQLite files under DAGSTER_HOME.

DAGSTER_HOME/dagster.yaml (orchestration/dagster.yaml, installed by `orchestration.prepare`)
points run storage, event logs and schedule storage at `$QBANK_DAGSTER_STORAGE_URL`, which
`dagster_env` derives from the settings (`Settings.dagster_storage_url`: the schema `dagster`
of the configured database). `make ui`, `make materialize`, `orchestration.nightly` and the
tests all set it from the same settings, so they share one instance: a run started headless,
by a worker process or on another machine shows in the UI. Tests get their own database per
run, and so their own instance.
"""

from __future__ import annotations

import os

from sqlalchemy import create_engine, text

from qbank.settings import DAGSTER_SCHEMA, Settings, get_settings

STORAGE_URL_VAR = "QBANK_DAGSTER_STORAGE_URL"


def dagster_env(settings: Settings | None = None) -> dict[str, str]:
    """What a process needs in its environment to open QBank's instance."""
    settings = settings or get_settings()
    return {
        "DAGSTER_HOME": str(settings.dagster_home),
        STORAGE_URL_VAR: settings.dagster_storage_url,
    }


def ensure_instance_schema(settings: Settings | None = None) -> None:
    """Create the instance's schema (dagster-postgres creates its tables, not the schema), in
    the database `Settings.dagster_storage_url` names: the analytics one when it is separate."""
    settings = settings or get_settings()
    engine = create_engine(settings.analytics_url, pool_size=1)
    try:
        with engine.begin() as c:
            # Two processes preparing at once: CREATE SCHEMA IF NOT EXISTS still races on the
            # catalog's unique index, so one at a time.
            c.execute(text("SELECT pg_advisory_xact_lock(hashtext('qbank.dagster_schema'))"))
            c.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{DAGSTER_SCHEMA}"'))
    finally:
        engine.dispose()


def export_dagster_env(settings: Settings | None = None) -> dict[str, str]:
    """Set `dagster_env` in this process (for instances and subprocesses opened from here)."""
    env = dagster_env(settings)
    os.environ.update(env)
    return env
