"""The whole pipeline in-process on the real stack: Kafka → raw → marts, then the exam code's
partition: calibration → exposure → published set (→ what the API serves), then rollback and a
failed check.

The tests of this module share one Dagster instance (PostgreSQL) and run in file order: the
first run publishes a set, rollback adds and swaps sets, and the failed-check test tampers with
the live one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg
import numpy as np
import pandas as pd
import psycopg
import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from sqlalchemy import Engine, text

from bench.synthetic import SynthBank, as_messages, create_bank, produce, quiz_events
from orchestration.assets.dbt import content_tables
from orchestration.assets.freshness import freshness_checks
from orchestration.definitions import ASSETS
from orchestration.publishing import activate_set
from qbank.models import PARAMETER_SET_CHANNEL
from qbank.settings import Settings, libpq_url
from tests.support.pipeline import FAST_CONFIG

PSYCHOMETRICS = ["item_calibration", "exposure_control", "published_item_parameters",
                 "cat_simulation_report"]  # fmt: skip
MALFORMED = [
    (b"q1", b"{not json"),
    (b"q2", b'{"event_type": "quiz_paused", "schema_version": 1}'),
    (b"q3", b'{"event_type": "answer_submitted", "schema_version": 7}'),
]


@dataclass
class FirstRun:
    bank: SynthBank
    n_events: int
    marts: dg.ExecuteInProcessResult  # ingest and dbt, not partitioned
    result: dg.ExecuteInProcessResult  # the exam code's partition
    notifications: list[dict]
    key: str


def _materialize(defs, instance, selection=None, *, raise_on_error=True, partition_key=None):
    ops = FAST_CONFIG["ops"]
    names = PSYCHOMETRICS if selection is None else selection
    run_config = {"ops": {k: v for k, v in ops.items() if k in names}}
    return dg.materialize(
        [*content_tables, *ASSETS],
        resources=defs.resources,
        instance=instance,
        run_config=run_config,
        selection=PSYCHOMETRICS if selection is None else selection,
        partition_key=partition_key or instance.get_dynamic_partitions("exam_codes")[0],
        raise_on_error=raise_on_error,
    )


def _active_set(engine: Engine, bank: SynthBank) -> int | None:
    with engine.connect() as c:
        return c.execute(
            text(
                "SELECT id FROM item_parameter_sets "
                "WHERE tenant_id = :t AND exam_code = :e AND status = 'active'"
            ),
            {"t": bank.tenant_id, "e": bank.exam_code},
        ).scalar()


def _listen(settings: Settings) -> psycopg.Connection:
    conn = psycopg.connect(libpq_url(settings.database_url), autocommit=True)
    conn.execute(f"LISTEN {PARAMETER_SET_CHANNEL}")
    return conn


def _notifications(conn: psycopg.Connection) -> list[dict]:
    return [json.loads(n.payload) for n in conn.notifies(timeout=1.0)]


def _check(result: dg.ExecuteInProcessResult, asset: str, name: str) -> dg.AssetCheckEvaluation:
    evals = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.asset_check_key.name == name
        and e.asset_check_evaluation_data.asset_key.to_user_string() == asset
    ]
    assert len(evals) == 1, (asset, name, len(evals))
    return evals[0]


@pytest.fixture(scope="module")
def psettings(settings: Settings, migrated_db: str) -> Iterator[Settings]:
    """A topic and consumer group of this module alone (other tests produce to the session's)."""
    name = f"{settings.kafka_topic_events}.pipeline"
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    admin.create_topics([NewTopic(name, 3, 1)])
    yield settings.model_copy(
        update={"kafka_topic_events": name, "kafka_consumer_group": f"{name}.loader"}
    )
    try:
        admin.delete_topics([name])
    finally:
        admin.close()


@pytest.fixture(scope="module")
def defs(dbt_manifest, psettings: Settings) -> dg.Definitions:
    from orchestration.definitions import build_definitions

    return build_definitions(psettings)


@pytest.fixture(scope="module")
def first_run(defs, instance, engine: Engine, psettings: Settings) -> FirstRun:
    settings = psettings
    bank = create_bank(engine, n_items=30, n_users=80, cohorts=("am", "pm"), seed=31)
    events = list(
        quiz_events(
            bank,
            n_quizzes=1300,
            items_per_quiz=12,
            adaptive_share=0.2,
            pretest_share=0.1,
            revise_share=0.1,
            seed=32,
        )
    )
    messages = list(as_messages(events))
    messages.insert(100, messages[50])  # a relay re-publishing one event
    messages[2000:2000] = MALFORMED
    produce(settings.kafka_bootstrap, settings.kafka_topic_events, messages)
    listener = _listen(settings)
    marts = dg.materialize(
        [*content_tables, *ASSETS, *freshness_checks],
        resources=defs.resources,
        instance=instance,
        selection=(
            dg.AssetSelection.all() - dg.AssetSelection.groups("psychometrics")
        ).materializable(),
    )
    with engine.connect() as c:
        slug = c.execute(
            text("SELECT slug FROM tenants WHERE id = :t"), {"t": bank.tenant_id}
        ).scalar_one()
    key = f"{slug}/{bank.exam_code}"
    instance.add_dynamic_partitions("exam_codes", [key])
    result = _materialize(defs, instance, partition_key=key)
    notes = _notifications(listener)
    listener.close()
    return FirstRun(bank, len(events), marts, result, notes, key)


def test_events_flow_once_through_marts_into_a_published_set(
    first_run: FirstRun, engine: Engine, psettings: Settings
) -> None:
    bank, marts, result = first_run.bank, first_run.marts, first_run.result
    assert marts.success and result.success

    # Kafka → raw: each event once (the duplicate did not land twice), malformed dead-lettered.
    with engine.connect() as c:
        raw = c.execute(
            text("SELECT count(*), count(DISTINCT event_id) FROM raw.events WHERE tenant_id = :t"),
            {"t": bank.tenant_id},
        ).one()
        dead = c.execute(
            text("SELECT count(*) FROM raw.dead_letters WHERE topic = :t"),
            {"t": psettings.kafka_topic_events},
        ).scalar_one()
    assert tuple(raw) == (first_run.n_events, first_run.n_events)
    assert dead == len(MALFORMED)
    meta = marts.asset_materializations_for_node("raw_events")[0].metadata
    assert meta["loaded"].value == first_run.n_events
    assert (meta["duplicates"].value, meta["dead_lettered"].value) == (1, len(MALFORMED))
    assert meta["consumer_lag"].value == 0
    dead_check = _check(marts, "raw_events", "no_new_dead_letters")
    assert _check(marts, "raw_events", "events_arriving").passed  # they just landed
    assert not dead_check.passed and dead_check.severity == dg.AssetCheckSeverity.WARN

    # dbt: every mart built and every dbt test passed (as asset checks).
    dbt_checks = [
        e.asset_check_evaluation_data
        for e in marts.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.asset_key.path[0] in ("marts", "staging")
    ]
    assert len(dbt_checks) > 60 and all(c.passed for c in dbt_checks)
    with engine.connect() as c:
        fact = c.execute(
            text("SELECT count(*) FROM marts.fact_responses WHERE tenant_id = :t"),
            {"t": bank.tenant_id},
        ).scalar_one()
    assert fact == 1300 * 12

    # Calibration checks passed; the set is live with every item, K from Sympson-Hetter.
    for name in ("parameter_bounds", "convergence", "linking", "anchor_drift"):
        assert _check(result, "item_calibration", name).passed
    set_id = _active_set(engine, bank)
    assert set_id is not None
    with engine.connect() as c:
        params = pd.read_sql(
            text("SELECT * FROM item_parameters WHERE set_id = :s"), c, params={"s": set_id}
        )
        meta_row = c.execute(
            text(
                "SELECT created_by_run, checks_passed, metric FROM item_parameter_sets WHERE id = :s"
            ),
            {"s": set_id},
        ).one()
    assert meta_row == (result.run_id, True, "logistic_D1")
    assert len(params) == len(bank.items)
    truth = pd.DataFrame([vars(i) for i in bank.items]).set_index("question_version_id")
    est = params.set_index("question_version_id").join(truth, rsuffix="_true")
    assert np.corrcoef(est["b"], est["b_true"])[0, 1] > 0.9
    assert np.sqrt(((est["a"] - est["a_true"]) ** 2).mean()) < 0.4
    assert est["k"].between(0, 1).all() and (est["k"] < 1).any()  # 30 items, length 10: capped
    assert est["se_b"].notna().all() and (est["n_respondents"] > 400).all()

    # The API heard about it: NOTIFY with the tenant and exam code, after the commit.
    assert {"tenant_id": str(bank.tenant_id), "exam_code": bank.exam_code, "set_id": set_id} in (
        first_run.notifications
    )

    # A psychometrician's metadata: parameter table, ICCs, test information, exposure, report.
    # (each for this exam code alone: its partition)
    cal = result.asset_materializations_for_node("item_calibration")[0]
    assert cal.partition == first_run.key
    cal_meta = cal.metadata
    assert "ICC" in cal_meta and "data:image/png;base64," in cal_meta["ICC"].value
    assert "test information" in cal_meta and "parameters" in cal_meta
    assert cal_meta["stored_in"].value == "postgres dagster_io.asset_values"  # not a pickle file
    exp_meta = result.asset_materializations_for_node("exposure_control")[0].metadata
    assert "exposure histogram" in exp_meta
    report = result.asset_materializations_for_node("cat_simulation_report")[0].metadata
    ours = report["report"].value
    assert report["set_id"].value == set_id
    assert ours["rmse"] < 0.6 and ours["max_exposure"] <= 1.0


def test_republishing_an_earlier_set_rolls_back(
    first_run: FirstRun, defs, instance, engine: Engine, settings: Settings
) -> None:
    bank = first_run.bank
    first_set = _active_set(engine, bank)
    again = _materialize(defs, instance, PSYCHOMETRICS)
    assert again.success
    second_set = _active_set(engine, bank)
    assert second_set != first_set

    listener = _listen(settings)
    job = defs.resolve_job_def("republish_parameter_set_job")
    rollback = job.execute_in_process(
        run_config={"ops": {"republish_parameter_set": {"config": {"set_id": first_set}}}},
        instance=instance,
        resources=defs.resources,
    )
    assert rollback.success
    assert _active_set(engine, bank) == first_set
    assert {"tenant_id": str(bank.tenant_id), "exam_code": bank.exam_code, "set_id": first_set} in (
        _notifications(listener)
    )
    listener.close()
    with engine.connect() as c:
        status = c.execute(
            text("SELECT status FROM item_parameter_sets WHERE id = :s"), {"s": second_set}
        ).scalar_one()
    assert status == "superseded"


def test_the_api_picks_up_a_newly_activated_set_without_restart(
    first_run: FirstRun, engine: Engine, settings: Settings
) -> None:
    """The serving API's own pool cache and NOTIFY listener: a set activated by the pipeline
    replaces the parameters the API serves, with no restart."""
    from psycopg_pool import AsyncConnectionPool

    from serving_api.services.exam_pool import ExamPoolCache
    from serving_api.services.notify import PoolInvalidationListener

    bank = first_run.bank
    live = _active_set(engine, bank)
    with engine.connect() as c:
        other = c.execute(
            text(
                "SELECT max(id) FROM item_parameter_sets WHERE tenant_id = :t "
                "AND status = 'superseded' AND checks_passed"
            ),
            {"t": bank.tenant_id},
        ).scalar_one()
        params = {
            set_id: pd.read_sql(
                text("SELECT question_version_id, a, k FROM item_parameters WHERE set_id = :s"),
                c,
                params={"s": set_id},
            ).set_index("question_version_id")
            for set_id in (live, other)
        }
    conninfo = libpq_url(settings.database_url)

    async def scenario():
        async with AsyncConnectionPool(conninfo, min_size=1, max_size=2, open=False) as pg:
            cache = ExamPoolCache(pg)
            listener = PoolInvalidationListener(conninfo, cache)
            listener.start()
            await asyncio.wait_for(listener.connected.wait(), 10)
            before = await cache.get(bank.tenant_id, bank.exam_code)
            await asyncio.to_thread(activate_set, engine, other)
            after = before
            for _ in range(100):
                after = await cache.get(bank.tenant_id, bank.exam_code)
                if after.parameter_set_id != before.parameter_set_id:
                    break
                await asyncio.sleep(0.05)
            await listener.stop()
            return before, after

    before, after = asyncio.run(scenario())
    assert (before.parameter_set_id, after.parameter_set_id) == (live, other)
    for pool, set_id in ((before, live), (after, other)):
        assert pool.calibrated.all() and pool.size == len(bank.items)
        expected = params[set_id].loc[pool.version_ids]
        assert np.allclose(pool.a, expected["a"]) and np.allclose(pool.k, expected["k"])
    assert activate_set(engine, live).status == "active"  # put the first set back


def _latest_set(engine: Engine, bank: SynthBank) -> tuple:
    with engine.connect() as c:
        return tuple(
            c.execute(
                text(
                    "SELECT id, status, checks_passed, "
                    "metrics -> 'checks' -> 'linking' ->> 'passed' FROM item_parameter_sets "
                    "WHERE tenant_id = :t ORDER BY id DESC LIMIT 1"
                ),
                {"t": bank.tenant_id},
            ).one()
        )


def _steps(result: dg.ExecuteInProcessResult, event_type: str) -> set[str]:
    return {e.step_key for e in result.all_events if e.event_type_value == event_type}


def test_a_shifted_live_scale_is_linked_not_drift(
    first_run: FirstRun, defs, instance, engine: Engine
) -> None:
    """Every live b moved by +0.8 (as if the live scale sat 0.8 higher): the free re-estimation
    links onto it with B ≈ +0.8, no anchor is dropped, the set goes live and the new items'
    parameters sit on the live scale."""
    bank = first_run.bank
    live = _active_set(engine, bank)
    with engine.begin() as c:
        c.execute(
            text(
                "UPDATE item_parameters SET b = b + 0.8, n_respondents = 1000, se_b = 0.1 "
                "WHERE set_id = :s"
            ),
            {"s": live},
        )
    run = _materialize(defs, instance, PSYCHOMETRICS)
    link = _check(run, "item_calibration", "linking")
    assert link.passed and _check(run, "item_calibration", "anchor_drift").passed
    details = link.metadata["details"].value
    assert details["method"] == "stocking_lord" and details["dropped"] == 0
    assert abs(details["B"] - 0.8) < 0.1 and abs(details["A"] - 1.0) < 0.1
    new = _active_set(engine, bank)
    assert new != live
    with engine.connect() as c:
        metrics = c.execute(
            text("SELECT metrics FROM item_parameter_sets WHERE id = :s"), {"s": new}
        ).scalar_one()
    # every item was an anchor, held at its (shifted) live b: on that scale the same students
    # sit 0.8 higher, which the calibration finds as the latent mean
    assert abs(metrics["latent_mean"] - 0.8) < 0.15 and metrics["n_anchors_dropped"] == 0


def test_a_failed_check_leaves_the_previous_set_live(
    first_run: FirstRun, defs, instance, engine: Engine
) -> None:
    """Half the anchors' live b off by 2.5 (beyond max(0.3, 3·SE): the free re-estimation from
    ~520 responses per item has SE(b) of 0.3-0.5 here): too many drift to tell drift from a broken scale,
    the linking check fails and blocks the partition's publishing (other exam codes are other
    partitions, not held back); the previous set stays live. Publishing the stored calibration
    alone refuses it by the check outcomes stored with it (stored as rejected)."""
    bank = first_run.bank
    live = _active_set(engine, bank)
    with engine.begin() as c:  # well measured live items, half of them far from the data
        c.execute(
            text(
                "UPDATE item_parameters SET n_respondents = 1000, se_b = 0.1, "
                "b = b + CASE WHEN question_version_id % 2 = 0 THEN 2.5 ELSE 0 END "
                "WHERE set_id = :s"
            ),
            {"s": live},
        )
    run = _materialize(defs, instance, PSYCHOMETRICS, raise_on_error=False)
    link = _check(run, "item_calibration", "linking")
    assert not link.passed and link.severity == dg.AssetCheckSeverity.ERROR
    assert "UNSAFE" in link.description and "anchors drifted" in link.description
    warn = _check(run, "item_calibration", "anchor_drift")
    assert not warn.passed and warn.severity == dg.AssetCheckSeverity.WARN
    assert not run.success  # the blocking check failed the run: red in the run list
    assert "published_item_parameters" not in _steps(run, "STEP_START")  # blocked
    assert _active_set(engine, bank) == live
    before = _latest_set(engine, bank)

    # Publishing on its own (from the stored calibration) refuses the set by itself.
    alone = _materialize(defs, instance, ["published_item_parameters"], raise_on_error=False)
    assert "published_item_parameters" in _steps(alone, "STEP_FAILURE")
    assert _active_set(engine, bank) == live
    rejected = _latest_set(engine, bank)
    assert rejected[0] > before[0] and rejected[1:] == ("rejected", False, "false")

    # And a rejected set cannot be re-published.
    job = defs.resolve_job_def("republish_parameter_set_job")
    with engine.connect() as c:
        rejected_id = c.execute(
            text("SELECT max(id) FROM item_parameter_sets WHERE status = 'rejected'")
        ).scalar_one()
    refused = job.execute_in_process(
        run_config={"ops": {"republish_parameter_set": {"config": {"set_id": rejected_id}}}},
        instance=instance,
        resources=defs.resources,
        raise_on_error=False,
    )
    assert not refused.success
    assert _active_set(engine, bank) == live
