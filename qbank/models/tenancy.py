"""Tenants and their users."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, CheckConstraint, ForeignKey, Index, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from qbank.models.base import Base, timestamp_now, uuid_pk

ROLES = ("author", "publisher", "student", "admin")


class Tenant(Base):
    __tablename__ = "tenants"
    __table_args__ = (CheckConstraint("slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'", name="slug_format"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    slug: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = timestamp_now()


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "cardinality(roles) >= 1 AND roles <@ ARRAY['author','publisher','student','admin']::text[]",
            name="roles_known",
        ),
        CheckConstraint("email ~ '^[^@\\s]+@[^@\\s]+$'", name="email_format"),
        CheckConstraint("length(cohort) BETWEEN 1 AND 64", name="cohort_length"),
        # An account per e-mail within a tenant: the same person (or two people sharing an
        # address) may be a user of two tenants, and one tenant's admin learns nothing of the
        # other's users. The index leads with tenant_id, so it also serves tenant lookups.
        Index("uq_users_tenant_email_lower", "tenant_id", func.lower(text("email")), unique=True),
        # Login without a tenant looks the e-mail up across tenants.
        Index("ix_users_email_lower", func.lower(text("email"))),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"))
    email: Mapped[str] = mapped_column(Text)
    display_name: Mapped[str] = mapped_column(Text)
    password_hash: Mapped[str] = mapped_column(Text)
    roles: Mapped[list[str]] = mapped_column(ARRAY(Text))
    cohort: Mapped[str] = mapped_column(String(64), server_default="all")
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[datetime] = timestamp_now()
