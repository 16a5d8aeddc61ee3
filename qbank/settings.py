"""One settings object for every part of QBank (API, relay, ingestion, Dagster, scripts).

Values come from the environment (or a `.env` file); defaults point at the local stack that
`make up` starts on loopback.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The schema of the configured database that holds the Dagster instance (runs, event logs,
# schedules, sensor ticks, dynamic partitions): dagster-postgres creates its tables there.
DAGSTER_SCHEMA = "dagster"

# Long enough for HS256 (RFC 7518 §3.2 asks for a key of at least 256 bits) so dev tokens are
# valid, and recognisable so production refuses it.
DEV_SECRET = "qbank-dev-secret-change-me-0123456789abcdef"
MIN_SECRET_BYTES = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # No default: the API refuses to start until the deployment says which environment it is
    # (serving_api.main.require_explicit_env). A default of `dev` meant an API started bare
    # signed tokens with the dev secret in this repository and offered mock-login. The CLI,
    # relay, ingestion and Dagster read it only for the prod secret guard, so they run without.
    qbank_env: Literal["dev", "test", "prod"] | None = None

    # Local stack ports (used by `make up` and by the defaults below).
    pg_port: int = Field(55432, alias="QBANK_PG_PORT")
    # QBANK_ANALYTICS=1: `make up` also starts the analytics cluster (scripts/stack.py) on this
    # port, and ANALYTICS_DATABASE_URL defaults to its database `qbank_analytics`.
    analytics_local: bool = Field(False, alias="QBANK_ANALYTICS")
    analytics_pg_port: int = Field(55433, alias="QBANK_ANALYTICS_PG_PORT")
    redis_port: int = Field(56379, alias="QBANK_REDIS_PORT")
    kafka_port: int = Field(59092, alias="QBANK_KAFKA_PORT")
    kafka_controller_port: int = Field(59093, alias="QBANK_KAFKA_CONTROLLER_PORT")
    api_port: int = Field(8000, alias="QBANK_API_PORT")
    dagster_port: int = Field(3000, alias="QBANK_DAGSTER_PORT")

    database_url: str = ""
    # Optional second database for raw/staging/marts (ingestion, dbt, the pipeline's reads).
    # Unset: everything lives in DATABASE_URL, as on one cluster. Set: the content tables reach
    # it by logical replication (`qbank analytics setup`), so the analytics load runs off the
    # serving primary; the API never reads it.
    analytics_database_url: str = ""
    redis_url: str = ""
    redis_namespace: str = "qbank"
    kafka_bootstrap: str = ""
    kafka_topic_events: str = "events.qbank"
    kafka_topic_partitions: int = 6
    kafka_consumer_group: str = "qbank-ingestion"

    app_secret: str = DEV_SECRET
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    jwt_ttl_minutes: int = 12 * 60

    max_daily_exposures: int = 500
    pretest_share: float = Field(0.10, ge=0.0, le=0.5)
    exam_ttl_minutes: int = 120
    cors_origins: list[str] = []
    max_body_bytes: int = 1_000_000

    dagster_home: Path = PROJECT_ROOT / ".local" / "dagster"

    @field_validator("qbank_env", mode="before")
    @classmethod
    def _empty_env_is_unset(cls, v: object) -> object:
        # `QBANK_ENV=` in a shell or .env chooses nothing: treated as unset, not as a typo.
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("app_secret")
    @classmethod
    def _secret_not_empty(cls, v: str) -> str:
        if not v:
            raise ValueError("APP_SECRET must not be empty")
        return v

    @model_validator(mode="after")
    def _fill_defaults_and_guard_prod(self) -> Settings:
        if not self.database_url:
            self.database_url = f"postgresql+psycopg://qbank:qbank@127.0.0.1:{self.pg_port}/qbank"
        if self.analytics_local and not self.analytics_database_url.strip():
            self.analytics_database_url = (
                f"postgresql+psycopg://qbank:qbank@127.0.0.1:{self.analytics_pg_port}"
                "/qbank_analytics"
            )
        if not self.redis_url:
            self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        if not self.kafka_bootstrap:
            self.kafka_bootstrap = f"127.0.0.1:{self.kafka_port}"
        if self.qbank_env == "prod":
            if self.app_secret == DEV_SECRET:
                raise ValueError("QBANK_ENV=prod refuses the default APP_SECRET: set your own")
            if len(self.app_secret.encode()) < MIN_SECRET_BYTES:
                raise ValueError(
                    f"QBANK_ENV=prod needs an APP_SECRET of at least {MIN_SECRET_BYTES} bytes "
                    f"for {self.jwt_algorithm} (RFC 7518 §3.2); got {len(self.app_secret.encode())}"
                )
        return self

    @property
    def sync_database_url(self) -> str:
        """The URL with the psycopg (v3) driver, whatever the user wrote."""
        return normalise_pg_url(self.database_url)

    @property
    def libpq_url(self) -> str:
        """The URL as psycopg's libpq wants it (no SQLAlchemy driver suffix)."""
        return libpq_url(self.database_url)

    @property
    def analytics_separate(self) -> bool:
        """Whether raw/staging/marts live in a database of their own (ANALYTICS_DATABASE_URL)."""
        return bool(self.analytics_database_url.strip())

    @property
    def analytics_url(self) -> str:
        """Where raw/staging/marts live, with the psycopg (v3) driver: ANALYTICS_DATABASE_URL
        when set, else the serving database. Computed, not filled in by the validator, so a copy
        of the settings with another `database_url` (tests, benches) follows it."""
        url = self.analytics_database_url.strip() or self.database_url
        return normalise_pg_url(url)

    @property
    def analytics_libpq_url(self) -> str:
        return libpq_url(self.analytics_url)

    @property
    def dagster_storage_url(self) -> str:
        """Where the Dagster instance lives: the schema `dagster` of the analytics database
        (the serving one when ANALYTICS_DATABASE_URL is unset), as a libpq URL whose
        search_path is that schema, as dagster-postgres wants it. The one place to change when
        the instance moves to another database."""
        url = self.analytics_libpq_url
        sep = "&" if "?" in url else "?"
        return f"{url}{sep}options=-csearch_path%3D{DAGSTER_SCHEMA}"


def libpq_url(database_url: str) -> str:
    """Any PostgreSQL URL (SQLAlchemy driver suffix or not) as a libpq connection URL."""
    return "postgresql://" + normalise_pg_url(database_url).removeprefix("postgresql+psycopg://")


def normalise_pg_url(url: str) -> str:
    for prefix in (
        "postgresql+psycopg2://",
        "postgresql+asyncpg://",
        "postgres://",
        "postgresql://",
    ):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
