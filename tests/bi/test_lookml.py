"""LookML against the marts dbt really built: files parse, tables and columns exist, every field's
SQL runs on PostgreSQL with the type its LookML type promises, joins hold on real keys without
fanning out, drill fields resolve, and tenant scoping reaches every explore."""

from __future__ import annotations

import re

import lkml
import pytest

from tests.bi import pg
from tests.bi.lookml import (
    LOOKER_DIR,
    TABLE_COLUMN,
    LookMLError,
    Model,
    SqlRenderer,
    View,
    field_refs,
    load_model,
)
from tests.bi.seed import BiSeed
from tests.support.dbt import DbtDatabase

REQUIRED_VIEWS = {
    "fact_responses",
    "cohort_performance",
    "item_statistics",
    "topic_performance",
    "item_calibrations",
}
TENANT_ATTRIBUTE = "qbank_tenant_id"


@pytest.fixture(scope="module")
def model() -> Model:
    return load_model()


@pytest.fixture(scope="module")
def renderer(model: Model) -> SqlRenderer:
    return SqlRenderer(model)


def _view_columns(engine, view: View) -> set[str]:
    if view.sql_table_name:
        cols = pg.table_columns(engine, view.sql_table_name)
        assert cols is not None, f"{view.name}: table {view.sql_table_name} does not exist"
        return set(cols)
    return set(pg.run(engine, f"SELECT * FROM {view.from_clause} LIMIT 0").names)


# --- files ----------------------------------------------------------------------------------


def test_every_lookml_file_parses_and_is_included(model: Model) -> None:
    files = sorted(LOOKER_DIR.rglob("*.lkml"))
    assert files, "no LookML files"
    for f in files:
        parsed = lkml.load(f.read_text())  # raises on a syntax error
        if f.name.endswith(".view.lkml"):
            names = [v["name"] for v in parsed.get("views", [])]
            assert names == [f.name.removesuffix(".view.lkml")], (
                f"{f.name}: one view, named as the file"
            )
    assert set(files) == {model.path, *model.included}, "a LookML file the model does not include"


def test_model_has_connection_views_and_explores(model: Model) -> None:
    assert model.spec.get("connection") == "qbank_marts"
    assert set(model.views) == REQUIRED_VIEWS
    explores = {e["name"] for e in model.explores}
    assert explores == REQUIRED_VIEWS
    fact = model.explore("fact_responses")
    assert {j["name"] for j in fact["joins"]} == {
        "item_statistics",
        "topic_performance",
        "item_calibrations",
    }
    for view in model.views.values():
        assert len(view.primary_keys()) == 1, f"{view.name}: exactly one primary key"
        assert view.spec.get("description"), f"{view.name}: a description"
        assert view.spec.get("measures"), f"{view.name}: measures"
    fact_view = model.views["fact_responses"]
    assert [g["name"] for g in fact_view.spec["dimension_groups"]] == ["answered"]
    by_type = {m["name"]: m["type"] for m in fact_view.spec["measures"]}
    assert by_type["attempts"] == "count"
    assert by_type["distinct_students"] == "count_distinct"
    assert by_type["average_time_seconds"] == "average"
    accuracy = next(m for m in fact_view.spec["measures"] if m["name"] == "accuracy")
    assert accuracy["value_format_name"].startswith("percent")


def test_renderer_rejects_what_it_cannot_check(model: Model, renderer: SqlRenderer) -> None:
    """The checker fails loudly on unknown references instead of passing them through."""
    fact = model.views["fact_responses"]
    with pytest.raises(LookMLError, match="no field 'nope'"):
        renderer.expand("${nope} + 1", fact.name, ())
    with pytest.raises(LookMLError, match="unknown view"):
        renderer.expand("${ghost.tenant_id}", fact.name, ())


# --- tables and columns ---------------------------------------------------------------------


def test_tables_are_marts_and_every_table_column_exists(
    marts_db: DbtDatabase, model: Model
) -> None:
    missing = []
    for view in model.views.values():
        if view.sql_table_name:
            assert re.fullmatch(r"marts\.\w+", view.sql_table_name.strip()), (
                f"{view.name}: sql_table_name {view.sql_table_name!r} must be in the fixed marts schema"
            )
        columns = _view_columns(marts_db.engine, view)
        for sql in view.all_sql():
            missing += [
                f"{view.name}: ${{TABLE}}.{c}"
                for c in TABLE_COLUMN.findall(sql)
                if c not in columns
            ]
    assert not missing, f"columns not in the built marts: {missing}"


def test_derived_table_reads_real_tables(marts_db: DbtDatabase, model: Model) -> None:
    for view in model.views.values():
        if view.derived_sql:
            rows = pg.run(marts_db.engine, f"SELECT count(*) FROM {view.from_clause}").rows
            assert rows[0][0] > 0, f"{view.name}: derived table is empty on the seeded history"


# --- every field's SQL ----------------------------------------------------------------------


def _type_ok(field, oid: int) -> bool:
    if field.kind == "measure":
        return oid in pg.NUMERIC
    if field.timeframe == "raw":
        return oid in (pg.DATE if field.datatype == "date" else pg.TIMESTAMP)
    if field.timeframe in ("date",):
        return oid in pg.DATE
    if field.timeframe in ("hour_of_day", "year"):
        return oid in pg.NUMERIC
    if field.timeframe is not None:
        return oid in pg.TEXT
    return {
        "number": pg.NUMERIC,
        "string": pg.TEXT,
        "yesno": pg.TEXT,  # 'Yes' / 'No'
    }[field.type].__contains__(oid)


@pytest.mark.parametrize("view_name", sorted(REQUIRED_VIEWS))
def test_every_field_renders_and_runs_on_its_table(
    marts_db: DbtDatabase, model: Model, renderer: SqlRenderer, view_name: str
) -> None:
    view = model.views[view_name]
    problems = []
    non_null = 0
    for f in view.fields.values():
        expr = renderer.select(f)
        sql = f"SELECT {expr} AS v FROM {view.from_clause}"
        if f.kind == "dimension":
            sql += " LIMIT 50"
        try:
            result = pg.run(marts_db.engine, sql)
        except Exception as exc:  # report every failing field at once
            problems.append(f"{f.ref}: {type(exc).__name__}: {exc}\n    {sql}")
            continue
        oid = result.type_of("v")
        if not _type_ok(f, oid):
            problems.append(f"{f.ref} ({f.kind}, type {f.type}): PostgreSQL type OID {oid}")
        if f.type == "yesno":
            raw = pg.run(
                marts_db.engine,
                f"SELECT {renderer.dimension(f)} AS v FROM {view.from_clause} LIMIT 1",
            )
            if raw.type_of("v") not in pg.BOOLEAN:
                problems.append(f"{f.ref}: yesno SQL is not a boolean")
        non_null += any(r[0] is not None for r in result.rows)
    assert not problems, "\n".join(problems)
    # The seeded history exercises the fields: most return data, not only NULLs.
    assert non_null >= 0.9 * len(view.fields), f"{view_name}: too many fields without data"


def test_primary_keys_are_unique_and_present(
    marts_db: DbtDatabase, model: Model, renderer: SqlRenderer
) -> None:
    for view in model.views.values():
        (pk,) = view.primary_keys()
        key = renderer.dimension(pk)
        rows, distinct, nulls = pg.run(
            marts_db.engine,
            f"SELECT count(*), count(DISTINCT {key}), count(*) - count({key}) FROM {view.from_clause}",
        ).rows[0]
        assert rows > 0 and rows == distinct and nulls == 0, f"{pk.ref} is not a unique key"


# --- explores and joins ---------------------------------------------------------------------


def test_every_join_key_exists_on_both_sides(model: Model) -> None:
    for explore in model.explores:
        seen = {explore.get("view_name", explore["name"])}
        assert seen <= set(model.views), f"explore {explore['name']}: unknown base view"
        for join in explore.get("joins", []):
            joined = join.get("from", join["name"])
            assert joined in model.views, f"{explore['name']}: join {joined} is not a view"
            assert join.get("relationship") in (
                "many_to_one",
                "one_to_one",
                "one_to_many",
                "many_to_many",
            )
            refs = field_refs(join["sql_on"], joined)
            sides = {v for v, _ in refs}
            for v, f in refs:
                assert v in seen | {joined}, (
                    f"{explore['name']}.{joined}: sql_on uses {v}, not yet joined"
                )
                assert f in model.views[v].fields, (
                    f"{explore['name']}.{joined}: {v}.{f} is not a field"
                )
            assert joined in sides and sides & seen, (
                f"{explore['name']}.{joined}: keys on both sides"
            )
            # tenant_id = tenant_id: a join never crosses tenants.
            pairs = re.findall(
                r"\$\{(\w+)\.tenant_id\}\s*=\s*\$\{(\w+)\.tenant_id\}", join["sql_on"]
            )
            assert any(joined in p for p in pairs), f"{explore['name']}.{joined}: join on tenant_id"
            seen.add(joined)


def test_joins_run_match_rows_and_do_not_fan_out(
    marts_db: DbtDatabase, model: Model, renderer: SqlRenderer
) -> None:
    for explore in model.explores:
        base = model.views[explore.get("view_name", explore["name"])]
        (base_rows,) = pg.run(marts_db.engine, f"SELECT count(*) FROM {base.from_clause}").rows[0]
        for join in explore.get("joins", []):
            joined = model.views[join.get("from", join["name"])]
            (pk,) = joined.primary_keys()
            sql = (
                f"SELECT count(*), count({renderer.dimension(pk)}) "
                f"FROM {base.from_clause} {renderer.join_clause(join)}"
            )
            rows, matched = pg.run(marts_db.engine, sql).rows[0]
            where = f"{explore['name']} ⋈ {joined.name}"
            assert matched > 0, f"{where}: the join keys never match on the seeded history"
            if join["relationship"] in ("many_to_one", "one_to_one"):
                assert rows == base_rows, f"{where}: declared {join['relationship']} but fans out"


def test_every_explore_selects_all_its_fields_at_once(
    marts_db: DbtDatabase, model: Model, renderer: SqlRenderer
) -> None:
    """What a user gets picking every dimension (grouped) and every measure of an explore."""
    for explore in model.explores:
        views = [model.views[v] for v in model.explore_views(explore)]
        dims = [f for v in views for f in v.fields.values() if f.kind == "dimension"]
        measures = [f for v in views for f in v.fields.values() if f.kind == "measure"]
        select = [f'{renderer.select(f)} AS "{f.ref}"' for f in dims + measures]
        groups = ", ".join(str(i) for i in range(1, len(dims) + 1))
        sql = f"SELECT {', '.join(select)} {renderer.explore_from(explore)} GROUP BY {groups} LIMIT 20"
        result = pg.run(marts_db.engine, sql)
        assert result.rows, f"explore {explore['name']}: no rows"


def test_drill_fields_and_sets_resolve(model: Model) -> None:
    for view in model.views.values():
        for name, fields in view.sets.items():
            for f in fields:
                v, _, fname = f.rpartition(".")
                assert fname in model.views[v or view.name].fields, f"set {view.name}.{name}: {f}"
        for f in view.fields.values():
            for d in f.spec.get("drill_fields", []):
                if d.endswith("*"):
                    assert d[:-1] in view.sets, f"{f.ref}: drill set {d} is not defined"
                else:
                    v, _, fname = d.rpartition(".")
                    assert fname in model.views[v or view.name].fields, f"{f.ref}: drill {d}"
        drilled = [
            f for f in view.fields.values() if f.kind == "measure" and f.spec.get("drill_fields")
        ]
        assert drilled, f"{view.name}: measures drill somewhere"


# --- tenant scoping -------------------------------------------------------------------------


def test_tenant_is_a_dimension_everywhere_and_every_explore_is_filtered(model: Model) -> None:
    for view in model.views.values():
        tenant = view.fields.get("tenant_id")
        assert tenant is not None and tenant.type == "string", f"{view.name}: tenant_id dimension"
    for explore in model.explores:
        base = explore.get("view_name", explore["name"])
        filters = explore.get("access_filters", [])
        assert filters == [{"field": f"{base}.tenant_id", "user_attribute": TENANT_ATTRIBUTE}], (
            f"explore {explore['name']}: access filter on {base}.tenant_id"
        )


def test_access_filter_values_scope_rows(
    marts_db: DbtDatabase, seeded: BiSeed, model: Model, renderer: SqlRenderer
) -> None:
    """The user attribute as Looker applies it: one tenant's id, or `%` (LIKE) for staff."""
    tenant = str(seeded.main.tenant_id)
    for explore in model.explores:
        base = model.views[explore.get("view_name", explore["name"])]
        tenant_sql = renderer.dimension(base.fields["tenant_id"])
        frm = renderer.explore_from(explore)
        total = pg.run(marts_db.engine, f"SELECT count(*) {frm}").rows[0][0]
        scoped = pg.run(
            marts_db.engine,
            f"SELECT count(*), count(DISTINCT {tenant_sql}) {frm} WHERE {tenant_sql} = '{tenant}'",
        ).rows[0]
        everyone = pg.run(
            marts_db.engine, f"SELECT count(*) {frm} WHERE {tenant_sql} LIKE '%'"
        ).rows[0][0]
        assert 0 < scoped[0] < total and scoped[1] == 1, f"explore {explore['name']}"
        assert everyone == total


def test_datagroup_trigger_runs(marts_db: DbtDatabase, model: Model) -> None:
    (group,) = model.spec["datagroups"]
    assert model.spec["persist_with"] == group["name"]
    value = pg.run(marts_db.engine, group["sql_trigger"]).rows[0][0]
    assert value is not None


def test_calibrations_view_reads_the_mart(marts_db: DbtDatabase, model: Model) -> None:
    """BI reads the calibrations through the dbt mart, not the pipeline's operational tables."""
    view = model.views["item_calibrations"]
    assert pg.table_columns(marts_db.engine, "marts.item_calibrations") is not None
    assert (view.sql_table_name or "").strip() == "marts.item_calibrations"
    assert not view.derived_sql
    for v in model.views.values():
        sql = " ".join([v.sql_table_name or "", v.derived_sql or ""])
        assert "item_parameter" not in sql, f"view {v.name} reads the pipeline's tables"
