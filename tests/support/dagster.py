"""Dagster instances of a test run: in PostgreSQL (like the product's), in a schema of this
run's database, so they go when the database is dropped."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from sqlalchemy import create_engine, text

from qbank.settings import Settings, libpq_url


@contextmanager
def postgres_instance(settings: Settings, schema: str) -> Iterator[dg.DagsterInstance]:
    """A fresh instance whose runs, event logs, schedules and partitions live in `schema`."""
    engine = create_engine(settings.sync_database_url, pool_size=1)
    with engine.begin() as c:
        c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    url = f"{libpq_url(settings.database_url)}?options=-csearch_path%3D{schema}"
    with dg.instance_for_test(overrides={"storage": {"postgres": {"postgres_url": url}}}) as inst:
        yield inst
