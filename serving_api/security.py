"""JSON Web Tokens: issue on login, verify on every request (only the configured algorithm)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from qbank.models import ROLES
from qbank.settings import Settings

REQUIRED_CLAIMS = ("sub", "tenant", "roles", "iat", "exp")


class TokenError(ValueError):
    """A token that must be refused; the message says why (sent back with the 401)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user, their tenant and roles, all taken from a verified token."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    roles: frozenset[str]
    expires_at: int

    def has_any(self, roles: frozenset[str]) -> bool:
        return not self.roles.isdisjoint(roles)


def issue_token(
    settings: Settings,
    user_id: uuid.UUID,
    tenant_id: uuid.UUID,
    roles: list[str],
    now: int | None = None,
) -> tuple[str, int]:
    """A signed token for the user and the seconds it is valid."""
    iat = int(now if now is not None else time.time())
    ttl = settings.jwt_ttl_minutes * 60
    claims = {
        "sub": str(user_id),
        "tenant": str(tenant_id),
        "roles": sorted(set(roles)),
        "iat": iat,
        "exp": iat + ttl,
    }
    return jwt.encode(claims, settings.app_secret, algorithm=settings.jwt_algorithm), ttl


class TokenVerifier:
    """Verifies tokens with the configured key and algorithm; remembers recent good ones.

    The cache only skips re-checking the signature of a token already verified: the expiry is
    checked on every call.
    """

    def __init__(self, settings: Settings, cache_size: int = 50_000):
        self._key = settings.app_secret
        self._algorithms = [settings.jwt_algorithm]
        self._cache: dict[str, Principal] = {}
        self._cache_size = cache_size

    def verify(self, token: str) -> Principal:
        cached = self._cache.get(token)
        if cached is not None:
            if cached.expires_at > time.time():
                return cached
            self._cache.pop(token, None)
            raise TokenError("token expired: log in again")
        principal = self._decode(token)
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[token] = principal
        return principal

    def _decode(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired: log in again") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError(f"token lacks the '{exc.claim}' claim") from None
        except jwt.InvalidAlgorithmError:
            raise TokenError(f"token algorithm not accepted (only {self._algorithms[0]})") from None
        except jwt.InvalidSignatureError:
            raise TokenError("token signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {exc}") from None
        try:
            user_id = uuid.UUID(str(claims["sub"]))
            tenant_id = uuid.UUID(str(claims["tenant"]))
        except ValueError:
            raise TokenError("token 'sub' and 'tenant' must be UUIDs") from None
        roles = claims["roles"]
        if (
            not isinstance(roles, list)
            or not roles
            or not all(isinstance(r, str) and r in ROLES for r in roles)
        ):
            raise TokenError(f"token 'roles' must be a non-empty list of {', '.join(ROLES)}")
        return Principal(user_id, tenant_id, frozenset(roles), int(claims["exp"]))


class AccountCache:
    """Whether an account is active, and its roles, as stored: re-read at most once a minute."""

    SQL = "SELECT roles FROM users WHERE id = %s AND tenant_id = %s AND is_active"

    def __init__(self, pg, ttl_s: float = 60.0):
        self._pg = pg
        self._ttl = ttl_s
        self._entries: dict[uuid.UUID, tuple[float, frozenset[str] | None]] = {}

    async def current_roles(
        self, user_id: uuid.UUID, tenant_id: uuid.UUID
    ) -> frozenset[str] | None:
        now = time.monotonic()
        hit = self._entries.get(user_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        async with self._pg.connection() as conn:
            row = await (await conn.execute(self.SQL, (user_id, tenant_id))).fetchone()
        roles = frozenset(row[0]) if row else None
        if len(self._entries) > 100_000:
            self._entries.clear()
        self._entries[user_id] = (now + self._ttl, roles)
        return roles

    def forget(self, user_id: uuid.UUID) -> None:
        """Drop a cached account (this process sees the change at once, others within the TTL)."""
        self._entries.pop(user_id, None)
