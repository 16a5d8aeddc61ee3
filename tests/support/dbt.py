"""dbt on a database of its own: events loaded through the real loader, dbt run in-process."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dbt.cli.main import dbtRunner, dbtRunnerResult
from sqlalchemy import Engine, create_engine

from ingestion.events import EventEnvelope, serialize_event
from ingestion.raw_loader import Message, RawLoader, prepare_batch
from orchestration.dbt_env import DBT_PROJECT_DIR, dbt_env
from qbank import migrations
from qbank.settings import Settings
from tests.support.databases import RUN_ID, create_database, drop_database


@contextmanager
def env_vars(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class DbtDatabase:
    """A migrated database with a dbt runner pointed at it."""

    name: str
    url: str
    engine: Engine
    settings: Settings
    target_path: Path
    _offset: int = 0

    def dbt(self, *args: str) -> dbtRunnerResult:
        """Invoke dbt in-process (a subprocess costs ~6 s of start-up per call)."""
        cwd = os.getcwd()
        with env_vars(dbt_env(self.settings)):
            os.chdir(DBT_PROJECT_DIR)
            try:
                return dbtRunner().invoke(
                    [*args, "--target-path", str(self.target_path), "--quiet"]
                )
            finally:
                os.chdir(cwd)

    def run_results(self) -> dict[str, str]:
        """unique_id → status of the last invocation."""
        data = json.loads((self.target_path / "run_results.json").read_text())
        return {r["unique_id"]: r["status"] for r in data["results"]}

    def load(self, events: list[EventEnvelope]) -> None:
        """Land events in raw.events exactly as the Kafka consumer would (one batch)."""
        msgs = []
        for e in events:
            msgs.append(Message("dbt-tests", 0, self._offset, e.key, serialize_event(e)))
            self._offset += 1
        with RawLoader(self.url, "dbt-tests") as loader:
            loader.load(prepare_batch(msgs))


def make_dbt_database(tmp_path_factory, settings: Settings, suffix: str) -> Iterator[DbtDatabase]:
    name = f"qbank_test_{RUN_ID}_{suffix}"
    url = create_database(name)
    migrations.upgrade(url)
    engine = create_engine(url)
    yield DbtDatabase(
        name=name,
        url=url,
        engine=engine,
        settings=settings.model_copy(update={"database_url": url}),
        target_path=tmp_path_factory.mktemp(f"dbt-target-{suffix}"),
    )
    engine.dispose()
    drop_database(name)
