"""The garbage collector's settings for a serving process.

Measured under the next/answer load (python -m bench.api): with CPython's defaults (700, 10, 10)
a worker ran ~120 young and ~1 full collection per 1,000 requests; each full collection walked
the whole heap — modules, the app, its schemas and the caches, ~170,000 objects — for up to
120 ms, stalling every request in flight. The heap the process starts with is never garbage,
and a request's own objects die by reference counting, not by collection.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger("qbank.gc")


def settle(gen0_threshold: int) -> None:
    """Freeze what exists now (collections no longer walk it) and collect young objects less
    often (only reference cycles wait longer: a few requests' worth)."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, max(gen1, 50), max(gen2, 100))


def trace(min_ms: float = 1.0) -> None:
    """Logs every collection that paused the process for `min_ms` or more (generation, pause,
    objects collected): the evidence for or against the collector in a latency tail
    (QBANK_API_GC_TRACE=1; python -m bench.api --burst turns it on)."""
    started: list[float] = [0.0]

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        ms = (time.perf_counter() - started[0]) * 1000
        if ms >= min_ms:
            log.warning(
                "gc pause",
                extra={"generation": info["generation"], "pause_ms": round(ms, 2),
                       "collected": info["collected"]},
            )  # fmt: skip

    gc.callbacks.append(callback)
