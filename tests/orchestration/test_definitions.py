"""What `dagster dev` and `dagster asset materialize` load: lineage, checks, jobs, schedules,
the lag sensor, and a headless run recorded in the fixed DAGSTER_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import yaml
from sqlalchemy import Engine, text

from bench.synthetic import as_messages, create_bank, produce, quiz_events
from orchestration.assets.dbt import dbt_group
from orchestration.assets.freshness import judge_freshness, source_freshness
from orchestration.assets.ingestion import raw_events
from orchestration.automation import LAG_THRESHOLD, consumer_lag_sensor
from orchestration.instance import STORAGE_URL_VAR, dagster_env
from orchestration.partitions import exam_partitions
from orchestration.prepare import install_dagster_home
from qbank.settings import DAGSTER_SCHEMA, PROJECT_ROOT, Settings


def test_lineage_runs_from_kafka_to_the_published_set(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    parents = lambda key: {k.to_user_string() for k in graph.get(dg.AssetKey(key)).parent_keys}  # noqa: E731
    assert "raw_events" in parents(["staging", "stg_events__answer_submitted"])
    assert "qbank/users" in parents(["staging", "stg_qbank__users"])
    assert {"staging/stg_events__answer_submitted", "snapshots/users_snapshot"} <= parents(
        ["marts", "fact_responses"]
    )
    # Cohort as of the answer: the users snapshot (from the content table) feeds the fact.
    assert parents(["snapshots", "users_snapshot"]) == {"staging/stg_qbank__users"}
    assert parents("item_calibration") == {"marts/fact_responses"}
    # the traffic it simulates and the realised exposure it checks come from the marts
    assert parents("exposure_control") == {
        "item_calibration",
        "marts/fact_responses",
        "staging/stg_events__quiz_started",
    }
    assert parents("published_item_parameters") == {"item_calibration", "exposure_control"}
    assert parents("cat_simulation_report") == {"published_item_parameters"}
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    for name in ("parameter_bounds", "convergence", "linking", "anchor_drift"):
        assert ("item_calibration", name) in checks
    assert ("exposure_control", "realised_exposure") in checks
    assert ("raw_events", "events_arriving") in checks  # dbt's source freshness
    marts = {"fact_responses", "cohort_performance", "item_statistics", "topic_performance"}
    assert marts <= {a.split("/")[1] for a, _ in checks if a.startswith("marts/")}
    blocking = {
        k.name
        for a in defs.assets
        if isinstance(a, dg.AssetsDefinition)
        for k, spec in ((s.key, s) for s in a.check_specs)
        if spec.blocking
    }
    # A failing dbt test stops the later steps (dagster-dbt: the marts are shared by everyone);
    # a calibration's bounds, convergence and linking checks block its own partition's
    # publishing (one exam code: other exam codes are other runs); drift alone warns.
    assert "not_null_fact_responses_exam_code" in blocking
    assert {"parameter_bounds", "convergence", "linking"} <= blocking
    assert "anchor_drift" not in blocking
    assert "realised_exposure" not in blocking
    assert "no_new_dead_letters" not in blocking
    psychometric = [graph.get(dg.AssetKey(k)) for k in ("item_calibration", "exposure_control",
                    "published_item_parameters", "cat_simulation_report")]  # fmt: skip
    assert {a.partitions_def for a in psychometric} == {exam_partitions}
    assert graph.get(dg.AssetKey("raw_events")).partitions_def is None


def test_dbt_groups_follow_the_folders_with_no_fallback() -> None:
    node = {"resource_type": "model", "unique_id": "model.dbt_qbank.x"}
    assert dbt_group({**node, "original_file_path": "models/staging/raw/x.sql"}) == "staging"
    assert dbt_group({**node, "original_file_path": "models/marts/x.sql"}) == "marts"
    assert dbt_group({**node, "original_file_path": "snapshots/_x.yml"}) == "snapshots"
    with pytest.raises(ValueError, match="models/finance.*DBT_GROUPS"):
        dbt_group({**node, "original_file_path": "models/finance/revenue.sql"})


def test_events_freshness_uses_dbts_thresholds_and_warns_when_events_stop() -> None:
    field, warn, error = source_freshness()  # from dbt_qbank/models/staging/raw/_raw__sources.yml
    assert (field, warn, error) == ("ingested_at", timedelta(hours=6), timedelta(hours=24))
    now = datetime.now(UTC)
    fresh = judge_freshness(now, timedelta(minutes=5), warn, error, {})
    assert fresh.passed
    quiet = judge_freshness(now, timedelta(hours=7), warn, error, {})
    assert not quiet.passed and quiet.severity == dg.AssetCheckSeverity.WARN
    stopped = judge_freshness(now, timedelta(days=2), warn, error, {})
    assert not stopped.passed and stopped.severity == dg.AssetCheckSeverity.ERROR
    never = judge_freshness(None, None, warn, error, {})
    assert not never.passed and "no event" in never.description


def test_schedules_ingest_often_and_calibrate_nightly(defs: dg.Definitions) -> None:
    schedules = {s.name: s for s in defs.schedules}
    assert schedules["ingest_every_10_minutes"].cron_schedule == "*/10 * * * *"
    assert schedules["calibrate_nightly"].cron_schedule == "30 2 * * *"
    ingest = defs.resolve_job_def("ingest_job")
    nightly = defs.resolve_job_def("calibrate_nightly_job")
    ingest_keys = {k.to_user_string() for k in ingest.asset_layer.executable_asset_keys}
    assert "raw_events" in ingest_keys and "marts/fact_responses" in ingest_keys
    assert "snapshots/users_snapshot" in ingest_keys  # dbt build runs it before the fact
    assert "item_calibration" not in ingest_keys
    nightly_keys = {k.to_user_string() for k in nightly.asset_layer.executable_asset_keys}
    assert nightly_keys == {"item_calibration", "exposure_control", "published_item_parameters",
                            "cat_simulation_report"}  # fmt: skip
    assert nightly.partitions_def == exam_partitions
    assert nightly.executor_def.name == "multiprocess"  # each step a process of its own
    marts = defs.resolve_job_def("nightly_marts_job")
    marts_keys = {k.to_user_string() for k in marts.asset_layer.executable_asset_keys}
    assert {"raw_events", "staging/stg_qbank__users", "marts/fact_responses"} <= marts_keys
    assert "item_calibration" not in marts_keys

    # The schedule asks for one run per partition (exam code) the instance knows.
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(exam_partitions.name, ["acme/STEP1", "acme/STEP2"])
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2026, 3, 1, 2, 30, tzinfo=UTC),
            repository_def=defs.get_repository_def(),
        )
        requests = schedules["calibrate_nightly"].evaluate_tick(context).run_requests
    assert sorted(r.partition_key for r in requests) == ["acme/STEP1", "acme/STEP2"]
    assert {r.run_key for r in requests} == {"2026-03-01/acme/STEP1", "2026-03-01/acme/STEP2"}


def test_lag_sensor_requests_an_ingest_run_when_kafka_runs_ahead(
    defs: dg.Definitions, engine: Engine, settings: Settings
) -> None:
    resources = {"qbank": defs.resources["qbank"]}
    with dg.instance_for_test() as instance:
        # Load whatever earlier tests left in the topic, so the lag is ours alone.
        dg.materialize([raw_events], resources=defs.resources, instance=instance)
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            assert isinstance(consumer_lag_sensor(context), dg.SkipReason)

        bank = create_bank(engine, n_items=3, n_users=2, exam_code="LAG")
        events = []
        while len(events) <= LAG_THRESHOLD:
            events += quiz_events(bank, n_quizzes=20, items_per_quiz=3, seed=len(events))
        produce(settings.kafka_bootstrap, settings.kafka_topic_events, as_messages(events))

        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            request = consumer_lag_sensor(context)
        assert isinstance(request, dg.RunRequest)
        assert int(request.tags["qbank/consumer_lag"]) == len(events)


@pytest.mark.slow
def test_headless_materialize_is_recorded_in_the_fixed_dagster_home(
    tmp_path, engine: Engine, settings: Settings, dbt_manifest, monkeypatch
) -> None:
    """`dagster asset materialize` with DAGSTER_HOME: the UI started on that home sees the run,
    which lives in PostgreSQL (the schema `dagster` of the database), not in SQLite files."""
    local = settings.model_copy(update={"dagster_home": tmp_path / "home"})
    home = install_dagster_home(local)
    limits = yaml.safe_load((home / "dagster.yaml").read_text())["concurrency"]["runs"]
    assert {"key": "qbank/pipeline", "limit": 1} in limits["tag_concurrency_limits"]
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "materialize",
         "-m", "orchestration.definitions", "--select", "raw_events",
         "--config-json", '{"execution": {"config": {"in_process": {}}}}'],
        cwd=PROJECT_ROOT,
        env={**os.environ, **dagster_env(local)},
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    monkeypatch.setenv(STORAGE_URL_VAR, local.dagster_storage_url)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        event = instance.get_latest_materialization_event(dg.AssetKey("raw_events"))
        assert event is not None
        assert instance.get_run_by_id(event.run_id).is_success
    with engine.connect() as c:
        tables = set(
            c.execute(
                text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
                {"s": DAGSTER_SCHEMA},
            ).scalars()
        )
    assert {"runs", "event_logs", "jobs", "job_ticks", "dynamic_partitions"} <= tables
    sqlite = [p for p in home.rglob("*") if p.suffix == ".db" or p.name.endswith(".sqlite")]
    assert not sqlite, sqlite
    with engine.connect() as c:
        lag_rows = c.execute(text("SELECT count(*) FROM raw.ingestion_offsets")).scalar_one()
    assert lag_rows > 0


def test_resource_config_shown_in_the_ui_carries_no_database_password(
    defs: dg.Definitions, settings: Settings
) -> None:
    from orchestration.resources import QBankSettingsResource

    resource = defs.resources["qbank"]
    assert isinstance(resource, QBankSettingsResource)
    shown = resource._convert_to_config_dictionary()  # what the launchpad and run config hold
    assert shown["database_url"] == {"env": "QBANK_DAGSTER_DATABASE_URL"}
    assert settings.database_url not in str(shown) and settings.libpq_url not in str(shown)
    # The engine still reaches the configured database, through the settings.
    assert resource.settings().database_url == settings.database_url


@pytest.mark.stack  # creates a database of its own
def test_instance_schema_is_made_where_the_instance_lives(settings: Settings) -> None:
    """With a separate analytics database the instance lives there (dagster_storage_url), so
    its schema is created there too, not on the serving database: dagster-postgres then makes
    its tables in it (on a database without the schema: "no schema has been selected")."""
    from orchestration.instance import ensure_instance_schema
    from tests.support.databases import RUN_ID, create_database, drop_database

    name = f"qbank_instance_{RUN_ID}"
    local = settings.model_copy(update={"analytics_database_url": create_database(name)})
    try:
        assert f"/{name}?" in local.dagster_storage_url
        ensure_instance_schema(local)
        overrides = {"storage": {"postgres": {"postgres_url": local.dagster_storage_url}}}
        with dg.instance_for_test(overrides=overrides) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert instance.get_runs() == []
    finally:
        drop_database(name)
