"""Everything the API process holds open: connection pools, Redis, caches, the NOTIFY listener."""

from __future__ import annotations

import asyncio
import logging

import orjson
import psycopg
import redis.asyncio as aioredis
from psycopg.types.json import set_json_dumps, set_json_loads
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from qbank.db import make_async_engine, make_async_sessionmaker
from qbank.settings import Settings
from serving_api.config import ApiOptions
from serving_api.db_pool import GatedConnectionPool
from serving_api.security import AccountCache, TokenVerifier
from serving_api.services.content import ContentCache
from serving_api.services.delivery import Delivery
from serving_api.services.exam_pool import ExamPoolCache
from serving_api.services.exposure import ExposureCounter
from serving_api.services.login_throttle import LoginThrottle
from serving_api.services.notify import PoolInvalidationListener
from serving_api.services.performance import Performance
from serving_api.services.quiz_cache import QuizStateCache
from serving_api.services.redis_guard import RedisGuard
from serving_api.services.seal_sweep import SealSweep
from serving_api.services.topic_paths import TopicPaths

log = logging.getLogger("qbank.runtime")
RECONNECT_TIMEOUT_S = 3.0


def _dumps(obj) -> bytes:
    return orjson.dumps(obj)


async def _configure(conn: psycopg.AsyncConnection) -> None:
    set_json_loads(orjson.loads, conn)
    set_json_dumps(_dumps, conn)


def redis_client(url: str) -> aioredis.Redis:
    """Short timeouts (Redis holds only what the API can serve without; serving_api.services.
    redis_guard)."""
    return aioredis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


class Runtime:
    """Built by the app factory; opened in the lifespan, closed at shutdown."""

    def __init__(self, settings: Settings, options: ApiOptions):
        self.settings = settings
        self.options = options
        self.conninfo = settings.libpq_url
        # The hot path (delivery) talks to psycopg directly: one statement, one round trip.
        self.pg = GatedConnectionPool(
            self.conninfo,
            min_size=2,
            max_size=options.db_pool_size,
            kwargs={"autocommit": True},
            configure=_configure,
            open=False,
            name="qbank-api",
            timeout=options.db_pool_timeout_s,
            # psycopg_pool retries a lost connection with a doubling delay for up to this long
            # (default 5 min: after a long outage the next try could come a minute after the
            # database is back). Giving up early lets waiting requests start fresh attempts.
            reconnect_timeout=RECONNECT_TIMEOUT_S,
        )
        # Authoring and administration use the ORM.
        self.engine: AsyncEngine = make_async_engine(settings, pool_size=5, max_overflow=5)
        self.sessions: async_sessionmaker = make_async_sessionmaker(self.engine)
        self.redis = redis_client(settings.redis_url)
        self.verifier = TokenVerifier(settings)
        self.password_checks = asyncio.Semaphore(options.password_checks)
        self.accounts = AccountCache(self.pg)
        self.pools = ExamPoolCache(self.pg, options.pool_max_age_s)
        self.topic_paths = TopicPaths()
        self.contents = ContentCache(self.topic_paths)
        self.quiz_states = QuizStateCache(options.quiz_cache_size)
        # One view of Redis's health for everything that can serve without it.
        self.redis_guard = RedisGuard()
        self.exposure = ExposureCounter(
            self.redis, settings.redis_namespace, settings.max_daily_exposures, self.redis_guard
        )
        self.login_throttle = LoginThrottle(
            self.redis,
            settings.redis_namespace,
            self.redis_guard,
            max_per_account=options.login_max_failures,
            max_per_address=options.login_max_failures_per_address,
            lockout_s=options.login_lockout_s,
        )
        self.listener = PoolInvalidationListener(self.conninfo, self.pools)
        self.delivery = Delivery(
            self.pg,
            self.quiz_states,
            self.contents,
            self.pools,
            self.exposure,
            randomesque_k=options.randomesque_k,
        )
        self.seal_sweep = SealSweep(self.delivery, options.seal_sweep_s)
        self.performance = Performance(self.pg, options.performance_refresh_s)

    async def open(self) -> None:
        # Not waiting: the process starts even while the database is away (/ready says so).
        await self.pg.open(wait=False)
        self.listener.start()
        self.seal_sweep.start()

    async def close(self) -> None:
        # Each step is bounded: a dependency that hangs must not keep the process from exiting.
        for name, step in (
            ("seal sweep", self.seal_sweep.stop),
            ("listener", self.listener.stop),
            ("pg pool", lambda: self.pg.close(timeout=3)),
            ("orm engine", self.engine.dispose),
            ("redis", self.redis.aclose),
        ):
            try:
                await asyncio.wait_for(step(), timeout=5)
            except Exception as exc:  # TimeoutError included: log and go on closing the rest
                log.warning("shutdown step failed", extra={"step": name, "error": repr(exc)})
