"""Dropping (and making afresh) a database that PostgreSQL's own workers may be visiting.

`DROP DATABASE ... WITH (FORCE)` ends the other sessions in the database, but only those the
caller may signal: an autovacuum worker that happens to be vacuuming it makes the statement fail
("must be a member of the role whose process is being terminated", PostgreSQL 15) instead of
being stopped. Such a worker is gone within moments, so the drop is tried again.
"""

from __future__ import annotations

import time

import psycopg
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError


def drop_database(conn: Connection, name: str, timeout_s: float = 30.0) -> None:
    """Drops `name` if it exists; `conn` is an AUTOCOMMIT connection to another database."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except DBAPIError as exc:
            busy = isinstance(exc.orig, psycopg.errors.InsufficientPrivilege)
            if not busy or time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def recreate_database(conn: Connection, name: str) -> None:
    """`name` dropped if it exists, then created empty; `conn` as for `drop_database`."""
    drop_database(conn, name)
    conn.execute(text(f'CREATE DATABASE "{name}"'))
