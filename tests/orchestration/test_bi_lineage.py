"""BI in the lineage: every Looker view and explore and every Metabase card and the dashboard is
an asset downstream of the marts it reads; none reads a table that no asset produces; the dbt
exposures name the same marts."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from metabase.cards import CARDS
from orchestration.assets.bi import bi_assets, looker_specs, tables_read
from orchestration.project import dbt_project

BI_KEYS = {s.key for s in bi_assets}


def unproduced_reads(graph, specs) -> list[str]:
    """Dependencies of BI assets that nothing in the graph materializes (a table read by a view
    or a card that no dbt model, snapshot or pipeline asset writes)."""
    produced = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    bi = {s.key for s in specs}
    return sorted(
        f"{s.key.to_user_string()} reads {d.asset_key.to_user_string()}"
        for s in specs
        for d in s.deps
        if d.asset_key not in produced and d.asset_key not in bi
    )


def test_every_view_explore_card_and_the_dashboard_is_an_asset(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    looker = {"fact_responses", "cohort_performance", "item_statistics", "topic_performance",
              "item_calibrations"}  # fmt: skip
    assert {f"looker/view/{v}" for v in looker} <= keys
    assert {f"looker/explore/{v}" for v in looker} <= keys
    assert {f"metabase/card/{c.key}" for c in CARDS} <= keys
    assert "metabase/dashboard/qbank_overview" in keys
    for key in BI_KEYS:
        node = graph.get(key)
        assert not node.is_materializable and node.group_name == "bi", key


def test_bi_assets_sit_downstream_of_the_marts_they_read(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    parents = lambda key: {k.to_user_string() for k in graph.get(dg.AssetKey(key)).parent_keys}  # noqa: E731
    assert parents(["looker", "view", "item_calibrations"]) == {"marts/item_calibrations"}
    assert parents(["looker", "view", "fact_responses"]) == {"marts/fact_responses"}
    assert "looker/view/item_statistics" in parents(["looker", "explore", "fact_responses"])
    assert parents(["metabase", "card", "calibration_drift"]) == {"marts/item_calibrations"}
    assert parents(["metabase", "card", "hardest_items"]) == {
        "marts/item_statistics",
        "marts/topic_performance",
    }
    assert parents(["metabase", "dashboard", "qbank_overview"]) == {
        f"metabase/card/{c.key}" for c in CARDS
    }
    # The calibration marts follow publishing (their sources are the tables it writes).
    assert parents(["qbank", "item_parameters"]) == {"published_item_parameters"}
    assert parents(["staging", "stg_qbank__item_parameters"]) == {"qbank/item_parameters"}
    assert "marts/item_calibrations" in parents(["marts", "item_calibration_current"])


def test_no_view_explore_or_card_reads_a_table_no_asset_produces(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    assert unproduced_reads(graph, bi_assets) == []


def test_a_view_or_card_reading_the_pipeline_tables_is_caught(
    defs: dg.Definitions, tmp_path: Path
) -> None:
    """The check above can fail: a LookML view and a card SQL over an operational table."""
    (tmp_path / "views").mkdir()
    (tmp_path / "rogue.model.lkml").write_text(
        'connection: "qbank_marts"\ninclude: "views/*.view.lkml"\nexplore: rogue {}\n'
    )
    (tmp_path / "views" / "rogue.view.lkml").write_text(
        "view: rogue {\n  sql_table_name: public.item_parameters ;;\n"
        "  dimension: b {\n    type: number\n    sql: ${TABLE}.b ;;\n  }\n}\n"
    )
    rogue = looker_specs(tmp_path)
    graph = defs.resolve_asset_graph()
    assert unproduced_reads(graph, rogue) == ["looker/view/rogue reads public/item_parameters"]
    sql = "WITH s AS (SELECT * FROM public.item_parameter_sets) SELECT * FROM s [[WHERE {{t}}]]"
    assert tables_read(sql) == {("public", "item_parameter_sets")}


def test_dbt_exposures_name_the_marts_the_bi_assets_read(dbt_manifest: Path) -> None:
    manifest = json.loads(Path(dbt_project.manifest_path).read_text())
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    models = {
        uid: n["name"] for uid, n in manifest["nodes"].items() if n["resource_type"] == "model"
    }

    def marts_read(specs) -> set[str]:
        by_key = {s.key: s for s in bi_assets}
        out: set[str] = set()
        stack = list(specs)
        while stack:
            for d in stack.pop().deps:
                if d.asset_key in by_key:
                    stack.append(by_key[d.asset_key])
                elif d.asset_key.path[0] == "marts":
                    out.add(d.asset_key.path[-1])
        return out

    explores = {
        "looker_responses": "fact_responses",
        "looker_cohort_performance": "cohort_performance",
        "looker_item_statistics": "item_statistics",
        "looker_topic_performance": "topic_performance",
        "looker_item_calibrations": "item_calibrations",
    }
    spec = {s.key: s for s in bi_assets}
    expected = {
        name: marts_read([spec[dg.AssetKey(["looker", "explore", explore])]])
        for name, explore in explores.items()
    }
    expected["metabase_qbank_overview"] = marts_read(
        [spec[dg.AssetKey(["metabase", "dashboard", "qbank_overview"])]]
    )
    got = {name: {models[u] for u in e["depends_on"]["nodes"]} for name, e in exposures.items()}
    assert got == expected
    assert all(e["description"].strip() for e in exposures.values())


@pytest.mark.parametrize("card", CARDS, ids=lambda c: c.key)
def test_every_card_reads_only_marts(card) -> None:
    assert {schema for schema, _ in tables_read(card.sql)} == {"marts"}
