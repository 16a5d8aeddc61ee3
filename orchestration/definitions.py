"""QBank's Dagster definitions (`workspace.yaml` loads `defs` from here).

The psychometric assets are partitioned by tenant/exam code (`orchestration.partitions`); what
they pass to each other is stored in PostgreSQL (`orchestration.io_manager`), and so is the
instance (`orchestration.instance`).

raw_events ─► dbt staging ─► dbt marts ─► item_calibration ─► exposure_control
                    ▲            │                └──────────────► published_item_parameters
                    │            ▼                                   ├─► cat_simulation_report
                    │     Looker views/explores, Metabase cards       │
                    └──── (external, group bi)  ◄── marts.item_calibrations ◄┘
"""

from __future__ import annotations

import dagster as dg

from orchestration.assets.bi import bi_assets
from orchestration.assets.dbt import content_tables, parameter_tables, qbank_dbt_assets
from orchestration.assets.freshness import freshness_checks
from orchestration.assets.ingestion import raw_events
from orchestration.assets.psychometrics import PSYCHOMETRIC_ASSETS
from orchestration.automation import (
    consumer_lag_sensor,
    exam_code_partitions_sensor,
    ingest_job,
    ingest_schedule,
    marts_job,
    nightly_job,
    nightly_schedule,
    republish_parameter_set_job,
)
from orchestration.resources import build_resources
from qbank.settings import Settings

ASSETS = [raw_events, qbank_dbt_assets, *PSYCHOMETRIC_ASSETS]


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    return dg.Definitions(
        assets=[*content_tables, *parameter_tables, *ASSETS, *bi_assets],
        asset_checks=freshness_checks,
        jobs=[ingest_job, marts_job, nightly_job, republish_parameter_set_job],
        schedules=[ingest_schedule, nightly_schedule],
        sensors=[consumer_lag_sensor, exam_code_partitions_sensor],
        resources=build_resources(settings),
    )


defs = build_definitions()
