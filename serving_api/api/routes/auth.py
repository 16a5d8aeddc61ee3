"""Login (and, in dev only, mock-login) issuing JWTs; `/v1/me`.

Accounts belong to a tenant: the same e-mail may have an account in several tenants. A login
names the tenant (its slug) or, without it, uses the one account whose password matches.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time

from fastapi import APIRouter, Depends, Request
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qbank.models import Tenant, User
from qbank.passwords import DUMMY_HASH, verify_password
from qbank.settings import Settings
from serving_api.deps import ANY_USER, app_settings, get_runtime, get_session
from serving_api.errors import ApiError
from serving_api.runtime import Runtime
from serving_api.schemas.auth import LoginIn, MockLoginIn, TokenOut, UserOut
from serving_api.security import Principal, issue_token

# A login without a tenant always takes as long as this many password checks, so an e-mail
# with accounts in two tenants cannot be told by timing from one with a single account (or
# none, which the dummy hash already covers). Beyond two accounts the extra checks show; and
# at most MAX_ACCOUNTS_CHECKED are tried, which bounds the argon2 work one request can ask for.
CHECKS_WITHOUT_TENANT = 2
MAX_ACCOUNTS_CHECKED = 5
BAD_CREDENTIALS = "e-mail or password is wrong (or the account is disabled)"
NAME_THE_TENANT = (
    "this e-mail and password match accounts in more than one tenant: name the tenant "
    "(send its slug as `tenant`)"
)
# Headers a proxy adds. Their presence means the peer address is the proxy's, not the client's.
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def is_loopback(host: str | None) -> bool:
    """127.0.0.0/8 or ::1 (also as an IPv4-mapped IPv6 address); anything else, or no
    address at all, is not."""
    try:
        ip = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


async def loopback_only(request: Request) -> None:
    """Dev-only routes answer this machine only. The peer address is the socket's; forwarding
    headers are never believed: a request carrying one is refused, since a proxy on this
    machine would otherwise make every client look local (and uvicorn, told to trust the
    proxy, would rewrite the address from a header the client wrote)."""
    host = request.client.host if request.client else None
    if not is_loopback(host):
        raise ApiError(
            403,
            f"this development route answers only requests from this machine (loopback), "
            f"not from {host or 'an unknown address'}",
        )
    forwarded = [h for h in FORWARDING_HEADERS if h in request.headers]
    if forwarded:
        raise ApiError(
            403,
            "this development route refuses proxied requests (it got "
            f"{', '.join(forwarded)}): call it directly from this machine",
        )


router = APIRouter(prefix="/auth", tags=["auth"])
me_router = APIRouter(tags=["auth"])
dev_router = APIRouter(
    prefix="/auth", tags=["auth (dev only)"], dependencies=[Depends(loopback_only)]
)


def user_out(u: User, tenant_slug: str) -> UserOut:
    return UserOut(
        id=u.id,
        tenant_id=u.tenant_id,
        tenant_slug=tenant_slug,
        email=u.email,
        display_name=u.display_name,
        roles=list(u.roles),
        cohort=u.cohort,
        is_active=u.is_active,
    )


async def tenant_slug(session: AsyncSession, tenant_id) -> str:
    return await session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))


def token_for(settings: Settings, user: User, slug: str) -> TokenOut:
    token, ttl = issue_token(settings, user.id, user.tenant_id, list(user.roles))
    return TokenOut(access_token=token, expires_in=ttl, user=user_out(user, slug))


async def active_accounts(
    session: AsyncSession, email: str, tenant: str | None
) -> list[tuple[User, str]]:
    """Active accounts with this e-mail (and the tenant's slug), in the named tenant or in
    every tenant; a stable order, so a capped lookup checks the same accounts each time."""
    q = (
        select(User, Tenant.slug)
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(func.lower(User.email) == email.lower(), User.is_active)
        .order_by(User.tenant_id)
        .limit(MAX_ACCOUNTS_CHECKED)
    )
    if tenant is not None:
        q = q.where(Tenant.slug == tenant)
    return [(u, s) for u, s in (await session.execute(q)).all()]


async def _password_matches(rt: Runtime, password_hash: str, password: str) -> tuple[bool, float]:
    """One argon2 check and how long it took (the wait for the semaphore excluded)."""
    # argon2 is CPU work: off the event loop. One check at a time per process (64 MiB and
    # ~0.2 s of CPU each): a burst of logins queues here instead of taking a thread each and
    # starving the quiz requests.
    async with rt.password_checks:
        started = time.perf_counter()
        ok = await asyncio.to_thread(verify_password, password_hash, password)
        return ok, time.perf_counter() - started


async def matching_accounts(
    rt: Runtime, accounts: list[tuple[User, str]], password: str, checks: int
) -> list[tuple[User, str]]:
    """The accounts whose password this is, taking at least `checks` password checks' time
    whatever the number of accounts (the dummy hash stands in when there is none)."""
    matched, took = [], []
    for user, slug in accounts:
        ok, seconds = await _password_matches(rt, user.password_hash, password)
        took.append(seconds)
        if ok:
            matched.append((user, slug))
    if not accounts:
        took.append((await _password_matches(rt, DUMMY_HASH, password))[1])
    if len(took) < checks:
        # Sleep, not argon2: the padding costs latency, not CPU or memory.
        await asyncio.sleep((checks - len(took)) * sum(took) / len(took))
    return matched


@router.post(
    "/login",
    response_model=TokenOut,
    responses={
        401: {
            "description": "bad credentials, or (without `tenant`) credentials matching accounts "
            "in several tenants: name the tenant"
        },
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
    """Exchange e-mail and password (and optionally the tenant's slug) for a bearer token; the
    token carries the account's tenant. Without `tenant`, the one account of that e-mail whose
    password matches is used; if accounts in several tenants match, 401 asks to name the
    tenant. Repeated failures lock the e-mail (in every tenant), or the client address, for a
    while (429)."""
    address = request.client.host if request.client else "unknown"
    refusal = await rt.login_throttle.refusal(body.email, address)
    if refusal is not None:
        raise ApiError(429, refusal.detail, {"Retry-After": str(refusal.retry_after_s)})
    accounts = await active_accounts(session, body.email, body.tenant)
    # The connection goes back to the pool before the password checks, which queue (one at a
    # time per process) and, without a tenant, sleep: a burst of logins must not hold the
    # connections the quiz requests need. Nothing expires (expire_on_commit=False).
    await session.commit()
    checks = 1 if body.tenant is not None else CHECKS_WITHOUT_TENANT
    matched = await matching_accounts(rt, accounts, body.password, checks)
    if not matched:
        await rt.login_throttle.failed(body.email, address)
        raise ApiError(401, BAD_CREDENTIALS)
    if len(matched) > 1:
        # Only a caller whose password opens two accounts gets here: they learn that another
        # tenant has this e-mail with this same password, never which tenant. Not a failure
        # for the throttle: no password was wrong.
        raise ApiError(401, NAME_THE_TENANT)
    await rt.login_throttle.succeeded(body.email, address)
    user, slug = matched[0]
    return token_for(settings, user, slug)


@dev_router.post(
    "/mock-login",
    response_model=TokenOut,
    responses={
        403: {"description": "not from this machine (loopback), or through a proxy"},
        404: {"description": "no active user with that e-mail (in that tenant)"},
        409: {"description": "the e-mail has accounts in several tenants: name the tenant"},
    },
)
async def mock_login(
    body: MockLoginIn,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(app_settings),
) -> TokenOut:
    """Development only (QBANK_ENV=dev, loopback clients only): a token for an existing user
    without the password. The roles and tenant are the user's own from the database, never
    taken from the request; `tenant` picks the account when the e-mail has several."""
    accounts = await active_accounts(session, body.email, body.tenant)
    if not accounts:
        where = f" in tenant {body.tenant!r}" if body.tenant else ""
        raise ApiError(404, f"no active user with e-mail {body.email!r}{where}")
    if len(accounts) > 1:
        raise ApiError(
            409,
            f"e-mail {body.email!r} has accounts in {len(accounts)} tenants: name the tenant "
            "(send its slug as `tenant`)",
        )
    user, slug = accounts[0]
    return token_for(settings, user, slug)


@me_router.get("/me", response_model=UserOut)
async def me(
    principal: Principal = Depends(ANY_USER), session: AsyncSession = Depends(get_session)
) -> UserOut:
    """The caller's account, with its tenant's slug (to name the tenant at the next login)."""
    row = (
        await session.execute(
            select(User, Tenant.slug)
            .join(Tenant, Tenant.id == User.tenant_id)
            .where(User.id == principal.user_id, User.tenant_id == principal.tenant_id)
        )
    ).first()
    if row is None:
        raise ApiError(401, "the account of this token no longer exists")
    return user_out(*row)
