"""Failed logins counted per account and per client address; too many lock the login.

An account (by e-mail, known or not, so a lock says nothing about whether it exists) is locked
after `max_per_account` failed logins, an address after `max_per_address` (password spraying),
each for `lockout_s` after its last failure. The lock is checked before the password, so a locked
login costs no argon2 work and tells nothing about the password. A success clears the account's
count. Counts live in Redis, shared by every worker and replica (e-mails only as hashes); while
Redis is away they are kept in this process, so guessing is still slowed.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from serving_api.metrics import LOGIN_REFUSALS
from serving_api.services.redis_guard import RedisGuard, RedisUnavailable

# KEYS: account, address. Returns {account count, its ttl ms, address count, its ttl ms}.
_STATE = """
return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('PTTL', KEYS[1]),
        tonumber(redis.call('GET', KEYS[2]) or '0'), redis.call('PTTL', KEYS[2])}
"""
# KEYS: account, address; ARGV[1]: lockout in ms.
_FAILED = """
for _, key in ipairs(KEYS) do
  redis.call('INCR', key)
  redis.call('PEXPIRE', key, ARGV[1])
end
return 1
"""


@dataclass(frozen=True)
class Refusal:
    detail: str
    retry_after_s: int


class LoginThrottle:
    def __init__(
        self,
        client: aioredis.Redis,
        namespace: str,
        guard: RedisGuard,
        *,
        max_per_account: int,
        max_per_address: int,
        lockout_s: float,
    ):
        self._redis = client
        self._ns = namespace
        self._guard = guard
        self.max_per_account = max_per_account
        self.max_per_address = max_per_address
        self.lockout_s = lockout_s
        self._state = client.register_script(_STATE)
        self._failed = client.register_script(_FAILED)
        self._local: dict[str, tuple[int, float]] = {}  # key → (count, expires at), Redis away

    def _keys(self, email: str, address: str) -> list[str]:
        digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
        return [f"{self._ns}:login:account:{digest}", f"{self._ns}:login:address:{address}"]

    async def refusal(self, email: str, address: str) -> Refusal | None:
        """Why this login may not be tried now, or None."""
        keys = self._keys(email, address)
        try:
            acc, acc_ms, adr, adr_ms = await self._guard.call(
                "login throttle", self._state(keys=keys)
            )
        except RedisUnavailable:
            (acc, acc_ms), (adr, adr_ms) = (self._local_state(k) for k in keys)
        if acc >= self.max_per_account:
            LOGIN_REFUSALS.labels("account").inc()
            return Refusal(self._detail("for this account", acc_ms), self._seconds(acc_ms))
        if adr >= self.max_per_address:
            LOGIN_REFUSALS.labels("address").inc()
            return Refusal(self._detail("from this address", adr_ms), self._seconds(adr_ms))
        return None

    async def failed(self, email: str, address: str) -> None:
        keys = self._keys(email, address)
        try:
            await self._guard.call(
                "login throttle", self._failed(keys=keys, args=[int(self.lockout_s * 1000)])
            )
        except RedisUnavailable:
            now = time.monotonic()
            for key in keys:
                count, _ = self._local_state(key)
                self._local[key] = (count + 1, now + self.lockout_s)
            if len(self._local) > 100_000:
                self._local.clear()

    async def succeeded(self, email: str, address: str) -> None:
        key = self._keys(email, address)[0]
        self._local.pop(key, None)
        with contextlib.suppress(RedisUnavailable):
            await self._guard.call("login throttle", self._redis.delete(key))

    def _local_state(self, key: str) -> tuple[int, int]:
        count, until = self._local.get(key, (0, 0.0))
        left = until - time.monotonic()
        return (count, int(left * 1000)) if left > 0 else (0, -2)

    def _seconds(self, ttl_ms: int) -> int:
        return max(1, math.ceil((ttl_ms if ttl_ms > 0 else self.lockout_s * 1000) / 1000))

    def _detail(self, where: str, ttl_ms: int) -> str:
        return (
            f"too many failed logins {where}: try again in {self._seconds(ttl_ms)} s "
            "(or ask an admin of your tenant to check the account)"
        )
