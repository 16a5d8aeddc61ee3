"""LISTEN for parameter-set activations and publication changes; drop the affected pools.

The pipeline activates a parameter set in one transaction and then sends `NOTIFY` on
`qbank.models.PARAMETER_SET_CHANNEL`; the API's authoring routes send `NOTIFY` on
`PUBLICATION_CHANNEL` in the transaction that moves a publication. Both payloads are JSON
`{"tenant_id": ..., "exam_code": ...}`; an unreadable payload drops every pool (safe, just slower).
After a lost connection every pool is dropped too, since notifications may have been missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

import orjson
import psycopg

from qbank.models import PARAMETER_SET_CHANNEL
from serving_api.metrics import PARAMETER_SET_NOTIFICATIONS
from serving_api.services.exam_pool import ExamPoolCache

PUBLICATION_CHANNEL = "qbank_publications"
log = logging.getLogger("qbank.notify")


def parse_payload(payload: str) -> tuple[uuid.UUID | None, str | None]:
    try:
        data = orjson.loads(payload)
        return uuid.UUID(str(data["tenant_id"])), (str(data["exam_code"]) or None)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None, None


class PoolInvalidationListener:
    def __init__(self, conninfo: str, pools: ExamPoolCache):
        self._conninfo = conninfo
        self._pools = pools
        self._task: asyncio.Task | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="qbank-notify-listener")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(self._task), timeout=3)

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {PARAMETER_SET_CHANNEL}")
                    await conn.execute(f"LISTEN {PUBLICATION_CHANNEL}")
                    # Anything announced while we were not listening is unknown: start clean.
                    self._pools.invalidate()
                    self.connected.set()
                    delay = 0.5
                    log.info(
                        "listening",
                        extra={"channels": [PARAMETER_SET_CHANNEL, PUBLICATION_CHANNEL]},
                    )
                    async for note in conn.notifies():
                        PARAMETER_SET_NOTIFICATIONS.labels(note.channel).inc()
                        tenant, exam = parse_payload(note.payload)
                        self._pools.invalidate(tenant, exam if tenant else None)
                        log.info(
                            "pools invalidated",
                            extra={
                                "channel": note.channel,
                                "tenant_id": str(tenant),
                                "exam_code": exam,
                            },
                        )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: keep serving, retry with backoff
                self.connected.clear()
                log.warning("notify listener lost its connection", extra={"error": str(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
