"""Health, readiness and Prometheus metrics (no authentication: for the platform)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from serving_api.deps import get_runtime
from serving_api.metrics import OUTBOX_BACKLOG, OUTBOX_OLDEST_SECONDS, exposition
from serving_api.runtime import Runtime

router = APIRouter(tags=["operations"])

BACKLOG_SQL = """
SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)
FROM event_outbox WHERE published_at IS NULL
"""


@router.get("/health")
async def health() -> dict:
    """The process is up (no dependency checked)."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "a dependency is down"}})
async def ready(rt: Runtime = Depends(get_runtime)) -> JSONResponse:
    """PostgreSQL and Redis answer."""
    checks: dict[str, str] = {}

    async def db() -> None:
        async with rt.pg.connection(timeout=2) as conn:
            await conn.execute("SELECT 1")

    for name, probe in (("database", db), ("redis", rt.redis.ping)):
        try:
            await asyncio.wait_for(probe(), timeout=2.5)
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"down: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ok else "not ready", "checks": checks}, 200 if ok else 503
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def metrics(rt: Runtime = Depends(get_runtime)) -> Response:
    """Prometheus exposition: request latency, items served, cap relaxations, outbox backlog."""
    try:
        async with rt.pg.connection(timeout=2) as conn:
            count, age = await (await conn.execute(BACKLOG_SQL)).fetchone()
        OUTBOX_BACKLOG.set(count)
        OUTBOX_OLDEST_SECONDS.set(float(age))
    except Exception:
        pass  # the database is away: the gauges keep their last value, /ready says why
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
