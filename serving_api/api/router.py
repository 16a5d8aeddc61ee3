"""The versioned API: every resource router under one `/v1` prefix (FastAPI's full-stack
template's `api_router`). Operations routes (/health, /ready, /metrics) stay unversioned."""

from __future__ import annotations

from fastapi import APIRouter

from serving_api.api.routes import auth, questions, quizzes, students, topics, users


def api_router(with_dev_routes: bool) -> APIRouter:
    """`/v1` and its routers; the dev-only ones (mock-login) only when asked for."""
    router = APIRouter(prefix="/v1")
    router.include_router(auth.router)
    if with_dev_routes:
        router.include_router(auth.dev_router)
    router.include_router(auth.me_router)
    for part in (users, topics, questions, quizzes, students):
        router.include_router(part.router)
    return router
