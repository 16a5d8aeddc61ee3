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
from qbank import analytics
from qbank.db import make_engine
from qbank.settings import Settings, get_settings, normalise_pg_url

DATABASE_URL_VAR = "QBANK_DAGSTER_DATABASE_URL"
ANALYTICS_DATABASE_URL_VAR = "QBANK_DAGSTER_ANALYTICS_DATABASE_URL"


class QBankSettingsResource(dg.ConfigurableResource):
    """Connection settings shared by the assets: PostgreSQL and the Kafka events topic.

    Two databases, which are one when ANALYTICS_DATABASE_URL is unset: `analytics_engine`
    (raw, staging, marts and the replicated content tables: what ingestion, dbt and the
    calibration read) and `serving_engine` (the API's primary: parameter sets are written there,
    where the API listens for NOTIFY, and reach the analytics side by replication).

    The database URLs (with their passwords) reach it as EnvVars: the config the UI shows names
    the variables, never their values, which Dagster resolves when a run starts.
    """

    database_url: str
    analytics_database_url: str
    kafka_bootstrap: str
    kafka_topic_events: str
    kafka_consumer_group: str
    ingest_batch_size: int = 5000

    _serving_engine: Engine | None = PrivateAttr(default=None)
    _analytics_engine: Engine | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings: Settings) -> QBankSettingsResource:
        return cls(
            database_url=dg.EnvVar(DATABASE_URL_VAR),
            analytics_database_url=dg.EnvVar(ANALYTICS_DATABASE_URL_VAR),
            kafka_bootstrap=settings.kafka_bootstrap,
            kafka_topic_events=settings.kafka_topic_events,
            kafka_consumer_group=settings.kafka_consumer_group,
        )

    def settings(self) -> Settings:
        """The settings object the ingestion code expects, with this resource's values."""
        url, analytics = self.database_url, self.analytics_database_url
        if isinstance(url, dg.EnvVar):  # an instance not initialised by a run (sensor tests)
            url = url.get_value() or get_settings().database_url
        if isinstance(analytics, dg.EnvVar):
            analytics = analytics.get_value() or url
        return get_settings().model_copy(
            update={
                "database_url": url,
                # Equal URLs mean one database: left unset, as ANALYTICS_DATABASE_URL would be.
                "analytics_database_url": ""
                if normalise_pg_url(analytics) == normalise_pg_url(url)
                else analytics,
                "kafka_bootstrap": self.kafka_bootstrap,
                "kafka_topic_events": self.kafka_topic_events,
                "kafka_consumer_group": self.kafka_consumer_group,
            }
        )

    def _open(self) -> None:
        settings = self.settings()
        self._serving_engine = make_engine(settings)
        self._analytics_engine = (
            make_engine(settings.model_copy(update={"database_url": settings.analytics_url}))
            if settings.analytics_separate
            else self._serving_engine
        )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._open()

    @property
    def analytics_engine(self) -> Engine:
        """raw, staging, marts and the replicated content tables (read them here, never write
        a replicated table: the subscription owns them)."""
        if self._analytics_engine is None:  # used outside a run (sensors, tests)
            self._open()
        assert self._analytics_engine is not None
        return self._analytics_engine

    @property
    def serving_engine(self) -> Engine:
        """The API's database: parameter sets are written and activated here."""
        if self._serving_engine is None:
            self._open()
        assert self._serving_engine is not None
        return self._serving_engine

    def wait_for_replica(self, timeout: float = 60.0) -> float | None:
        """With a separate analytics database: wait until it has applied everything the serving
        one committed so far (events are written after the content they name, so after
        ingestion every question an event names is there); the seconds waited, None with one
        database."""
        settings = self.settings()
        if not settings.analytics_separate:
            return None
        try:
            return analytics.wait_until_caught_up(settings, timeout=timeout)
        except analytics.AnalyticsSetupError as exc:
            raise dg.Failure(str(exc)) from None

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        for engine in {self._serving_engine, self._analytics_engine} - {None}:
            engine.dispose()


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
    os.environ[ANALYTICS_DATABASE_URL_VAR] = (
        settings.analytics_database_url or settings.database_url
    )
    return {
        "qbank": QBankSettingsResource.from_settings(settings),
        "dbt": QBankDbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE),
        # Every asset output goes to PostgreSQL, none to a pickle under DAGSTER_HOME.
        "io_manager": PostgresIOManager(database_url=dg.EnvVar(DATABASE_URL_VAR)),
    }
