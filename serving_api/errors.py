"""One error shape for every 4xx/5xx: `{"detail": "<what was wrong and what to do>"}`."""

from __future__ import annotations

import logging

import psycopg.errors as pge
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving_api.db_pool import DatabaseUnreachable

log = logging.getLogger("qbank.errors")


class ApiError(Exception):
    """An expected refusal: status code and a message for the caller."""

    def __init__(self, status_code: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.headers = headers


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found")


def _loc(loc) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def describe_validation(exc: RequestValidationError) -> tuple[str, list[dict]]:
    errors = []
    for err in exc.errors():
        msg = err.get("msg", "invalid")
        if err.get("type") == "json_invalid":
            msg = "body is not valid JSON"
        errors.append({"field": _loc(err.get("loc", ())), "message": msg})
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return f"invalid request: {summary}", errors


def _pg_error(orig: BaseException) -> tuple[int, str] | None:
    if isinstance(orig, pge.UniqueViolation):
        return 409, f"conflicts with an existing record ({orig.diag.constraint_name})"
    if isinstance(orig, pge.ForeignKeyViolation):
        return 409, f"refers to a record that does not exist ({orig.diag.constraint_name})"
    if isinstance(orig, pge.CheckViolation):
        return 422, f"value not allowed ({orig.diag.constraint_name})"
    if isinstance(orig, pge.NotNullViolation):
        return 422, f"missing value for {orig.diag.column_name}"
    if isinstance(orig, pge.DataError):
        return 422, f"invalid value: {str(orig).splitlines()[0]}"
    return None


def _unavailable(exc: BaseException) -> JSONResponse:
    if isinstance(exc, DatabaseUnreachable):
        pass  # refused at the gate, which logs when the database goes and comes back
    elif isinstance(exc, pge.OperationalError):
        # The database is away (connection lost or refused, pool wait over): one line, no
        # traceback — an outage would otherwise log one per request.
        log.warning("database unavailable", extra={"error": f"{type(exc).__name__}: {exc}"})
    else:
        log.exception("database error")
    return JSONResponse(
        {"detail": "database unavailable, try again"}, status_code=503, headers={"Retry-After": "1"}
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail, errors = describe_validation(exc)
        return JSONResponse({"detail": detail, "errors": errors}, status_code=422)

    @app.exception_handler(DBAPIError)
    async def _db_error(request: Request, exc: DBAPIError) -> JSONResponse:
        mapped = _pg_error(exc.orig) if exc.orig is not None else None
        if mapped:
            return JSONResponse({"detail": mapped[1]}, status_code=mapped[0])
        return _unavailable(exc.orig if exc.orig is not None else exc)

    @app.exception_handler(pge.Error)
    async def _psycopg_error(request: Request, exc: pge.Error) -> JSONResponse:
        mapped = _pg_error(exc)
        if mapped:
            return JSONResponse({"detail": mapped[1]}, status_code=mapped[0])
        return _unavailable(exc)
