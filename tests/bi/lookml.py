"""The LookML project read the way Looker reads it, far enough to check it against PostgreSQL.

`load_model` parses the model and the view files it includes (with `lkml`), expands dimension
groups into their timeframe fields, and `SqlRenderer` turns a field into the SQL Looker would
generate for it on PostgreSQL: `${TABLE}` becomes the view's alias, `${field}` and
`${view.field}` the referenced field's SQL, a measure its aggregate (filters included), a
timeframe its date expression. Anything the renderer does not know is an error, not a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lkml

from qbank.settings import PROJECT_ROOT

LOOKER_DIR = PROJECT_ROOT / "looker"
MODEL_PATH = LOOKER_DIR / "qbank.model.lkml"

REF = re.compile(r"\$\{([^{}]+)\}")
TABLE_COLUMN = re.compile(r"\$\{TABLE\}\.(\w+)")

# Timeframe SQL on PostgreSQL, as Looker's dialect writes it (x: the group's SQL).
TIMEFRAMES = {
    "raw": "{x}",
    "time": "TO_CHAR({x}, 'YYYY-MM-DD HH24:MI:SS')",
    "hour_of_day": "EXTRACT(HOUR FROM {x})::integer",
    "date": "DATE({x})",
    "day_of_week": "TO_CHAR({x}, 'FMDay')",
    "week": "TO_CHAR(DATE_TRUNC('week', {x}), 'YYYY-MM-DD')",
    "month": "TO_CHAR(DATE_TRUNC('month', {x}), 'YYYY-MM')",
    "quarter": "TO_CHAR(DATE_TRUNC('quarter', {x}), 'YYYY-MM')",
    "year": "EXTRACT(YEAR FROM {x})::integer",
}
AGGREGATES = {"sum": "SUM", "average": "AVG", "min": "MIN", "max": "MAX"}
DIMENSION_TYPES = {"string", "number", "yesno"}
MEASURE_TYPES = {"count", "count_distinct", "median", "number", *AGGREGATES}


class LookMLError(ValueError):
    """The LookML says something Looker would reject or this checker cannot render."""


@dataclass
class Field:
    view: str
    name: str
    kind: str  # "dimension" or "measure"
    type: str
    sql: str | None
    spec: dict[str, Any]
    group: str | None = None  # the dimension group a timeframe field comes from
    timeframe: str | None = None
    datatype: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.view}.{self.name}"


@dataclass
class View:
    name: str
    path: Path
    spec: dict[str, Any]
    fields: dict[str, Field] = field(default_factory=dict)
    sets: dict[str, list[str]] = field(default_factory=dict)

    @property
    def sql_table_name(self) -> str | None:
        return self.spec.get("sql_table_name")

    @property
    def derived_sql(self) -> str | None:
        return (self.spec.get("derived_table") or {}).get("sql")

    @property
    def from_clause(self) -> str:
        """What Looker puts in FROM for this view, aliased by the view's name."""
        if self.sql_table_name:
            return f"{self.sql_table_name.strip()} AS {self.name}"
        if self.derived_sql:
            return f"({self.derived_sql.strip()}) AS {self.name}"
        raise LookMLError(f"view {self.name}: neither sql_table_name nor derived_table.sql")

    def all_sql(self) -> list[str]:
        sqls = [f.sql for f in self.fields.values() if f.sql]
        return sqls + [self.derived_sql] if self.derived_sql else sqls

    def primary_keys(self) -> list[Field]:
        return [f for f in self.fields.values() if f.spec.get("primary_key") == "yes"]


@dataclass
class Model:
    path: Path
    spec: dict[str, Any]
    views: dict[str, View]
    included: list[Path]

    @property
    def explores(self) -> list[dict[str, Any]]:
        return self.spec.get("explores", [])

    def explore(self, name: str) -> dict[str, Any]:
        return next(e for e in self.explores if e["name"] == name)

    def explore_views(self, explore: dict[str, Any]) -> list[str]:
        return [explore.get("view_name", explore["name"])] + [
            j.get("from", j["name"]) for j in explore.get("joins", [])
        ]


def resolve_include(pattern: str, base: Path) -> list[Path]:
    """Looker include semantics: `/x` from the project root, otherwise relative to the file."""
    root = LOOKER_DIR
    if pattern.startswith("/"):
        matches = sorted(root.glob(pattern.lstrip("/")))
    else:
        matches = sorted(base.parent.glob(pattern))
    return [m for m in matches if m.is_file()]


def _fields_of(view_name: str, spec: dict[str, Any]) -> dict[str, Field]:
    out: dict[str, Field] = {}

    def add(f: Field) -> None:
        if f.name in out:
            raise LookMLError(f"view {view_name}: field {f.name} is defined twice")
        out[f.name] = f

    for d in spec.get("dimensions", []):
        add(Field(view_name, d["name"], "dimension", d.get("type", "string"), d.get("sql"), d))
    for g in spec.get("dimension_groups", []):
        if g.get("type") != "time":
            raise LookMLError(f"view {view_name}: dimension_group {g['name']} is not type: time")
        for tf in g.get("timeframes", []):
            add(
                Field(
                    view_name,
                    f"{g['name']}_{tf}",
                    "dimension",
                    f"time:{tf}",
                    g.get("sql"),
                    g,
                    group=g["name"],
                    timeframe=tf,
                    datatype=g.get("datatype", "timestamp"),
                )
            )
    for m in spec.get("measures", []):
        add(Field(view_name, m["name"], "measure", m.get("type", "count"), m.get("sql"), m))
    return out


def load_model(path: Path = MODEL_PATH) -> Model:
    spec = lkml.load(path.read_text())
    included: list[Path] = []
    for pattern in spec.get("includes", []):
        files = resolve_include(pattern, path)
        if not files:
            raise LookMLError(f"{path.name}: include {pattern!r} matches no file")
        included += files
    views: dict[str, View] = {}
    for file in included:
        for v in lkml.load(file.read_text()).get("views", []):
            if v["name"] in views:
                raise LookMLError(f"view {v['name']} is defined twice")
            views[v["name"]] = View(
                name=v["name"],
                path=file,
                spec=v,
                fields=_fields_of(v["name"], v),
                sets={s["name"]: s.get("fields", []) for s in v.get("sets", [])},
            )
    return Model(path=path, spec=spec, views=views, included=included)


def field_refs(sql: str, view: str) -> list[tuple[str, str]]:
    """(view, field) for every `${...}` in `sql` except `${TABLE}`."""
    out = []
    for token in REF.findall(sql):
        token = token.strip()
        if token == "TABLE":
            continue
        v, _, f = token.rpartition(".")
        out.append((v or view, f))
    return out


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class SqlRenderer:
    """The SQL of LookML fields on PostgreSQL."""

    def __init__(self, model: Model):
        self.model = model

    def field(self, view: str, name: str) -> Field:
        if view not in self.model.views:
            raise LookMLError(f"unknown view {view!r} (in ${{{view}.{name}}})")
        fields = self.model.views[view].fields
        if name not in fields:
            raise LookMLError(f"view {view} has no field {name!r}")
        return fields[name]

    def expand(self, sql: str, view: str, stack: tuple[str, ...]) -> str:
        def sub(m: re.Match[str]) -> str:
            token = m.group(1).strip()
            if token == "TABLE":
                return view
            v, _, name = token.rpartition(".")
            target = self.field(v or view, name)
            if target.kind == "measure":
                return f"({self.measure(target, stack)})"
            return f"({self.dimension(target, stack)})"

        return REF.sub(sub, sql)

    def dimension(self, f: Field, stack: tuple[str, ...] = ()) -> str:
        """The dimension's SQL as other SQL sees it through `${...}` (a yesno is its condition)."""
        if f.kind != "dimension":
            raise LookMLError(f"{f.ref} is not a dimension")
        if f.ref in stack:
            raise LookMLError(f"circular reference: {' -> '.join((*stack, f.ref))}")
        stack = (*stack, f.ref)
        if f.timeframe is not None:
            if f.timeframe not in TIMEFRAMES:
                raise LookMLError(f"{f.ref}: timeframe {f.timeframe!r} is not supported here")
            base = self.expand(f.sql or f"${{TABLE}}.{f.group}", f.view, stack)
            return TIMEFRAMES[f.timeframe].format(x=base)
        if f.type not in DIMENSION_TYPES:
            raise LookMLError(f"{f.ref}: dimension type {f.type!r} is not supported here")
        return self.expand(f.sql or f"${{TABLE}}.{f.name}", f.view, stack)

    def select_dimension(self, f: Field) -> str:
        """The dimension as Looker selects it (a yesno shows as 'Yes' / 'No')."""
        sql = self.dimension(f)
        if f.type == "yesno":
            return f"CASE WHEN {sql} THEN 'Yes' ELSE 'No' END"
        return sql

    def _filter(self, f: Field, name: str, expression: str, stack: tuple[str, ...]) -> str:
        v, _, fname = name.rpartition(".")
        target = self.field(v or f.view, fname)
        sql = self.dimension(target, stack)
        value = str(expression).strip()
        if target.type == "yesno":
            if value.lower() not in ("yes", "no"):
                raise LookMLError(
                    f"{f.ref}: yesno filter on {name} must be yes or no, not {value!r}"
                )
            return f"({sql})" if value.lower() == "yes" else f"NOT ({sql})"
        if value == "NULL":
            return f"({sql}) IS NULL"
        if value == "-NULL":
            return f"({sql}) IS NOT NULL"
        number = re.fullmatch(r"(>=|<=|>|<|=)?\s*(-?\d+(?:\.\d+)?)", value)
        if target.type == "number" and number:
            return f"({sql}) {number.group(1) or '='} {number.group(2)}"
        # Plain string values only: `-x` (not), `%` (like), `,` (lists) and `^` are filter syntax.
        if target.type == "string" and not value.startswith("-") and not re.search(r"[%,^]", value):
            return f"({sql}) = {_quote(value)}"
        raise LookMLError(f"{f.ref}: filter expression {value!r} on {name} is not supported here")

    def measure(self, f: Field, stack: tuple[str, ...] = ()) -> str:
        if f.kind != "measure":
            raise LookMLError(f"{f.ref} is not a measure")
        if f.ref in stack:
            raise LookMLError(f"circular reference: {' -> '.join((*stack, f.ref))}")
        stack = (*stack, f.ref)
        if f.type not in MEASURE_TYPES:
            raise LookMLError(f"{f.ref}: measure type {f.type!r} is not supported here")
        if f.type == "number":
            if not f.sql:
                raise LookMLError(f"{f.ref}: a type: number measure needs sql")
            return self.expand(f.sql, f.view, stack)
        conditions = [
            self._filter(f, name, expr, stack)
            for group in f.spec.get("filters__all", [])
            for item in group
            for name, expr in item.items()
        ]
        cond = " AND ".join(conditions)
        if f.type == "count":
            if f.sql:
                raise LookMLError(f"{f.ref}: a type: count measure takes no sql (use filters)")
            return f"COUNT(CASE WHEN {cond} THEN 1 END)" if cond else "COUNT(*)"
        if not f.sql:
            raise LookMLError(f"{f.ref}: a type: {f.type} measure needs sql")
        arg = self.expand(f.sql, f.view, stack)
        if cond:
            arg = f"CASE WHEN {cond} THEN {arg} END"
        if f.type == "count_distinct":
            return f"COUNT(DISTINCT {arg})"
        if f.type == "median":
            return f"PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY {arg})"
        return f"{AGGREGATES[f.type]}({arg})"

    def select(self, f: Field) -> str:
        return self.measure(f) if f.kind == "measure" else self.select_dimension(f)

    def join_clause(self, join: dict[str, Any]) -> str:
        view = self.model.views[join.get("from", join["name"])]
        kind = {"left_outer": "LEFT JOIN", "inner": "JOIN", "full_outer": "FULL JOIN"}.get(
            join.get("type", "left_outer")
        )
        if kind is None or "sql_on" not in join:
            raise LookMLError(
                f"join {join['name']}: needs sql_on and a left_outer/inner/full_outer type"
            )
        return f"{kind} {view.from_clause} ON {self.expand(join['sql_on'], view.name, ())}"

    def explore_from(self, explore: dict[str, Any]) -> str:
        base = self.model.views[explore.get("view_name", explore["name"])]
        return " ".join(
            [f"FROM {base.from_clause}", *(self.join_clause(j) for j in explore.get("joins", []))]
        )
