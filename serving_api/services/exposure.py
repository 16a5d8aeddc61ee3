"""Per-item daily exposure counters in Redis: atomic check-and-count in one round trip.

An item is counted when it is actually served: the delivery code calls `try_serve` for the item
it chose, right before recording it, and `release` if recording then fails. The Lua script makes
"below the cap? then count it" one atomic step (no check-then-increment race between servers).
Items found at their cap are remembered in this process (until the day changes, and at most
`remember_s` seconds, so a counter an operator reset is seen again), so selection can exclude
them without asking Redis about the whole pool. Redis holds only what may be lost: when it
is unreachable the cap is not enforced (counted in `qbank_redis_errors_total`) and serving goes on;
calls go through a `RedisGuard`, so a frozen Redis costs a request at most its short timeout.
"""

from __future__ import annotations

import contextlib
import enum
import time
import uuid
from datetime import UTC, datetime

import redis.asyncio as aioredis

from serving_api.services.redis_guard import RedisGuard, RedisUnavailable

# KEYS[1] counter; ARGV[1] cap; ARGV[2] ttl seconds; ARGV[3] "1" to count even at the cap.
# Returns the new count when counted, or -(current count) when refused.
_TRY_SERVE = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) and ARGV[3] ~= '1' then
  return -n
end
n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return n
"""
_RELEASE = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""
TTL_SECONDS = 2 * 24 * 3600


class Served(enum.IntEnum):
    """What `try_serve` did; false only when refused, so it reads as a bool."""

    REFUSED = 0
    COUNTED = 1
    OVER_CAP = 2  # counted beyond the cap (forced): the cap was relaxed for this serve


_SECONDS_PER_DAY = 86400
_day_label: tuple[int, str] = (-1, "")


def today() -> str:
    """The UTC date as YYYYMMDD, formatted once a day (it names every serve's counter key)."""
    global _day_label
    day = int(time.time() // _SECONDS_PER_DAY)
    if day != _day_label[0]:
        _day_label = (day, datetime.fromtimestamp(day * _SECONDS_PER_DAY, UTC).strftime("%Y%m%d"))
    return _day_label[1]


def counter_key(
    namespace: str, tenant_id: uuid.UUID | str, question_id: int | str, day: str
) -> str:
    """The Redis key of one item's exposure count on one day (`*` as question id: a pattern)."""
    return f"{namespace}:exposure:{day}:{tenant_id}:{question_id}"


class ExposureCounter:
    def __init__(
        self,
        client: aioredis.Redis,
        namespace: str,
        cap: int,
        guard: RedisGuard | None = None,
        remember_s: float = 60.0,
    ):
        self._redis = client
        self._guard = guard or RedisGuard()
        self._ns = namespace
        self.cap = cap
        self._try = client.register_script(_TRY_SERVE)
        self._release = client.register_script(_RELEASE)
        self._day = today()
        self._remember_s = remember_s
        self._forget_at = time.monotonic() + remember_s
        self._capped: dict[uuid.UUID, set[int]] = {}

    def key(self, tenant_id: uuid.UUID, question_id: int, day: str | None = None) -> str:
        return counter_key(self._ns, tenant_id, question_id, day or today())

    def capped(self, tenant_id: uuid.UUID) -> set[int]:
        """Question ids of the tenant known to be at today's cap (learned from refusals)."""
        day, now = today(), time.monotonic()
        if day != self._day or now >= self._forget_at:
            self._day = day
            self._forget_at = now + self._remember_s
            self._capped.clear()
        return self._capped.setdefault(tenant_id, set())

    async def try_serve(
        self, tenant_id: uuid.UUID, question_id: int, force: bool = False
    ) -> Served:
        """Count one exposure unless the item is at its cap (always counts when `force`)."""
        try:
            n = await self._guard.call(
                "exposure",
                self._try(
                    keys=[self.key(tenant_id, question_id)],
                    args=[self.cap, TTL_SECONDS, "1" if force else "0"],
                ),
            )
        except RedisUnavailable:
            return Served.COUNTED  # served uncounted: the cap is not enforced while Redis is away
        if int(n) < 0 or (int(n) == 0 and not force):
            self.capped(tenant_id).add(question_id)
            return Served.REFUSED
        if int(n) >= self.cap:
            self.capped(tenant_id).add(question_id)
        return Served.OVER_CAP if int(n) > self.cap else Served.COUNTED

    async def release(self, tenant_id: uuid.UUID, question_id: int) -> None:
        """Undo a count whose serve was not recorded."""
        with contextlib.suppress(RedisUnavailable):
            await self._guard.call(
                "exposure", self._release(keys=[self.key(tenant_id, question_id)])
            )

    async def count(self, tenant_id: uuid.UUID, question_id: int) -> int:
        try:
            value = await self._guard.call(
                "exposure", self._redis.get(self.key(tenant_id, question_id))
            )
        except RedisUnavailable:
            return 0
        return int(value or 0)
