"""Partitions per exam code: two tenants, three exam codes, calibrated as a backfill of three
partition runs by two worker processes (`orchestration.nightly`), in a PostgreSQL instance.

Night 1 publishes a set for each exam code. Before night 2 one exam code's live scale is
broken (half its anchors' b off by 2.5): its linking check fails and blocks that partition
only; the other two publish, and the broken one keeps its night-1 set live. Publishing that
stored calibration alone later refuses it from the check outcomes stored with it.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import dagster as dg
import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from sqlalchemy import Engine, text

from bench.synthetic import SynthBank, as_messages, create_bank, produce, quiz_events
from orchestration.assets.dbt import content_tables
from orchestration.automation import exam_code_partitions_sensor
from orchestration.definitions import ASSETS
from orchestration.nightly import NightlyResult, run_nightly
from orchestration.partitions import exam_partitions
from qbank.settings import Settings
from tests.support.pipeline import FAST_CONFIG

OPS = {name: cfg["config"] for name, cfg in FAST_CONFIG["ops"].items()}


def _second_exam_code(engine: Engine, bank: SynthBank, exam_code: str) -> SynthBank:
    """The same tenant's items published under a second exam code."""
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO question_publications (tenant_id, question_id, question_version_id, "
                "exam_code, published_by) SELECT tenant_id, question_id, question_version_id, "
                ":e, published_by FROM question_publications WHERE tenant_id = :t AND "
                "exam_code = :old"
            ),
            {"t": bank.tenant_id, "e": exam_code, "old": bank.exam_code},
        )
    return dataclasses.replace(bank, exam_code=exam_code)


def _slug(engine: Engine, bank: SynthBank) -> str:
    with engine.connect() as c:
        return c.execute(
            text("SELECT slug FROM tenants WHERE id = :t"), {"t": bank.tenant_id}
        ).scalar_one()


def _active(engine: Engine, bank: SynthBank) -> tuple[int, str] | None:
    with engine.connect() as c:
        row = c.execute(
            text(
                "SELECT id, created_by_run FROM item_parameter_sets "
                "WHERE tenant_id = :t AND exam_code = :e AND status = 'active'"
            ),
            {"t": bank.tenant_id, "e": bank.exam_code},
        ).one_or_none()
    return None if row is None else (row[0], row[1])


@pytest.fixture(scope="module")
def psettings(settings: Settings, migrated_db: str) -> Iterator[Settings]:
    name = f"{settings.kafka_topic_events}.partitions"
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    admin.create_topics([NewTopic(name, 3, 1)])
    admin.close()
    yield settings.model_copy(
        update={"kafka_topic_events": name, "kafka_consumer_group": f"{name}.loader"}
    )
    # A fresh client: the broker drops connections idle for 10 minutes, and the module runs longer.
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        admin.delete_topics([name])
    finally:
        admin.close()


@pytest.fixture(scope="module")
def banks(engine: Engine, psettings: Settings, dbt_manifest) -> dict[str, SynthBank]:
    suffix = uuid.uuid4().hex[:6]
    a1 = create_bank(engine, n_items=25, n_users=60, seed=41, slug=f"pa-{suffix}")
    a2 = _second_exam_code(engine, a1, "STEP2")
    b1 = create_bank(engine, n_items=25, n_users=60, seed=42, slug=f"pb-{suffix}")
    messages = []
    for i, bank in enumerate((a1, a2, b1)):
        events = quiz_events(bank, n_quizzes=700, items_per_quiz=10, seed=50 + i)
        messages += list(as_messages(events))
    produce(psettings.kafka_bootstrap, psettings.kafka_topic_events, messages)
    return {f"{_slug(engine, b)}/{b.exam_code}": b for b in (a1, a2, b1)}


@pytest.fixture(scope="module")
def first_night(banks, instance, psettings: Settings) -> NightlyResult:
    return run_nightly(psettings, workers=2, ops=OPS, partitions=list(banks), instance=instance)


def test_the_sensor_adds_a_partition_per_published_exam_code(
    banks, instance, defs: dg.Definitions
) -> None:
    resources = {"qbank": defs.resources["qbank"]}
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        result = exam_code_partitions_sensor(context)
    assert isinstance(result, dg.SensorResult)
    (request,) = result.dynamic_partitions_requests
    assert request.partitions_def_name == exam_partitions.name
    assert set(banks) <= set(request.partition_keys)


def test_a_backfill_of_three_partitions_by_two_workers_publishes_each_set(
    first_night: NightlyResult, banks, instance, engine: Engine
) -> None:
    night = first_night
    assert night.ingest_run_id is not None
    assert set(banks) <= set(night.added_partitions) | set(
        instance.get_dynamic_partitions(exam_partitions.name)
    )
    assert set(night.partitions) == set(banks)
    run_ids = set()
    for key, bank in banks.items():
        outcome = night.partitions[key]
        assert outcome.status == "published", outcome
        active = _active(engine, bank)
        assert active == (outcome.set_id, outcome.run_id)  # the set of that partition's run
        run = instance.get_run_by_id(outcome.run_id)
        assert run.is_success and run.job_name == "calibrate_nightly_job"
        assert run.tags["dagster/partition"] == key
        run_ids.add(outcome.run_id)
    assert len(run_ids) == 3
    # one run per partition, all three in the instance (the UI's run list)
    runs = instance.get_runs(dg.RunsFilter(tags={"qbank/night": night.night}))
    assert {r.tags.get("dagster/partition") for r in runs} >= set(banks)
    # each partition's materialization is recorded for its own key
    for key in banks:
        event = instance.get_latest_materialization_event(dg.AssetKey("published_item_parameters"))
        assert event is not None
        status = instance.get_status_by_partition(
            dg.AssetKey("published_item_parameters"), [key], exam_partitions
        )
        assert status is not None and status[key] is not None


def test_a_failed_linking_check_blocks_only_its_own_partition(
    first_night: NightlyResult, banks, instance, engine: Engine, psettings: Settings, defs
) -> None:
    keys = list(banks)
    broken_key = keys[1]  # tenant A, STEP2
    broken = banks[broken_key]
    before = {k: _active(engine, b) for k, b in banks.items()}
    with engine.begin() as c:  # well-measured live items, half of them far from the data
        c.execute(
            text(
                "UPDATE item_parameters SET n_respondents = 1000, se_b = 0.1, "
                "b = b + CASE WHEN question_version_id % 2 = 0 THEN 2.5 ELSE 0 END "
                "WHERE set_id = :s"
            ),
            {"s": before[broken_key][0]},
        )
    night = run_nightly(
        psettings, workers=2, ops=OPS, partitions=keys, ingest=False, instance=instance
    )
    failed = night.partitions[broken_key]
    assert failed.status == "blocked" and "linking" in failed.failed_checks, failed
    assert _active(engine, broken) == before[broken_key]  # the previous set stays live
    assert not instance.get_run_by_id(failed.run_id).is_success  # red in the run list
    for key in keys:
        if key == broken_key:
            continue
        outcome = night.partitions[key]
        assert outcome.status == "published", outcome
        assert _active(engine, banks[key]) == (outcome.set_id, outcome.run_id)
        assert outcome.set_id != before[key][0]
    # The check's failure is recorded against that partition.
    check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("item_calibration"), "linking")]
    )
    assert check  # the latest of the three runs; each run's own evaluation is below
    evaluations = [
        e.asset_check_evaluation
        for e in instance.all_logs(
            failed.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        )
    ]
    linking = [e for e in evaluations if e.check_name == "linking"]
    assert linking and not linking[0].passed and linking[0].partition == broken_key
    assert linking[0].severity == dg.AssetCheckSeverity.ERROR
    assert not any(
        e.step_key == "published_item_parameters"
        for e in instance.all_logs(failed.run_id, of_type=dg.DagsterEventType.STEP_START)
    )

    # Publishing the stored calibration alone refuses it by the outcomes stored with it (no
    # second evaluation): stored as rejected, the previous set still live, the step failed.
    alone = dg.materialize(
        [*content_tables, *ASSETS],
        selection=["published_item_parameters"],
        partition_key=broken_key,
        resources=defs.resources,
        instance=instance,
        raise_on_error=False,
    )
    assert not alone.success
    assert _active(engine, broken) == before[broken_key]
    with engine.connect() as c:
        latest = c.execute(
            text(
                "SELECT status, checks_passed, metrics -> 'checks' -> 'linking' ->> 'passed' "
                "FROM item_parameter_sets WHERE tenant_id = :t AND exam_code = :e "
                "ORDER BY id DESC LIMIT 1"
            ),
            {"t": broken.tenant_id, "e": broken.exam_code},
        ).one()
    assert tuple(latest) == ("rejected", False, "false")
