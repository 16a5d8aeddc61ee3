"""A Dagster run that fails mid-calibration, or dies inside the publishing transaction, leaves
the previous published parameter sets live — in the database and in what the API loads — and
the next run publishes normally.

Its own database and topic: two tenants' banks go through the whole pipeline once (Kafka → raw
→ dbt → calibration → exposure → published sets), then:
1. the EM fails on the second (tenant, exam code) after the first was calibrated (in-process);
2. a run is SIGKILLed after the new set was switched active, before COMMIT (a real process);
3. a normal run.
(Checks that *fail* — drift, bounds — are proven in tests/orchestration/test_pipeline.py.)
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
from tests.support.databases import TEST_DB, drop_database

FAST_OPS = {
    **FAST["ops"],
    "cat_simulation_report": {"config": {"n_simulees": 100, "max_length": 10}},
}
DBT_ENV = ("QBANK_DBT_HOST", "QBANK_DBT_PORT", "QBANK_DBT_USER", "QBANK_DBT_PASSWORD",
           "QBANK_DBT_DBNAME", "DBT_PROFILES_DIR")  # fmt: skip


@dataclass
class Pipeline:
    settings: Settings
    engine: Engine
    defs: dg.Definitions
    banks: list[SynthBank]
    env: dict[str, str]

    def materialize(self, selection=None) -> dg.ExecuteInProcessResult:
        from orchestration.assets.dbt import content_tables
        from orchestration.definitions import ASSETS

        ops = {k: v for k, v in FAST_OPS.items() if selection is None or k in selection}
        return dg.materialize(
            [*content_tables, *ASSETS],
            resources=self.defs.resources,
            selection=selection,
            run_config={"ops": ops},
            raise_on_error=False,
        )

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
        yield Pipeline(ours, engine, defs, banks, env)
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

    # 1. The EM blows up on the second exam code, after the first was calibrated.
    real = psychometrics.calibrate_pair
    calibrated: list[str] = []

    def em_fails_on_the_second(engine, tenant_id, exam_code, **kw):
        if calibrated:
            raise FloatingPointError("EM diverged: non-finite log-likelihood (injected)")
        calibrated.append(exam_code)
        return real(engine, tenant_id, exam_code, **kw)

    monkeypatch.setattr(psychometrics, "calibrate_pair", em_fails_on_the_second)
    failed = p.materialize(PSYCHOMETRICS)
    monkeypatch.undo()
    assert not failed.success and len(calibrated) == 1
    assert not failed.asset_materializations_for_node("published_item_parameters")
    assert p.sets() == before  # nothing written, nothing switched

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
