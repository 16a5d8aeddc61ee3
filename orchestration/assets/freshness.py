"""Source freshness of raw.events as an asset check: warns when events stop arriving.

The thresholds are dbt's (`dbt_qbank/models/staging/raw/_raw__sources.yml`: loaded_at_field,
warn_after, error_after), read from the manifest, so dbt and Dagster cannot disagree. The check
looks at when the last event landed, not at when `raw_events` last ran: the ingest schedule
runs every ten minutes whether or not students answer anything, so a run-based freshness
policy would stay green while the API's outbox relay or Kafka is down.
"""

from __future__ import annotations

import json
from datetime import timedelta

import dagster as dg
from sqlalchemy import text

from orchestration.project import dbt_project
from orchestration.resources import QBankSettingsResource

SOURCE_ID = "source.dbt_qbank.raw.events"
_PERIODS = {"minute": "minutes", "hour": "hours", "day": "days"}


def _delta(rule: dict | None) -> timedelta | None:
    if not rule or rule.get("count") is None:
        return None
    return timedelta(**{_PERIODS[rule["period"]]: rule["count"]})


def source_freshness() -> tuple[str, timedelta, timedelta]:
    """raw.events' loaded_at_field, warn_after and error_after from the dbt manifest."""
    manifest = json.loads(dbt_project.manifest_path.read_text())
    source = manifest["sources"][SOURCE_ID]
    freshness = source.get("freshness") or {}
    warn, error = _delta(freshness.get("warn_after")), _delta(freshness.get("error_after"))
    if source.get("loaded_at_field") is None or warn is None or error is None:
        raise ValueError(
            f"{SOURCE_ID} declares no loaded_at_field/warn_after/error_after in the dbt project: "
            "the events_arriving check has nothing to measure against"
        )
    return source["loaded_at_field"], warn, error


def judge_freshness(
    last, age: timedelta | None, warn: timedelta, error: timedelta, meta: dict
) -> dg.AssetCheckResult:
    """Passed when the newest event is at most `warn` old; WARN beyond, ERROR beyond `error`."""
    if last is None or age is None:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description="no event has ever landed in raw.events",
            metadata=meta,
        )
    stale = age > warn
    return dg.AssetCheckResult(
        passed=not stale,
        severity=dg.AssetCheckSeverity.ERROR if age > error else dg.AssetCheckSeverity.WARN,
        description=(
            f"last event landed {age} ago (warn after {warn}, error after {error})"
            if stale
            else f"last event landed {age} ago, within {warn}"
        ),
        metadata={**meta, "age_hours": round(age.total_seconds() / 3600, 3)},
    )


@dg.asset_check(
    asset="raw_events",
    name="events_arriving",
    description=(
        "dbt's source freshness of raw.events: the newest event landed within warn_after "
        "(WARN beyond it, ERROR beyond error_after; never blocks)."
    ),
)
def events_arriving(qbank: QBankSettingsResource) -> dg.AssetCheckResult:
    field, warn, error = source_freshness()
    with qbank.analytics_engine.connect() as c:
        last, age, now = c.execute(
            text(f"SELECT max({field}), now() - max({field}), now() FROM raw.events")
        ).one()
    meta = {
        "loaded_at_field": field,
        "warn_after_hours": warn.total_seconds() / 3600,
        "error_after_hours": error.total_seconds() / 3600,
        "last_loaded_at": str(last) if last else "never",
        "checked_at": str(now),
    }
    return judge_freshness(last, age, warn, error, meta)


freshness_checks = [events_arriving]
