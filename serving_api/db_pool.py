"""The API's PostgreSQL pool: psycopg's, plus a gate that fails requests at once while the
database is unreachable.

A busy pool should make a request wait (up to `timeout`, 10 s by default): a burst of load is
not an outage. An unreachable database should not: every request would wait the whole timeout
for a connection the pool cannot make. So after a connection-level failure (a connection found
broken, or the pool's wait over) the gate closes and the next request probes with a fresh
connection while the others wait for its verdict: if it connects, the pool's idle connections
are checked (dead ones replaced) and the gate opens again (a transient failure costs one
connect); if not, requests are refused with `DatabaseUnreachable`
(a 503) without waiting, and one request a second probes again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

log = logging.getLogger("qbank.db")


class DatabaseUnreachable(psycopg.OperationalError):
    """Refused without trying: PostgreSQL was unreachable a moment ago."""


class GatedConnectionPool(AsyncConnectionPool):
    PROBE_INTERVAL_S = 1.0
    PROBE_TIMEOUT_S = 2

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._down_since: float | None = None
        self._next_probe = 0.0
        self._probe_lock = asyncio.Lock()
        self._gate_closed = asyncio.Event()

    @property
    def reachable(self) -> bool:
        return self._down_since is None

    async def getconn(self, timeout: float | None = None):
        if self._down_since is not None:
            await self._gate()
        elif self._pool and not self._waiting:
            # An idle connection is there and nobody queues for it: handed over without
            # waiting, so there is no wait for the gate to cut short (psycopg_pool's idle
            # deque and wait queue; the version is pinned in constraints.txt).
            return await super().getconn(timeout)
        # Wait for a connection, or for the gate to close meanwhile: the requests already
        # queued when the database goes away are refused too, not kept for the whole timeout.
        # (psycopg_pool gives no connection to a cancelled waiter.)
        waiting = asyncio.ensure_future(super().getconn(timeout))
        closing = asyncio.ensure_future(self._gate_closed.wait())
        try:
            await asyncio.wait({waiting, closing}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the request itself is cancelled: lose no connection
            closing.cancel()
            waiting.cancel()
            with contextlib.suppress(BaseException):
                await self.putconn(await waiting)
            raise
        closing.cancel()
        if not waiting.done():
            waiting.cancel()
        try:
            return await waiting
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():
                raise
            raise DatabaseUnreachable("database unreachable (refused while waiting)") from None

    @asynccontextmanager
    async def connection(self, timeout: float | None = None) -> AsyncIterator:
        conn = None
        try:
            async with super().connection(timeout) as conn:
                yield conn
        except psycopg.OperationalError as exc:
            if isinstance(exc, PoolTimeout) or (conn is not None and conn.broken):
                self._close_gate(exc)
            raise

    async def _gate(self) -> None:
        async with self._probe_lock:  # one probe at a time; the others wait for its verdict
            if self._down_since is None:
                return
            if time.monotonic() < self._next_probe:
                raise DatabaseUnreachable("database unreachable (refused without trying)")
            try:
                probe = await psycopg.AsyncConnection.connect(
                    self.conninfo, connect_timeout=self.PROBE_TIMEOUT_S
                )
                await probe.close()
            except psycopg.Error as exc:
                self._next_probe = time.monotonic() + self.PROBE_INTERVAL_S
                raise DatabaseUnreachable(f"database unreachable: {exc}") from None
            # Connections idle in the pool since before the outage are dead: drop them now
            # rather than fail the requests that would draw them.
            await self.check()
            log.info(
                "database reachable again",
                extra={"down_s": round(time.monotonic() - self._down_since, 1)},
            )
            self._down_since = None
            self._gate_closed.clear()

    def _close_gate(self, exc: Exception) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            self._next_probe = 0.0  # the next request probes at once
            self._gate_closed.set()
            log.warning(
                "database connection failed: probing before serving again",
                extra={"error": f"{type(exc).__name__}: {exc}"},
            )
