"""Admins manage the users, roles and cohorts of their own tenant."""

from __future__ import annotations

import asyncio
import uuid

from fastapi import APIRouter, Depends, Query
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qbank.models import User
from qbank.passwords import hash_password
from serving_api.api.routes.auth import tenant_slug, user_out
from serving_api.deps import ADMIN, get_runtime, get_session
from serving_api.errors import ApiError, not_found
from serving_api.runtime import Runtime
from serving_api.schemas.auth import UserOut
from serving_api.schemas.users import UserCreate, UserUpdate
from serving_api.security import Principal

router = APIRouter(prefix="/users", tags=["users"])


@router.post("", response_model=UserOut, status_code=201)
async def create_user(
    body: UserCreate,
    principal: Principal = Depends(ADMIN),
    session: AsyncSession = Depends(get_session),
) -> UserOut:
    """Create a user in the admin's tenant. The e-mail must be new in this tenant; other
    tenants' users are neither consulted nor revealed (each has its own accounts)."""
    if await session.scalar(
        select(User.id).where(
            User.tenant_id == principal.tenant_id, func.lower(User.email) == body.email.lower()
        )
    ):
        raise ApiError(409, f"a user with e-mail {body.email!r} already exists in your tenant")
    user = User(
        tenant_id=principal.tenant_id,
        email=body.email,
        display_name=body.display_name,
        password_hash=await asyncio.to_thread(hash_password, body.password),
        roles=sorted(set(body.roles)),
        cohort=body.cohort,
    )
    session.add(user)
    await session.commit()
    return user_out(user, await tenant_slug(session, principal.tenant_id))


@router.get("", response_model=list[UserOut])
async def list_users(
    principal: Principal = Depends(ADMIN),
    session: AsyncSession = Depends(get_session),
    role: str | None = Query(None, pattern="^(author|publisher|student|admin)$"),
    cohort: str | None = Query(None, max_length=64),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> list[UserOut]:
    """Users of the admin's tenant."""
    q = select(User).where(User.tenant_id == principal.tenant_id)
    if role:
        q = q.where(User.roles.any(role))
    if cohort:
        q = q.where(User.cohort == cohort)
    rows = (await session.scalars(q.order_by(User.email).limit(limit).offset(offset))).all()
    slug = await tenant_slug(session, principal.tenant_id)
    return [user_out(u, slug) for u in rows]


async def _own_user(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None or user.tenant_id != principal.tenant_id:
        raise not_found(f"user {user_id}")
    return user


@router.get("/{user_id}", response_model=UserOut)
async def get_user(
    user_id: uuid.UUID,
    principal: Principal = Depends(ADMIN),
    session: AsyncSession = Depends(get_session),
) -> UserOut:
    user = await _own_user(session, principal, user_id)
    return user_out(user, await tenant_slug(session, principal.tenant_id))


@router.patch("/{user_id}", response_model=UserOut)
async def update_user(
    user_id: uuid.UUID,
    body: UserUpdate,
    principal: Principal = Depends(ADMIN),
    session: AsyncSession = Depends(get_session),
    runtime: Runtime = Depends(get_runtime),
) -> UserOut:
    """Change roles, cohort, name, password or disable the account."""
    user = await _own_user(session, principal, user_id)
    if user.id == principal.user_id and (
        body.is_active is False or (body.roles is not None and "admin" not in body.roles)
    ):
        raise ApiError(409, "an admin cannot disable or demote themselves; ask another admin")
    if body.display_name is not None:
        user.display_name = body.display_name
    if body.roles is not None:
        user.roles = sorted(set(body.roles))
    if body.cohort is not None:
        user.cohort = body.cohort
    if body.is_active is not None:
        user.is_active = body.is_active
    if body.password is not None:
        user.password_hash = await asyncio.to_thread(hash_password, body.password)
    await session.commit()
    runtime.accounts.forget(user.id)
    return user_out(user, await tenant_slug(session, principal.tenant_id))
