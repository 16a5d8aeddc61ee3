"""The app factory: `python -m serving_api` (or `uvicorn --factory serving_api.main:create_app`)."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from qbank.settings import Settings, get_settings
from serving_api import heap
from serving_api.api import hot_routes
from serving_api.api.router import api_router
from serving_api.api.routes import ops
from serving_api.config import ApiOptions
from serving_api.errors import install_error_handlers
from serving_api.logs import configure_logging
from serving_api.middleware import BodySizeLimitMiddleware, ObservabilityMiddleware
from serving_api.runtime import Runtime

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("qbank.api")

DESCRIPTION = """
QBank's serving API. Log in with `POST /v1/auth/login` and send the token as
`Authorization: Bearer <token>`; the tenant always comes from the token.

* **authors** create and edit questions and submit them for review;
* **publishers** return, approve, publish (per exam code) and retire versions;
* **students** take tutor or exam quizzes, adaptive or linear;
* **admins** manage the users, roles and cohorts of their tenant (and may do all authoring).

Errors are `{"detail": "..."}` with a 4xx status that says what to change.
"""

# A strict policy for the student page: our own scripts and styles only; images from anywhere
# over https (question assets are URLs).
CSP = (
    "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class StartupRefused(RuntimeError):
    """The API will not serve with this configuration; the message says what to set."""


MISSING_ENV = (
    "QBANK_ENV is not set: the API refuses to start without it. Set QBANK_ENV=prod in "
    "production (with your own APP_SECRET of at least 32 bytes), QBANK_ENV=dev on a developer "
    "machine (the repository's dev secret is accepted and mock-login answers loopback clients), "
    "or QBANK_ENV=test for the tests. `make api`, `make ui` and `make demo` set dev."
)


def require_explicit_env(settings: Settings) -> None:
    """The environment must be chosen, never assumed: a default of `dev` let an API started
    bare sign tokens with the repository's dev secret and offer mock-login."""
    if settings.qbank_env is None:
        raise StartupRefused(MISSING_ENV)


def create_app(settings: Settings | None = None, options: ApiOptions | None = None) -> FastAPI:
    settings = settings or get_settings()
    require_explicit_env(settings)
    options = options or ApiOptions()
    configure_logging(options.log_level)
    runtime = Runtime(settings, options)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await runtime.open()
        heap.settle(options.gc_gen0_threshold)
        if options.gc_trace:
            heap.trace()
        log.info("api started", extra={"env": settings.qbank_env})
        try:
            yield
        finally:
            await runtime.close()

    app = FastAPI(
        title="QBank API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.runtime = runtime
    install_error_handlers(app)

    app.include_router(ops.router)
    app.include_router(api_router(with_dev_routes=settings.qbank_env == "dev"))  # never test/prod
    hot_routes.install(app)  # next and answers without FastAPI's per-request work

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def student_page() -> FileResponse:
        return FileResponse(
            STATIC / "index.html",
            headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"},
        )

    # Outermost last: observability sees every response, including 413s and CORS preflights.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    origins = [o for o in settings.cors_origins if o]
    if origins:
        wildcard = "*" in origins
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            # Never credentials with a wildcard origin (the seed's defect).
            allow_credentials=not wildcard,
            allow_methods=["GET", "POST", "PUT", "PATCH"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        )
    app.add_middleware(ObservabilityMiddleware)
    _document_roles(app)
    _document_error_shape(app)
    return app


def route_roles(route: APIRoute) -> frozenset[str] | None:
    """The roles a route declares (`serving_api.deps.require_roles`); None for public routes."""
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        roles = getattr(dep.call, "qbank_roles", None)
        if roles:
            return roles
        stack.extend(dep.dependencies)
    return None


def _document_roles(app: FastAPI) -> None:
    """Each operation says in the OpenAPI document who may call it (`x-qbank-roles`; absent on
    public routes), so clients and tests can find e.g. every route a student reaches."""
    for route in app.routes:
        if isinstance(route, APIRoute):
            roles = route_roles(route)
            if roles:
                route.openapi_extra = {
                    **(route.openapi_extra or {}),
                    "x-qbank-roles": sorted(roles),
                }


# What the error handlers actually send for a 422 (`serving_api.errors`): FastAPI's default
# schema says `detail` is a list of pydantic errors, which is not what clients receive.
VALIDATION_ERROR_SCHEMA = {
    "title": "HTTPValidationError",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string", "title": "Detail", "description": "What to change."},
        "errors": {
            "type": "array",
            "title": "Errors",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


def _document_error_shape(app: FastAPI) -> None:
    """The OpenAPI document describes the 422 body the API really sends."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schemas = build().setdefault("components", {}).setdefault("schemas", {})
            if "HTTPValidationError" in schemas:
                schemas["HTTPValidationError"] = VALIDATION_ERROR_SCHEMA
                schemas.pop("ValidationError", None)
        return app.openapi_schema

    app.openapi = openapi
