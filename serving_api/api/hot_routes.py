"""The two requests a student makes all exam long, served without FastAPI's per-request work.

`GET /v1/quizzes/{quiz_id}/next` and `POST /v1/quizzes/{quiz_id}/answers` are half of all the
traffic. FastAPI resolves their dependencies, parameters and body through its generic machinery
on every call; measured under the next/answer mix that was about a quarter of a worker's CPU. A
request in the usual shape — a canonical quiz id, no query string, a JSON body that validates —
is served here with the same functions the documented routes use (the bearer scheme, the
caller's account and roles, `AnswerIn`, `Delivery`); anything else (a malformed id, `?skip=`, a
body that does not validate, another content type) is handed to the documented route untouched,
so errors and edge cases keep exactly the documented behaviour and shape. Errors raised here go
through the app's exception handlers like any route's. The documented routes stay in the
OpenAPI schema; these are placed before them in the router.
"""

from __future__ import annotations

import re
import uuid

import orjson
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette._exception_handler import wrap_app_handling_exceptions
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from serving_api.deps import STUDENT, _bearer, current_principal
from serving_api.schemas.quizzes import AnswerIn

_CANONICAL_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
NEXT_PATH = "/v1/quizzes/{quiz_id}/next"
ANSWER_PATH = "/v1/quizzes/{quiz_id}/answers"


def _json(data) -> Response:
    return Response(orjson.dumps(data), media_type="application/json")


async def _student(request: Request):
    return await STUDENT(await current_principal(request, await _bearer(request)))


def _quiz_id(request: Request) -> uuid.UUID | None:
    raw = request.path_params["quiz_id"]
    return uuid.UUID(raw) if _CANONICAL_UUID.match(raw) else None


async def fast_next(request: Request) -> Response | None:
    if request.scope["query_string"]:
        return None
    quiz_id = _quiz_id(request)
    if quiz_id is None:
        return None
    principal = await _student(request)
    delivery = request.app.state.runtime.delivery
    return _json(await delivery.next_item(principal, quiz_id, False))


async def fast_answer(request: Request) -> Response | None:
    if request.scope["query_string"]:
        return None
    content_type = request.headers.get("content-type")
    if content_type is not None and content_type.lower() != "application/json":
        return None
    quiz_id = _quiz_id(request)
    if quiz_id is None:
        return None
    body = await request.body()
    try:
        data = AnswerIn.model_validate_json(body)
    except ValidationError:
        return None
    principal = await _student(request)
    delivery = request.app.state.runtime.delivery
    out = await delivery.answer(
        principal, quiz_id, data.selected, data.time_taken_ms, data.position
    )
    return _json(out)


class HotRoute:
    """ASGI endpoint: the fast path, else the documented route with the body replayed."""

    def __init__(self, fast, documented: APIRoute):
        self.fast = fast
        self.documented = documented

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self.documented  # metrics and logs by the documented template
        request = Request(scope, receive)

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            response = await self.fast(request)
            if response is not None:
                await response(scope, receive, send)
                return
            body = await request.body()

            async def replay() -> Message:
                return {"type": "http.request", "body": body, "more_body": False}

            await self.documented.app(scope, replay, send)

        await wrap_app_handling_exceptions(app, request)(scope, receive, send)


def install(app: FastAPI) -> None:
    """Puts the fast routes in front of the documented ones they serve."""
    documented = {
        (r.path, m): r for r in app.router.routes if isinstance(r, APIRoute) for m in r.methods
    }
    for path, method, fast in ((NEXT_PATH, "GET", fast_next), (ANSWER_PATH, "POST", fast_answer)):
        route = Route(
            path,
            endpoint=HotRoute(fast, documented[(path, method)]),
            methods=[method],
            include_in_schema=False,
        )
        route.methods = {method}  # Starlette adds HEAD to a GET route; the documented one has none
        app.router.routes.insert(0, route)
