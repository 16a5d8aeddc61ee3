"""`raw_events`: Kafka → raw.events / raw.dead_letters, exactly once in effect."""

import dagster as dg

from ingestion.consumer import EventConsumer, consumer_lag
from orchestration.resources import QBankSettingsResource


@dg.asset(
    key="raw_events",
    group_name="ingestion",
    kinds={"kafka", "postgres"},
    description=(
        "Events of the `events.qbank` topic validated against the contract (ingestion/events.py): "
        "valid ones in raw.events (unique on event_id), invalid ones in raw.dead_letters with "
        "their bytes and the reason; offsets stored in the same transaction."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "no_new_dead_letters",
            asset="raw_events",
            description="Warns when this run dead-lettered messages (the run still succeeds).",
        )
    ],
    op_tags={"qbank/pipeline": "ingest"},
)
def raw_events(context: dg.AssetExecutionContext, qbank: QBankSettingsResource):
    settings = qbank.settings()
    report = EventConsumer(settings, batch_size=qbank.ingest_batch_size).run_until_caught_up()
    lag = consumer_lag(settings)
    replica_wait = qbank.wait_for_replica()
    context.log.info(
        f"{report.messages} messages: {report.loaded} loaded, {report.duplicates} duplicates, "
        f"{report.dead_lettered} dead-lettered in {report.seconds:.1f}s"
    )
    yield dg.MaterializeResult(
        metadata={
            "messages": report.messages,
            "loaded": report.loaded,
            "duplicates": report.duplicates,
            "dead_lettered": report.dead_lettered,
            "consumer_lag": sum(lag.values()),
            "lag_by_partition": dg.MetadataValue.json({str(p): n for p, n in lag.items()}),
            "batches": report.batches,
            "events_per_second": round(report.messages / report.seconds, 1)
            if report.seconds
            else 0.0,
            "topic": settings.kafka_topic_events,
            "analytics_database": f"separate (replica caught up in {replica_wait:.2f}s)"
            if replica_wait is not None
            else "the serving database",
        }
    )
    yield dg.AssetCheckResult(
        check_name="no_new_dead_letters",
        passed=report.dead_lettered == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{report.dead_lettered} message(s) dead-lettered; see raw.dead_letters",
        metadata={"dead_lettered": report.dead_lettered},
    )
