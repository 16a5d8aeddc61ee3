from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from serving_api.schemas.common import Strict


class LoginIn(Strict):
    email: str = Field(min_length=3, max_length=320, examples=["student@acme-med.example"])
    password: str = Field(min_length=1, max_length=1024, examples=["correct horse battery"])


class MockLoginIn(Strict):
    email: str = Field(min_length=3, max_length=320, examples=["student@acme-med.example"])


class UserOut(BaseModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
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
