"""Jobs, schedules and the consumer-lag sensor: ingest often, calibrate nightly."""

import dagster as dg

from ingestion.consumer import consumer_lag
from orchestration.publishing import PublishRefused, activate_set
from orchestration.resources import QBankSettingsResource

# Runs carrying this tag are limited to one at a time (.local/dagster/dagster.yaml): ingestion
# and dbt builds must not overlap.
PIPELINE_TAG = {"qbank/pipeline": "main"}
# Messages waiting in Kafka that justify an ingest run before the next scheduled one.
LAG_THRESHOLD = 1000

ingest_job = dg.define_asset_job(
    "ingest_job",
    # The snapshots hang off the content tables, not raw_events; fact_responses reads them.
    # External assets downstream (BI, the parameter tables) are not run: `materializable`.
    selection=(
        (
            dg.AssetSelection.assets("raw_events").downstream()
            | dg.AssetSelection.groups("snapshots")
        )
        - dg.AssetSelection.groups("psychometrics")
    ).materializable(),
    description="Kafka → raw tables → dbt staging and marts (with the dbt tests).",
    tags=PIPELINE_TAG,
)

nightly_job = dg.define_asset_job(
    "calibrate_nightly_job",
    selection=dg.AssetSelection.all().materializable(),
    description="Everything: ingest, marts, calibration, exposure control, publishing, report.",
    tags=PIPELINE_TAG,
)

ingest_schedule = dg.ScheduleDefinition(
    name="ingest_every_10_minutes",
    job=ingest_job,
    cron_schedule="*/10 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

nightly_schedule = dg.ScheduleDefinition(
    name="calibrate_nightly",
    job=nightly_job,
    cron_schedule="30 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@dg.sensor(
    job=ingest_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=f"Starts an ingest run when more than {LAG_THRESHOLD} messages wait in Kafka.",
)
def consumer_lag_sensor(context: dg.SensorEvaluationContext, qbank: QBankSettingsResource):
    lag = sum(consumer_lag(qbank.settings()).values())
    if lag <= LAG_THRESHOLD:
        return dg.SkipReason(f"consumer lag {lag} ≤ {LAG_THRESHOLD}")
    running = context.instance.get_run_records(
        dg.RunsFilter(job_name=ingest_job.name, statuses=IN_FLIGHT), limit=1
    )
    if running:
        return dg.SkipReason(f"consumer lag {lag}, but an ingest run is already under way")
    return dg.RunRequest(tags={"qbank/consumer_lag": str(lag)})


class RepublishConfig(dg.Config):
    set_id: int


@dg.op(description="Make an earlier parameter set that passed its checks live again.")
def republish_parameter_set(
    context: dg.OpExecutionContext, config: RepublishConfig, qbank: QBankSettingsResource
) -> None:
    try:
        outcome = activate_set(qbank.serving_engine, config.set_id)
    except PublishRefused as exc:
        raise dg.Failure(str(exc)) from None
    context.log.info(
        f"set {outcome.set_id} is live for {outcome.tenant_id}/{outcome.exam_code} "
        f"(superseded: {outcome.superseded_set_id})"
    )


@dg.job(description="Roll back (or forward): re-publish an earlier parameter set by id.")
def republish_parameter_set_job():
    republish_parameter_set()
