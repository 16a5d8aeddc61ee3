"""Redis calls that give up fast, for what the API may serve without (counters, throttles).

Each call is bounded by `timeout` as a whole. redis-py connects under its pool lock, so with a
frozen Redis (accepting connections, answering nothing) concurrent calls would otherwise queue
behind each other's socket timeouts: the tenth request waited five seconds. After a failure
Redis is skipped for `cool_down` seconds, then one call at a time probes it until it answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import TypeVar

from redis.exceptions import RedisError

from serving_api.metrics import REDIS_ERRORS

log = logging.getLogger("qbank.redis")
T = TypeVar("T")


class RedisUnavailable(Exception):
    """Redis did not answer (or is being skipped after a recent failure)."""


class RedisGuard:
    def __init__(self, timeout: float = 0.5, cool_down: float = 1.0):
        self.timeout = timeout
        self.cool_down = cool_down
        self._down_until = 0.0  # 0: healthy
        self._probing = False

    @property
    def healthy(self) -> bool:
        return self._down_until == 0.0

    async def call(self, what: str, call: Awaitable[T]) -> T:
        """The result of `call`, or RedisUnavailable (counted in qbank_redis_errors_total)."""
        probe = False
        if self._down_until:
            if self._probing or time.monotonic() < self._down_until:
                _close(call)
                REDIS_ERRORS.inc()
                raise RedisUnavailable(f"{what}: skipped, Redis failed recently")
            probe = self._probing = True
        try:
            result = await asyncio.wait_for(call, self.timeout)
        # RuntimeError: uvloop refuses a write to a transport that closed under a frozen Redis
        # ("unable to perform operation on <TCPTransport closed=True>"), and redis-py passes it
        # on untranslated (seen once in the Redis-outage test: a 500 where a served item was due).
        except (RedisError, OSError, TimeoutError, RuntimeError) as exc:
            REDIS_ERRORS.inc()
            if self.healthy or probe:
                log.warning("redis unavailable", extra={"call": what, "error": repr(exc)})
            self._down_until = time.monotonic() + self.cool_down
            raise RedisUnavailable(f"{what}: {exc!r}") from None
        finally:
            if probe:
                self._probing = False
        if self._down_until:
            log.info("redis answers again", extra={"call": what})
            self._down_until = 0.0
        return result


def _close(call: Awaitable) -> None:
    close = getattr(call, "close", None)  # a coroutine never awaited: no "never awaited" warning
    if close is not None:
        close()
