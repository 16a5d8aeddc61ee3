"""Small helpers to ask the built database what a query returns (names and PostgreSQL types)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text

# pg_type OIDs
NUMERIC = {20, 21, 23, 700, 701, 1700}
BOOLEAN = {16}
TEXT = {25, 1043, 18, 19}
DATE = {1082}
TIMESTAMP = {1114, 1184}


@dataclass
class Result:
    columns: list[tuple[str, int]]  # (name, type OID)
    rows: list[tuple[Any, ...]]

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.columns]

    def type_of(self, name: str) -> int:
        return dict(self.columns)[name]


def run(engine: Engine, sql: str) -> Result:
    """Execute `sql` as written (no parameters, so `%` stays literal) in a read-only transaction."""
    with engine.connect() as c:
        raw = c.connection.driver_connection
        with raw.cursor() as cur:
            cur.execute("SET TRANSACTION READ ONLY")
            cur.execute(sql)
            columns = [(d.name, d.type_code) for d in cur.description]
            rows = cur.fetchall()
        raw.rollback()
    return Result(columns, rows)


def table_columns(engine: Engine, qualified: str) -> dict[str, str] | None:
    """column → data type of `schema.table`, or None when there is no such table."""
    schema, _, table = qualified.strip().rpartition(".")
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = :s AND table_name = :t ORDER BY ordinal_position"
            ),
            {"s": schema or "public", "t": table},
        ).all()
    return dict(rows) if rows else None
