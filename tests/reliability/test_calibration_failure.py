"""A Dagster run that fails mid-calibration, or dies inside the publishing transaction, leaves
the previous published parameter sets live — in the database and in what the API loads — and
the next run publishes normally.

Its own database and topic: two tenants' banks go through the whole pipeline once (Kafka → raw
→ dbt, then per exam code: calibration → exposure → published sets), then:
1. the EM fails on one exam code's partition (in-process): that run fails, the other exam
   code's run publishes;
2. a run is SIGKILLed after the new set was switched active, before COMMIT (a real process);
3. a normal run of each partition.
(Checks that *fail* — linking, bounds — are proven in tests/orchestration/test_pipeline.py.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import dagster as dg
import psycopg
import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from sqlalchemy import Engine, create_engine, text

from bench.synthetic import SynthBank, as_messages, create_bank, produce, quiz_events
from qbank.models import PARAMETER_SET_CHANNEL
from qbank.settings import PROJECT_ROOT, Settings
from tests.orchestration.conftest import dbt_manifest  # noqa: F401  (the fixture)
from tests.reliability.dagster_crash import FAST, PSYCHOMETRICS
from tests.support.banks import migrated_database
from tests.support.dagster import postgres_instance
from tests.support.databases import TEST_DB, drop_database

FAST_OPS = {
    **FAST["ops"],
    "cat_simulation_report": {"config": {"n_simulees": 100, "max_length": 10}},
}
DBT_ENV = ("QBANK_DBT_HOST", "QBANK_DBT_PORT", "QBANK_DBT_USER", "QBANK_DBT_PASSWORD",
           "QBANK_DBT_DBNAME", "DBT_PROFILES_DIR")  # fmt: skip


@dataclass
class Runs:
    """The runs of one step of the test: the marts' (if any) and one per exam code."""

    by_exam: dict[str, dg.ExecuteInProcessResult]

    @property
    def success(self) -> bool:
        return all(r.success for r in self.by_exam.values())

    def asset_materializations_for_node(self, name: str) -> list:
        return [m for r in self.by_exam.values() for m in r.asset_materializations_for_node(name)]


@dataclass
class Pipeline:
    settings: Settings
    engine: Engine
    defs: dg.Definitions
    banks: list[SynthBank]
    env: dict[str, str]
    instance: dg.DagsterInstance

    def partition(self, bank: SynthBank) -> str:
        with self.engine.connect() as c:
            slug = c.execute(
                text("SELECT slug FROM tenants WHERE id = :t"), {"t": bank.tenant_id}
            ).scalar_one()
        return f"{slug}/{bank.exam_code}"

    def materialize(self, selection=None) -> Runs:
        """selection None: the marts, then every exam code's partition; else `selection` of
        every exam code's partition, one run each."""
        from orchestration.assets.dbt import content_tables
        from orchestration.definitions import ASSETS

        assets = [*content_tables, *ASSETS]
        runs = {}
        if selection is None:
            runs["marts"] = dg.materialize(
                assets,
                resources=self.defs.resources,
                instance=self.instance,
                selection=(
                    dg.AssetSelection.all() - dg.AssetSelection.groups("psychometrics")
                ).materializable(),
                raise_on_error=False,
            )
        names = selection or [*PSYCHOMETRICS, "cat_simulation_report"]
        ops = {k: v for k, v in FAST_OPS.items() if k in names}
        for bank in self.banks:
            key = self.partition(bank)
            self.instance.add_dynamic_partitions("exam_codes", [key])
            runs[bank.exam_code] = dg.materialize(
                assets,
                resources=self.defs.resources,
                instance=self.instance,
                selection=names,
                partition_key=key,
                run_config={"ops": ops},
                raise_on_error=False,
            )
        return Runs(runs)

    def sets(self) -> dict[str, list[tuple[int, str]]]:
        """exam code → [(set id, status)] ordered by id."""
        with self.engine.connect() as c:
            rows = c.execute(
                text("SELECT exam_code, id, status FROM item_parameter_sets ORDER BY id")
            ).all()
        out: dict[str, list] = {}
        for exam, set_id, status in rows:
            out.setdefault(exam, []).append((set_id, status))
        return out

    def active(self) -> dict[str, int]:
        return {
            exam: next(i for i, s in rows if s == "active")
            for exam, rows in self.sets().items()
            if any(s == "active" for _i, s in rows)
        }


@pytest.fixture(scope="module")
def pipeline(dbt_manifest, settings: Settings):  # noqa: F811
    from orchestration.definitions import build_definitions

    tag = uuid.uuid4().hex[:8]
    name = f"{TEST_DB}_cal"
    url = migrated_database(name)
    topic = f"{settings.kafka_topic_events}.cal.{tag}"
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    admin.create_topics([NewTopic(topic, 3, 1)])
    ours = settings.model_copy(
        update={
            "database_url": url,
            "kafka_topic_events": topic,
            "kafka_consumer_group": f"cal-{tag}",
        }
    )
    saved = {k: os.environ.get(k) for k in DBT_ENV}
    engine = create_engine(url, pool_pre_ping=True)
    try:
        defs = build_definitions(ours)  # exports dbt's connection for this database
        banks = [
            create_bank(engine, n_items=15, n_users=60, exam_code=f"CAL-{k}", seed=40 + k)
            for k in range(2)
        ]
        for k, bank in enumerate(banks):
            events = quiz_events(bank, n_quizzes=600, items_per_quiz=8, seed=50 + k)
            produce(ours.kafka_bootstrap, topic, as_messages(events))
        env = {
            "DATABASE_URL": url,
            "KAFKA_TOPIC_EVENTS": topic,
            "KAFKA_CONSUMER_GROUP": ours.kafka_consumer_group,
        }
        with postgres_instance(ours, "dagster") as instance:
            yield Pipeline(ours, engine, defs, banks, env, instance)
    finally:
        engine.dispose()
        for k, v in saved.items():  # later tests' dbt talks to their own database again
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        drop_database(name)
        try:
            admin.delete_topics([topic])
        finally:
            admin.close()


def api_pool_set(p: Pipeline, bank: SynthBank) -> tuple[int | None, int]:
    """(parameter set id, calibrated items) of the pool the serving API loads now."""
    from psycopg_pool import AsyncConnectionPool

    from qbank.settings import libpq_url
    from serving_api.services.exam_pool import ExamPoolCache

    async def load():
        conninfo = libpq_url(p.settings.database_url)
        async with AsyncConnectionPool(conninfo, min_size=1, max_size=1, open=False) as pg:
            pool = await ExamPoolCache(pg).get(bank.tenant_id, bank.exam_code)
            return pool.parameter_set_id, int(pool.calibrated.sum())

    return asyncio.run(load())


def wait_for_no_open_transaction(p: Pipeline, timeout: float = 30) -> None:
    """The killed run's backend rolls back once PostgreSQL sees the socket close."""
    db = p.engine.url.database
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with p.engine.connect() as c:
            n = c.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = :d "
                    "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
                ),
                {"d": db},
            ).scalar_one()
        if n == 0:
            return
        time.sleep(0.1)
    raise AssertionError("the killed run's transaction is still open")


def test_a_run_failing_mid_calibration_leaves_the_previous_sets_live(pipeline, monkeypatch):
    from orchestration.assets import psychometrics

    p = pipeline
    first = p.materialize()
    assert first.success
    live = p.active()
    assert set(live) == {"CAL-0", "CAL-1"}, p.sets()
    before = p.sets()

    # 1. The EM blows up on CAL-1's partition; CAL-0 is another run and publishes.
    real = psychometrics.calibrate_pair
    calibrated: list[str] = []

    def em_fails_on_cal_1(engine, tenant_id, exam_code, **kw):
        if exam_code == "CAL-1":
            raise FloatingPointError("EM diverged: non-finite log-likelihood (injected)")
        calibrated.append(exam_code)
        return real(engine, tenant_id, exam_code, **kw)

    monkeypatch.setattr(psychometrics, "calibrate_pair", em_fails_on_cal_1)
    failed = p.materialize(PSYCHOMETRICS)
    monkeypatch.undo()
    assert not failed.success and calibrated == ["CAL-0"]
    assert not failed.by_exam["CAL-1"].success and failed.by_exam["CAL-0"].success
    assert not failed.by_exam["CAL-1"].asset_materializations_for_node("published_item_parameters")
    after = p.sets()
    assert after["CAL-1"] == before["CAL-1"]  # nothing written, nothing switched for CAL-1
    assert p.active()["CAL-0"] > live["CAL-0"]  # the other exam code went live
    live, before = p.active(), after

    # 2. Killed inside the publishing transaction, after switching the active set.
    listener = psycopg.connect(
        p.settings.sync_database_url.replace("+psycopg", ""), autocommit=True
    )
    listener.execute(f"LISTEN {PARAMETER_SET_CHANNEL}")
    crash = subprocess.run(
        [sys.executable, "-m", "tests.reliability.dagster_crash"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **p.env},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert crash.returncode == -signal.SIGKILL, crash.stdout[-2000:] + crash.stderr[-3000:]
    assert "dying before COMMIT" in crash.stdout
    wait_for_no_open_transaction(p)
    assert p.sets() == before  # the new set, its items and the switch rolled back together
    assert not list(listener.notifies(timeout=1.0)), "a NOTIFY escaped the aborted transaction"
    listener.close()
    for bank in p.banks:
        set_id, n_calibrated = api_pool_set(p, bank)
        assert set_id == live[bank.exam_code] and n_calibrated == len(bank.items)

    # 3. The next run publishes normally (no lock or half-state left behind).
    again = p.materialize(PSYCHOMETRICS)
    assert again.success
    now = p.active()
    assert all(now[e] > live[e] for e in live), (live, now)
    for bank in p.banks:
        assert api_pool_set(p, bank)[0] == now[bank.exam_code]
