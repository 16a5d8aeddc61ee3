"""What `dagster dev` and `dagster asset materialize` load: lineage, checks, jobs, schedules,
the lag sensor, and a headless run recorded in the fixed DAGSTER_HOME."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg
import pytest
import yaml
from sqlalchemy import Engine, text

from bench.synthetic import as_messages, create_bank, produce, quiz_events
from orchestration.assets.ingestion import raw_events
from orchestration.automation import LAG_THRESHOLD, consumer_lag_sensor
from orchestration.prepare import install_dagster_home
from qbank.settings import PROJECT_ROOT, Settings


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
    # calibration checks do not block other exam codes: publishing refuses per exam code.
    assert "not_null_fact_responses_exam_code" in blocking
    assert not {"parameter_bounds", "convergence", "linking", "anchor_drift"} & blocking
    assert "realised_exposure" not in blocking
    assert not {"no_new_dead_letters", "every_candidate_published"} & blocking


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
    assert {"raw_events", "published_item_parameters", "cat_simulation_report"} <= nightly_keys


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
    tmp_path, engine: Engine, settings: Settings, dbt_manifest
) -> None:
    """`dagster asset materialize` with DAGSTER_HOME: the UI started on that home sees the run."""
    home = install_dagster_home(settings.model_copy(update={"dagster_home": tmp_path / "home"}))
    limits = yaml.safe_load((home / "dagster.yaml").read_text())["concurrency"]["runs"]
    assert limits["tag_concurrency_limits"] == [{"key": "qbank/pipeline", "limit": 1}]
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "materialize",
         "-m", "orchestration.definitions", "--select", "raw_events",
         "--config-json", '{"execution": {"config": {"in_process": {}}}}'],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("raw_events"))
        assert event is not None
        assert instance.get_run_by_id(event.run_id).is_success
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
