"""Jobs, schedules and sensors: ingest often, calibrate each exam code nightly.

The calibration is one run per partition (tenant, exam code) of `calibrate_nightly_job`: the
schedule requests one per partition, `orchestration.nightly.run_nightly` does the same headless.
"""

import dagster as dg

from ingestion.consumer import consumer_lag
from orchestration.assets.psychometrics import CALIBRATION_TAG, PSYCHOMETRIC_ASSETS
from orchestration.partitions import exam_partitions, new_partition_keys
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

# Before the partitions' runs: every asset that is not per exam code, once (ingest, dbt's
# staging views over the content tables, snapshots, marts and their tests).
marts_job = dg.define_asset_job(
    "nightly_marts_job",
    selection=(
        dg.AssetSelection.all() - dg.AssetSelection.groups("psychometrics")
    ).materializable(),
    description="Kafka → raw tables → every dbt model, snapshot and test (not per exam code).",
    tags=PIPELINE_TAG,
)

# Each step in a process of its own (what a Kubernetes or Celery executor does with a pod or a
# worker). forkserver preloading the definitions (10 s to import: dbt manifest, Looker): they
# are loaded once per run process and each step forks from there, not a fresh interpreter each.
nightly_executor = dg.multiprocess_executor.configured(
    {
        "max_concurrent": 2,
        "start_method": {"forkserver": {"preload_modules": ["orchestration.definitions"]}},
    }
)

nightly_job = dg.define_asset_job(
    "calibrate_nightly_job",
    # partitioned by exam_partitions, as its assets are
    selection=dg.AssetSelection.assets(*PSYCHOMETRIC_ASSETS),
    executor_def=nightly_executor,
    description=(
        "One exam code (a partition: tenant/exam code): calibration, exposure control, "
        "publishing, simulation report. A failed blocking check stops this partition only."
    ),
    tags=CALIBRATION_TAG,
)

ingest_schedule = dg.ScheduleDefinition(
    name="ingest_every_10_minutes",
    job=ingest_job,
    cron_schedule="*/10 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


@dg.schedule(
    name="calibrate_nightly",
    job=nightly_job,
    cron_schedule="30 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "One calibration run per exam code (partition). The marts are at most ten minutes old: "
        "ingest_every_10_minutes builds them."
    ),
)
def nightly_schedule(context: dg.ScheduleEvaluationContext):
    keys = context.instance.get_dynamic_partitions(exam_partitions.name)
    if not keys:
        return dg.SkipReason("no exam code has published items yet")
    night = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return [
        dg.RunRequest(run_key=f"{night}/{key}", partition_key=key, tags={"qbank/night": night})
        for key in keys
    ]


@dg.sensor(
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a partition (tenant/exam code) when an exam code gets published items.",
)
def exam_code_partitions_sensor(context: dg.SensorEvaluationContext, qbank: QBankSettingsResource):
    new = new_partition_keys(context.instance, qbank.serving_engine)
    if not new:
        return dg.SkipReason("no new exam code with published items")
    context.log.info(f"new exam codes: {new}")
    return dg.SensorResult(dynamic_partitions_requests=[exam_partitions.build_add_request(new)])


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
