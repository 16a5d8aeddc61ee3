"""The BI that reads the marts, as external assets downstream of them in the one Dagster graph.

- Looker: `dagster-looker`'s LookML-project loader (`build_looker_asset_specs`) over `looker/`:
  one asset per view (depending on the table in its `sql_table_name` or derived SQL) and per
  explore (depending on its views), keyed `looker/view/<name>` and `looker/explore/<name>`.
- Metabase: one asset per card of the provisioning definitions (`metabase/cards.py`), depending
  on the tables its native SQL reads (parsed with sqlglot), and one for the dashboard, depending
  on its cards: `metabase/card/<key>`, `metabase/dashboard/qbank_overview`.

Nothing here materializes: the BI tools query the marts themselves. A table is keyed
`<schema>/<table>`, which is how the dbt marts are keyed (`marts/fact_responses`), so a view or
card that reads a table no asset produces shows up as a dangling dependency (tests check none
does).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import sqlglot
from dagster_looker import DagsterLookerLkmlTranslator, build_looker_asset_specs
from sqlglot import exp

from metabase.cards import CARDS, DASHBOARD, CardSpec
from qbank.settings import PROJECT_ROOT

LOOKER_PROJECT_DIR = PROJECT_ROOT / "looker"
BI_GROUP = "bi"
DASHBOARD_KEY = dg.AssetKey(["metabase", "dashboard", "qbank_overview"])

# Metabase's native-query syntax around plain SQL: `[[ optional clause ]]` and `{{variable}}`.
_OPTIONAL = re.compile(r"\[\[(.*?)\]\]", re.S)
_VARIABLE = re.compile(r"\{\{\s*\w+\s*\}\}")


class QBankLookerTranslator(DagsterLookerLkmlTranslator):
    """Looker views and explores under `looker/`, in the `bi` group; tables keep the default
    `<schema>/<table>` key, which is the dbt asset's key for a mart."""

    def get_asset_spec(self, lookml_structure: tuple[Path, str, Mapping[str, Any]]) -> dg.AssetSpec:
        spec = super().get_asset_spec(lookml_structure)
        _, kind, props = lookml_structure
        if kind == "table":
            return spec
        return spec.replace_attributes(
            key=dg.AssetKey(["looker", *spec.key.path]),
            group_name=BI_GROUP,
            kinds={"looker"},
            description=props.get("description") or spec.description,
        )


def looker_specs(project_dir: Path = LOOKER_PROJECT_DIR) -> list[dg.AssetSpec]:
    return list(
        build_looker_asset_specs(
            project_dir=project_dir, dagster_looker_translator=QBankLookerTranslator()
        )
    )


def tables_read(sql: str) -> set[tuple[str, str]]:
    """(schema, table) of every table a Metabase native query reads; CTE names excluded. An
    unqualified table gives schema ''."""
    plain = _VARIABLE.sub("'x'", _OPTIONAL.sub(r"\1", sql))
    tree = sqlglot.parse_one(plain, dialect="postgres")
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    return {(t.db, t.name) for t in tree.find_all(exp.Table) if t.db or t.name not in ctes}


def card_spec(card: CardSpec) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=dg.AssetKey(["metabase", "card", card.key]),
        deps=sorted(dg.AssetKey([s, t] if s else [t]) for s, t in tables_read(card.sql)),
        description=f"Metabase card “{card.name}”: {card.description}",
        group_name=BI_GROUP,
        kinds={"metabase"},
        metadata={"sql": dg.MetadataValue.md(f"```sql\n{card.sql}\n```")},
    )


def metabase_specs() -> list[dg.AssetSpec]:
    cards = [card_spec(c) for c in CARDS]
    dashboard = dg.AssetSpec(
        key=DASHBOARD_KEY,
        deps=[c.key for c in cards if c.key.path[-1] in {d.key for d in DASHBOARD.cards}],
        description=f"Metabase dashboard “{DASHBOARD.name}”: {DASHBOARD.description}",
        group_name=BI_GROUP,
        kinds={"metabase"},
    )
    return [*cards, dashboard]


bi_assets = [*looker_specs(), *metabase_specs()]
