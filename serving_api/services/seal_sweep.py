"""Seals exams whose time ran out, without anyone touching them: a periodic task of each API
process (started in the app's lifespan, `QBANK_API_SEAL_SWEEP_S`).

The work is `Delivery.seal_expired`: the scorer and the statement (with its quiz_finished event)
are the ones `finish` uses. Reads also seal an expired exam they come across
(`Delivery.read`), so between two sweeps nothing shows an expired exam as active either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from serving_api.services.delivery import Delivery

log = logging.getLogger("qbank.seal_sweep")


class SealSweep:
    def __init__(self, delivery: Delivery, interval_s: float):
        self.delivery = delivery
        self.interval_s = interval_s
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self.interval_s > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="qbank-seal-sweep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                sealed = await self.delivery.seal_expired()
                if sealed:
                    log.info("expired exams sealed", extra={"sealed": sealed})
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: try again next round
                log.warning("seal sweep failed", extra={"error": repr(exc)})
