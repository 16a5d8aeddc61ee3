from __future__ import annotations

from typing import Literal

from pydantic import Field

from serving_api.schemas.common import Strict

Role = Literal["author", "publisher", "student", "admin"]


class UserCreate(Strict):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320, examples=["ana@acme.example"])
    display_name: str = Field(min_length=1, max_length=200, examples=["Ana Souza"])
    password: str = Field(min_length=8, max_length=1024)
    roles: list[Role] = Field(default=["student"], min_length=1)
    cohort: str = Field("all", min_length=1, max_length=64, examples=["class-2026"])


class UserUpdate(Strict):
    display_name: str | None = Field(None, min_length=1, max_length=200)
    roles: list[Role] | None = Field(None, min_length=1)
    cohort: str | None = Field(None, min_length=1, max_length=64)
    is_active: bool | None = None
    password: str | None = Field(None, min_length=8, max_length=1024)
