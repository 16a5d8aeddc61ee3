"""Every Metabase card's SQL, with its variables filled in as Metabase fills them, runs on the
marts dbt built and returns the columns its visualization uses, with usable types."""

from __future__ import annotations

import re
import uuid

import pytest

from metabase.cards import CARDS, DASHBOARD, GRID_COLUMNS, CardSpec, Variable
from tests.bi import pg
from tests.bi.seed import BiSeed
from tests.support.dbt import DbtDatabase

OPTIONAL = re.compile(r"\[\[(.*?)\]\]", re.S)
TAG = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def render(card: CardSpec, values: dict[str, str]) -> str:
    """Metabase's substitution: an optional `[[...]]` clause stays only when all its variables
    have a value; a text value becomes a quoted literal, a number a number; unset variables
    take their default."""
    variables: dict[str, Variable] = {v.name: v for v in card.variables}
    given = {n: v.default for n, v in variables.items() if v.default is not None} | values

    def literal(name: str) -> str:
        value = given[name]
        if variables[name].type == "number":
            return str(float(value)) if "." in value else str(int(value))
        return "'" + value.replace("'", "''") + "'"

    def optional(m: re.Match[str]) -> str:
        inner = m.group(1)
        return inner if all(n in given for n in TAG.findall(inner)) else ""

    sql = OPTIONAL.sub(optional, card.sql)
    missing = [n for n in TAG.findall(sql) if n not in given]
    assert not missing, f"{card.key}: no value for required {missing}"
    return TAG.sub(lambda m: literal(m.group(1)), sql)


def test_dashboard_definition_is_consistent() -> None:
    DASHBOARD.check()  # tags declared, filters wired, no overlap on the grid
    assert {c.key for c in CARDS} == {
        "accuracy_by_day",
        "cohort_attempts_by_day",
        "hardest_items",
        "item_exposure",
        "calibration_drift",
    }
    assert max(c.place.col + c.place.size_x for c in CARDS) == GRID_COLUMNS
    for c in CARDS:
        assert c.used_columns(), f"{c.key}: the visualization names its columns"
        assert "tenant" in c.dashboard_filters


# Cards read the marts and nothing else (the calibrations too: marts.item_calibrations).
ALLOWED_SOURCES = re.compile(r"marts\.\w+")


def test_cards_read_only_the_marts() -> None:
    for card in CARDS:
        sources = re.findall(r"\b(?:FROM|JOIN)\s+([a-z_]+\.[a-z_]+)", card.sql, re.I)
        assert sources, card.key
        assert all(ALLOWED_SOURCES.fullmatch(s) for s in sources), f"{card.key}: reads {sources}"


def test_render_follows_metabase_rules() -> None:
    card = next(c for c in CARDS if c.key == "hardest_items")
    plain = render(card, {})
    assert "tenant_id" not in plain.split("WHERE", 1)[1] and ">= 10" in plain
    scoped = render(card, {"tenant": "o'k", "min_attempts": "3"})
    assert "= 'o''k'" in scoped and ">= 3" in scoped


def _check_types(card: CardSpec, result: pg.Result) -> list[str]:
    vs = card.visualization_settings
    problems = []
    for m in vs.get("graph.metrics", []):
        if result.type_of(m) not in pg.NUMERIC:
            problems.append(f"metric {m} is not numeric")
    dims = vs.get("graph.dimensions", [])
    if dims and dims[0] == "day" and result.type_of("day") not in pg.DATE:
        problems.append("day is not a date")
    return problems


@pytest.mark.parametrize("card", CARDS, ids=lambda c: c.key)
def test_card_runs_on_the_marts_and_returns_its_columns(
    marts_db: DbtDatabase, seeded: BiSeed, card: CardSpec
) -> None:
    everyone = pg.run(marts_db.engine, render(card, {}))
    assert card.used_columns() <= set(everyone.names), (
        f"{card.key}: visualization uses {sorted(card.used_columns() - set(everyone.names))} "
        f"which the query does not return ({everyone.names})"
    )
    if card.display == "table":
        assert [c["name"] for c in card.visualization_settings["table.columns"]] == everyone.names
    assert not _check_types(card, everyone)
    assert everyone.rows, f"{card.key}: no rows on the seeded history"

    # The dashboard's Tenant filter narrows every card to one tenant.
    for bank in (seeded.main, seeded.other):
        scoped = pg.run(marts_db.engine, render(card, {"tenant": str(bank.tenant_id)}))
        assert scoped.names == everyone.names
        assert 0 < len(scoped.rows) <= len(everyone.rows), f"{card.key}: tenant {bank.exam_code}"
    nobody = pg.run(marts_db.engine, render(card, {"tenant": str(uuid.uuid4())}))
    assert nobody.rows == []


def test_cards_show_the_seeded_facts(marts_db: DbtDatabase, seeded: BiSeed) -> None:
    """Spot checks that the cards compute what their names say."""
    cards = {c.key: c for c in CARDS}
    acc = pg.run(
        marts_db.engine, render(cards["accuracy_by_day"], {"tenant": str(seeded.main.tenant_id)})
    )
    fact = pg.run(
        marts_db.engine,
        f"SELECT (ts AT TIME ZONE 'UTC')::date, count(*), round(100.0 * avg(is_correct::int), 1) "
        f"FROM marts.fact_responses WHERE tenant_id = '{seeded.main.tenant_id}' AND is_scored "
        f"GROUP BY 1 ORDER BY 1",
    )
    assert [tuple(r) for r in acc.rows] == [tuple(r) for r in fact.rows]

    drift = pg.run(
        marts_db.engine, render(cards["calibration_drift"], {"tenant": str(seeded.main.tenant_id)})
    )
    by_set = {r[0].split(" (")[1].rstrip(")"): r for r in drift.rows}
    names = drift.names
    assert by_set["superseded"][names.index("items_compared")] == 0  # the first set has no previous
    assert (
        by_set["active"][names.index("items_compared")] == len(seeded.main.items) - 1
    )  # v2 is new
    assert (
        float(by_set["rejected"][names.index("anchor_drift")])
        > 0.3
        > float(by_set["active"][names.index("anchor_drift")])
    )

    exposure = pg.run(marts_db.engine, render(cards["item_exposure"], {}))
    pct = [float(r[exposure.names.index("exposure_pct")]) for r in exposure.rows]
    assert pct == sorted(pct, reverse=True) and 0 < max(pct) <= 100
