"""Configuration: defaults point at the local stack; production refuses weak secrets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from qbank.settings import DEV_SECRET, MIN_SECRET_BYTES, Settings


def test_dev_default_secret_is_long_enough_for_hs256():
    assert len(DEV_SECRET.encode()) >= MIN_SECRET_BYTES


def test_defaults_point_at_local_stack(monkeypatch):
    for var in (
        "DATABASE_URL",
        "REDIS_URL",
        "KAFKA_BOOTSTRAP",
        "QBANK_PG_PORT",
        "QBANK_REDIS_PORT",
        "QBANK_KAFKA_PORT",
        "MAX_DAILY_EXPOSURES",
    ):
        monkeypatch.delenv(var, raising=False)
    s = Settings(_env_file=None)
    assert s.database_url.endswith("@127.0.0.1:55432/qbank")
    assert s.redis_url == "redis://127.0.0.1:56379/0"
    assert s.kafka_bootstrap == "127.0.0.1:59092"
    assert s.max_daily_exposures == 500


def test_prod_refuses_default_secret():
    with pytest.raises(ValidationError, match="refuses the default APP_SECRET"):
        Settings(_env_file=None, qbank_env="prod", app_secret=DEV_SECRET)


def test_prod_refuses_short_secret():
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings(_env_file=None, qbank_env="prod", app_secret="x" * 31)


def test_prod_accepts_strong_secret():
    s = Settings(_env_file=None, qbank_env="prod", app_secret="s" * 48)
    assert s.qbank_env == "prod"


def test_driver_normalised_to_psycopg3():
    s = Settings(_env_file=None, database_url="postgresql://u:p@db.example:5432/q")
    assert s.sync_database_url == "postgresql+psycopg://u:p@db.example:5432/q"
