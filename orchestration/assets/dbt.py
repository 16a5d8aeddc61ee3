"""The dbt project as assets: staging, snapshots and marts, with raw_events and the content
tables upstream. `dbt build` runs the snapshots too, in the DAG's order: users_snapshot before
fact_responses, which reads the cohort each answer was given in from it."""

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration.project import dbt_project, ensure_manifest

CONTENT_TABLES = (
    "tenants",
    "users",
    "topics",
    "questions",
    "question_versions",
    "question_publications",
)


# Dagster group of each dbt folder (the leading parts of a node's path in the project). A
# node in a folder not listed here is an error at load time, not a silent "staging": a new
# layer gets its group on purpose.
DBT_GROUPS = {
    ("models", "staging"): "staging",
    ("models", "marts"): "marts",
    ("snapshots",): "snapshots",
}


def dbt_group(dbt_resource_props: Mapping[str, Any]) -> str:
    """The group of a dbt node, from the folder it lives in (`DBT_GROUPS`)."""
    path = PurePosixPath(dbt_resource_props["original_file_path"])
    for prefix, group in DBT_GROUPS.items():
        if path.parts[: len(prefix)] == prefix:
            return group
    raise ValueError(
        f"dbt {dbt_resource_props['resource_type']} {dbt_resource_props['unique_id']} lives in "
        f"{path.parent}, a folder with no Dagster group: add it to DBT_GROUPS in "
        "orchestration/assets/dbt.py"
    )


class QBankDbtTranslator(DagsterDbtTranslator):
    """raw.events is the `raw_events` asset; the other tables are `qbank/<table>`; groups
    follow the folders (`DBT_GROUPS`)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            source, table = dbt_resource_props["source_name"], dbt_resource_props["name"]
            if (source, table) == ("raw", "events"):
                return dg.AssetKey("raw_events")
            return dg.AssetKey([source, table])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return None  # the sources are assets of their own (raw_events, content tables)
        return dbt_group(dbt_resource_props)


# The content tables the serving API writes: upstream of staging, not materialized here.
content_tables = [
    dg.AssetSpec(
        key=dg.AssetKey(["qbank", t]),
        group_name="content",
        description=f"public.{t}, written by the serving API (authoring, admin).",
        kinds={"postgres"},
    )
    for t in CONTENT_TABLES
]

# The calibration tables publishing writes (and `qbank params` switches): external assets
# downstream of `published_item_parameters`, upstream of the calibration marts. (One dbt source
# per table: dagster-dbt wants a key per source, so they cannot all be that asset itself.)
PARAMETER_TABLES = {
    "item_parameter_sets": "calibration sets and their status (one active per tenant and exam code)",
    "item_parameters": "a, b, c, SEs, K, n and the anchor flag per set and item version",
    "live_item_parameters": "the view defining the parameters live now (migration 0006)",
}
parameter_tables = [
    dg.AssetSpec(
        key=dg.AssetKey(["qbank", t]),
        deps=["published_item_parameters"],
        group_name="psychometrics",
        description=f"public.{t}: {what}; written by published_item_parameters.",
        kinds={"postgres"},
    )
    for t, what in PARAMETER_TABLES.items()
]

ensure_manifest()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=QBankDbtTranslator(),
    op_tags={"qbank/pipeline": "dbt"},
)
def qbank_dbt_assets(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """`dbt build`: snapshots, models and their tests (reported as asset checks)."""
    yield from dbt.cli(["build"], context=context).stream()
