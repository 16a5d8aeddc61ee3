"""Dagster resources, every one built from QBank's one settings object."""

from __future__ import annotations

import os
from functools import cached_property

import dagster as dg
from dagster_dbt import DbtCliResource
from dbt import version as dbt_version
from packaging import version
from pydantic import PrivateAttr
from sqlalchemy import Engine

from orchestration.dbt_env import DBT_EXECUTABLE, export_dbt_env
from orchestration.io_manager import PostgresIOManager
from orchestration.project import dbt_project
from qbank.db import make_engine
from qbank.settings import Settings, get_settings

DATABASE_URL_VAR = "QBANK_DAGSTER_DATABASE_URL"


class QBankSettingsResource(dg.ConfigurableResource):
    """Connection settings shared by the assets: PostgreSQL and the Kafka events topic.

    The database URL (with its password) reaches it as an EnvVar: the config the UI shows names
    the variable, never its value, which Dagster resolves when a run starts.
    """

    database_url: str
    kafka_bootstrap: str
    kafka_topic_events: str
    kafka_consumer_group: str
    ingest_batch_size: int = 5000

    _engine: Engine | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings: Settings) -> QBankSettingsResource:
        return cls(
            database_url=dg.EnvVar(DATABASE_URL_VAR),
            kafka_bootstrap=settings.kafka_bootstrap,
            kafka_topic_events=settings.kafka_topic_events,
            kafka_consumer_group=settings.kafka_consumer_group,
        )

    def settings(self) -> Settings:
        """The settings object the ingestion code expects, with this resource's values."""
        url = self.database_url
        if isinstance(url, dg.EnvVar):  # an instance not initialised by a run (sensor tests)
            url = url.get_value() or get_settings().database_url
        return get_settings().model_copy(
            update={
                "database_url": url,
                "kafka_bootstrap": self.kafka_bootstrap,
                "kafka_topic_events": self.kafka_topic_events,
                "kafka_consumer_group": self.kafka_consumer_group,
            }
        )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._engine = make_engine(self.settings())

    @property
    def engine(self) -> Engine:
        if self._engine is None:  # used outside a run (sensors, tests)
            self._engine = make_engine(self.settings())
        return self._engine

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._engine is not None:
            self._engine.dispose()


class QBankDbtCliResource(DbtCliResource):
    """dagster-dbt's resource, told the dbt version instead of running `dbt --version` (a 3 s
    subprocess that also asks PyPI for the latest release) before every invocation."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(dbt_version.__version__)


def build_resources(settings: Settings | None = None) -> dict[str, object]:
    settings = settings or get_settings()
    # dagster-dbt hands os.environ to dbt; profiles.yml reads the connection from it. The qbank
    # resource reads its URL the same way (an EnvVar), also when the settings derived it. A name
    # of its own, like dbt's QBANK_DBT_*: exporting DATABASE_URL would repoint everything else
    # this process starts (an API subprocess in the tests went to another test's database).
    export_dbt_env(settings)
    os.environ[DATABASE_URL_VAR] = settings.database_url
    return {
        "qbank": QBankSettingsResource.from_settings(settings),
        "dbt": QBankDbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE),
        # Every asset output goes to PostgreSQL, none to a pickle under DAGSTER_HOME.
        "io_manager": PostgresIOManager(database_url=dg.EnvVar(DATABASE_URL_VAR)),
    }
