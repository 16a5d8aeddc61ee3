"""What passes between assets is stored in PostgreSQL, not in local pickles.

The psychometric assets hand Python objects to each other (a calibration with its check
outcomes, the Sympson-Hetter result). Dagster's default I/O manager pickles them into files
under DAGSTER_HOME: a step on another machine (a Kubernetes pod, a Celery worker) would not
find them. This one keeps them in the table `dagster_io.asset_values` of the configured
database, one row per (asset, partition): the latest value, the run that wrote it and when
(the same shape as dagster-aws's S3 pickle I/O manager, on the storage every step already
reaches). Values are pickled: they are read back by the same code version within a night.
"""

from __future__ import annotations

import pickle

import dagster as dg
from pydantic import PrivateAttr
from sqlalchemy import Engine, create_engine, text

from qbank.settings import normalise_pg_url

SCHEMA = "dagster_io"
_DDL = (
    f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"',
    f"CREATE TABLE IF NOT EXISTS {SCHEMA}.asset_values ("
    " asset_key text NOT NULL,"
    " partition_key text NOT NULL DEFAULT '',"
    " run_id text NOT NULL,"
    " stored_at timestamptz NOT NULL DEFAULT now(),"
    " value bytea NOT NULL,"
    " PRIMARY KEY (asset_key, partition_key))",
)


class PostgresIOManager(dg.ConfigurableIOManager):
    """Asset values in `dagster_io.asset_values`, keyed by asset key and partition key."""

    # An EnvVar like the qbank resource's: the UI shows the variable's name, never the password.
    database_url: str

    _engine: Engine | None = PrivateAttr(default=None)
    _ready: bool = PrivateAttr(default=False)

    def _conn_engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(
                normalise_pg_url(self.database_url), pool_size=1, pool_pre_ping=True
            )
        if not self._ready:
            with self._engine.begin() as c:
                # Several step processes may start at once: one creates, the others wait.
                c.execute(text("SELECT pg_advisory_xact_lock(hashtext('qbank.dagster_io'))"))
                for stmt in _DDL:
                    c.execute(text(stmt))
            self._ready = True
        return self._engine

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @staticmethod
    def _where(context: dg.InputContext | dg.OutputContext) -> tuple[str, str]:
        partition = context.asset_partition_key if context.has_asset_partitions else ""
        return context.asset_key.to_user_string(), partition

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        asset_key, partition = self._where(context)
        blob = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        with self._conn_engine().begin() as c:
            c.execute(
                text(
                    f"INSERT INTO {SCHEMA}.asset_values (asset_key, partition_key, run_id, value) "
                    "VALUES (:k, :p, :r, :v) ON CONFLICT (asset_key, partition_key) DO UPDATE "
                    "SET run_id = EXCLUDED.run_id, value = EXCLUDED.value, stored_at = now()"
                ),
                {"k": asset_key, "p": partition, "r": context.run_id, "v": blob},
            )
        context.add_output_metadata(
            {"stored_in": f"postgres {SCHEMA}.asset_values", "bytes": len(blob)}
        )

    def load_input(self, context: dg.InputContext) -> object:
        asset_key, partition = self._where(context)
        with self._conn_engine().connect() as c:
            blob = c.execute(
                text(
                    f"SELECT value FROM {SCHEMA}.asset_values "
                    "WHERE asset_key = :k AND partition_key = :p"
                ),
                {"k": asset_key, "p": partition},
            ).scalar()
        if blob is None:
            where = f" partition {partition!r}" if partition else ""
            raise dg.Failure(
                f"no stored value of {asset_key}{where}: materialize it first "
                f"(values live in {SCHEMA}.asset_values of the configured database)"
            )
        return pickle.loads(blob)
