"""QBank's Dagster definitions (`workspace.yaml` loads `defs` from here).

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
from orchestration.assets.ingestion import raw_events
from orchestration.assets.psychometrics import (
    cat_simulation_report,
    exposure_control,
    item_calibration,
    published_item_parameters,
)
from orchestration.automation import (
    consumer_lag_sensor,
    ingest_job,
    ingest_schedule,
    nightly_job,
    nightly_schedule,
    republish_parameter_set_job,
)
from orchestration.resources import build_resources
from qbank.settings import Settings

ASSETS = [
    raw_events,
    qbank_dbt_assets,
    item_calibration,
    exposure_control,
    published_item_parameters,
    cat_simulation_report,
]


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    return dg.Definitions(
        assets=[*content_tables, *parameter_tables, *ASSETS, *bi_assets],
        jobs=[ingest_job, nightly_job, republish_parameter_set_job],
        schedules=[ingest_schedule, nightly_schedule],
        sensors=[consumer_lag_sensor],
        resources=build_resources(settings),
    )


defs = build_definitions()
