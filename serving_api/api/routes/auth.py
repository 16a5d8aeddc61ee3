"""Login (and, in dev only, mock-login) issuing JWTs; `/v1/me`."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qbank.models import User
from qbank.passwords import DUMMY_HASH, verify_password
from qbank.settings import Settings
from serving_api.deps import ANY_USER, app_settings, get_runtime, get_session
from serving_api.errors import ApiError
from serving_api.runtime import Runtime
from serving_api.schemas.auth import LoginIn, MockLoginIn, TokenOut, UserOut
from serving_api.security import Principal, issue_token

router = APIRouter(prefix="/v1/auth", tags=["auth"])
me_router = APIRouter(prefix="/v1", tags=["auth"])
dev_router = APIRouter(prefix="/v1/auth", tags=["auth (dev only)"])


def user_out(u: User) -> UserOut:
    return UserOut(
        id=u.id,
        tenant_id=u.tenant_id,
        email=u.email,
        display_name=u.display_name,
        roles=list(u.roles),
        cohort=u.cohort,
        is_active=u.is_active,
    )


def token_for(settings: Settings, user: User) -> TokenOut:
    token, ttl = issue_token(settings, user.id, user.tenant_id, list(user.roles))
    return TokenOut(access_token=token, expires_in=ttl, user=user_out(user))


async def _user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(func.lower(User.email) == email.lower()))


@router.post(
    "/login",
    response_model=TokenOut,
    responses={
        401: {"description": "bad credentials"},
        429: {"description": "too many failed logins for the account or address: see Retry-After"},
    },
)
async def login(
    body: LoginIn,
    request: Request,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(app_settings),
    rt: Runtime = Depends(get_runtime),
) -> TokenOut:
    """Exchange e-mail and password for a bearer token (the tenant comes with the user).
    Repeated failures lock the account, or the client address, for a while (429)."""
    address = request.client.host if request.client else "unknown"
    refusal = await rt.login_throttle.refusal(body.email, address)
    if refusal is not None:
        raise ApiError(429, refusal.detail, {"Retry-After": str(refusal.retry_after_s)})
    user = await _user_by_email(session, body.email)
    # argon2 is CPU work: off the event loop; the dummy hash keeps timing equal for unknown users.
    # One check at a time per process (64 MiB and ~0.2 s of CPU each): a burst of logins queues
    # here instead of taking a thread each and starving the quiz requests.
    async with rt.password_checks:
        ok = await asyncio.to_thread(
            verify_password, user.password_hash if user else DUMMY_HASH, body.password
        )
    if not user or not ok or not user.is_active:
        await rt.login_throttle.failed(body.email, address)
        raise ApiError(401, "e-mail or password is wrong (or the account is disabled)")
    await rt.login_throttle.succeeded(body.email, address)
    return token_for(settings, user)


@dev_router.post("/mock-login", response_model=TokenOut)
async def mock_login(
    body: MockLoginIn,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(app_settings),
) -> TokenOut:
    """Development only (QBANK_ENV=dev): a token for an existing user without the password.

    The roles and tenant are the user's own from the database, never taken from the request.
    """
    user = await _user_by_email(session, body.email)
    if not user or not user.is_active:
        raise ApiError(404, f"no active user with e-mail {body.email!r}")
    return token_for(settings, user)


@me_router.get("/me", response_model=UserOut)
async def me(
    principal: Principal = Depends(ANY_USER), session: AsyncSession = Depends(get_session)
) -> UserOut:
    """The caller's account."""
    user = await session.get(User, principal.user_id)
    if user is None or user.tenant_id != principal.tenant_id:
        raise ApiError(401, "the account of this token no longer exists")
    return user_out(user)
