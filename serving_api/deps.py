"""FastAPI dependencies: runtime, settings, database sessions, the caller and their roles.

Every route under /v1 declares its roles with `require_roles(...)` (or `any_user`), and the
tenant of every query comes from the verified token, never from the request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from qbank.models import ROLES
from qbank.settings import Settings
from serving_api.errors import ApiError
from serving_api.runtime import Runtime
from serving_api.security import Principal, TokenError
from serving_api.services.delivery import Delivery

_bearer = HTTPBearer(auto_error=False, description="JWT from POST /v1/auth/login")
# Dependencies are `async def`: FastAPI would run plain functions in a thread pool (a thread hop
# per dependency per request), and none of these block.


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def app_settings(request: Request) -> Settings:
    """The settings the app was built with (named apart from qbank.settings.get_settings, which
    reads the environment)."""
    return request.app.state.runtime.settings


async def get_delivery(request: Request) -> Delivery:
    return request.app.state.runtime.delivery


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
DeliveryDep = Annotated[Delivery, Depends(get_delivery)]


async def get_session(runtime: Runtime = Depends(get_runtime)) -> AsyncIterator[AsyncSession]:
    async with runtime.sessions() as session:
        yield session


async def current_principal(
    request: Request, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> Principal:
    if creds is None or creds.scheme.lower() != "bearer":
        raise ApiError(
            401,
            "missing bearer token: send 'Authorization: Bearer <token>' from POST /v1/auth/login",
        )
    runtime: Runtime = request.app.state.runtime
    try:
        principal = runtime.verifier.verify(creds.credentials)
    except TokenError as exc:
        raise ApiError(401, str(exc)) from None
    # The account as stored now (cached a minute): a disabled or demoted user loses access
    # without waiting for the token to expire.
    roles = await runtime.accounts.current_roles(principal.user_id, principal.tenant_id)
    if roles is None:
        raise ApiError(401, "this account is disabled or no longer exists")
    if roles != principal.roles:
        principal = replace(principal, roles=principal.roles & roles)
    return principal


def require_roles(*roles: str):
    """Dependency admitting callers holding at least one of `roles` (the route's declared roles)."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"unknown roles {unknown}")
    allowed = frozenset(roles)

    async def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.has_any(allowed):
            raise ApiError(403, f"this action needs the role {' or '.join(sorted(allowed))}")
        return principal

    dependency.qbank_roles = allowed  # read by the test that every route declares its roles
    return dependency


STUDENT = require_roles("student")
AUTHOR = require_roles("author", "admin")
PUBLISHER = require_roles("publisher", "admin")
STAFF = require_roles("author", "publisher", "admin")
ADMIN = require_roles("admin")
ANY_USER = require_roles(*ROLES)
