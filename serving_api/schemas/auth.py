from __future__ import annotations

import uuid

from pydantic import BaseModel, Field, field_validator

from serving_api.schemas.common import Strict

TENANT_DOC = (
    "The tenant's slug (e.g. `acme-med`). Optional: without it, the one account whose e-mail "
    "and password match is used; when several tenants' accounts match, name the tenant."
)


def _tenant_slug(v: object) -> object:
    # A login form's empty field means "not given"; slugs are lowercase (tenants.slug_format).
    if isinstance(v, str):
        v = v.strip().lower()
        return v or None
    return v


class LoginIn(Strict):
    email: str = Field(min_length=3, max_length=320, examples=["student@acme-med.example"])
    password: str = Field(min_length=1, max_length=1024, examples=["correct horse battery"])
    tenant: str | None = Field(
        None, pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", examples=["acme-med"], description=TENANT_DOC
    )

    _slug = field_validator("tenant", mode="before")(_tenant_slug)


class MockLoginIn(Strict):
    email: str = Field(min_length=3, max_length=320, examples=["student@acme-med.example"])
    tenant: str | None = Field(
        None, pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", examples=["acme-med"], description=TENANT_DOC
    )

    _slug = field_validator("tenant", mode="before")(_tenant_slug)


class UserOut(BaseModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    tenant_slug: str = Field(description="send it as `tenant` when logging in")
    email: str
    display_name: str
    roles: list[str]
    cohort: str
    is_active: bool


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    user: UserOut
