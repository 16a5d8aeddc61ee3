"""Knobs of the API process only (the shared ones live in `qbank.settings`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiOptions(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QBANK_API_", extra="ignore")

    db_pool_size: int = Field(16, ge=1, le=200)
    # Seconds a request waits for a database connection while the database is busy, before a
    # 503 (while it is unreachable, requests are refused at once: serving_api.db_pool).
    db_pool_timeout_s: float = Field(10.0, gt=0, le=60)
    log_level: str = "INFO"
    # Password checks (argon2id: 64 MiB, ~0.2 s of CPU) running at once in one API process.
    password_checks: int = Field(1, ge=1, le=16)
    # Failed logins that lock an account (any address) or an address (any account), and for
    # how long after the last failure (serving_api.services.login_throttle).
    login_max_failures: int = Field(5, ge=1)
    login_max_failures_per_address: int = Field(100, ge=1)
    login_lockout_s: float = Field(900.0, gt=0)
    # Randomesque selection among the k most informative items (1 = pure maximum information).
    randomesque_k: int = Field(1, ge=1, le=20)
    # Seconds a cached live pool is trusted without a NOTIFY (a safety net, not the mechanism).
    pool_max_age_s: float = Field(300.0, gt=0)
    # Quiz states kept per process between a student's requests (serving_api.services.
    # quiz_cache); 0 reads every state from PostgreSQL. ~27 KB for a 60-item quiz (its items
    # and θ's posterior on a grid): ~110 MB per process at 4,096 such quizzes.
    quiz_cache_size: int = Field(4096, ge=0)
    # Seconds between two sweeps that seal exams whose time ran out (serving_api.services.
    # seal_sweep); 0 turns the sweep off (reads still seal what they touch).
    seal_sweep_s: float = Field(30.0, ge=0, le=3600)
    # Allocations between two young-generation collections (CPython's default is 700;
    # serving_api.heap says why a serving process wants more).
    gc_gen0_threshold: int = Field(20_000, ge=100)
    # Seconds a large cohort's stored performance distribution is used before a read has it
    # recomputed in the background (serving_api.services.performance).
    performance_refresh_s: float = Field(60.0, gt=0)
    # Log each collection pausing the process ≥ 1 ms (serving_api.heap.trace): a diagnostic.
    gc_trace: bool = False
