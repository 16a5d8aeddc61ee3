"""Database engines and sessions built from the one settings object."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

from qbank.settings import Settings, get_settings


def make_engine(settings: Settings | None = None, **kw: Any) -> Engine:
    settings = settings or get_settings()
    kw.setdefault("pool_pre_ping", True)
    return create_engine(settings.sync_database_url, **kw)


def make_async_engine(settings: Settings | None = None, **kw: Any) -> AsyncEngine:
    settings = settings or get_settings()
    kw.setdefault("pool_pre_ping", True)
    return create_async_engine(settings.sync_database_url, **kw)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def make_async_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with make_sessionmaker(engine)() as session, session.begin():
        yield session
