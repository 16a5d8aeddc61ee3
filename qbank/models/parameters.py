"""The published-parameter contract between the pipeline and the serving API.

The pipeline writes a set (`item_parameter_sets`) with one row per item version
(`item_parameters`); activating a set is one transaction followed by `NOTIFY` on
`PARAMETER_SET_CHANNEL`, and at most one set is active per (tenant, exam code).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Float, ForeignKey, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from qbank.models.base import Base, timestamp_now

PARAMETER_SET_CHANNEL = "qbank_parameter_sets"
# retired: taken out of service by an operator (the exam code is back on cold-start defaults);
# like a superseded set it can be activated again, since it passed its checks.
SET_STATUSES = ("candidate", "active", "superseded", "rejected", "retired")


class ItemParameterSet(Base):
    __tablename__ = "item_parameter_sets"
    __table_args__ = (
        CheckConstraint(
            "status IN ('candidate','active','superseded','rejected','retired')",
            name="status_known",
        ),
        Index(
            "uq_item_parameter_sets_one_active",
            "tenant_id",
            "exam_code",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"))
    exam_code: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="candidate")
    model: Mapped[str] = mapped_column(Text, server_default="3PL")
    # Stored parameters record their metric: logistic, D = 1.
    metric: Mapped[str] = mapped_column(Text, server_default="logistic_D1")
    created_by_run: Mapped[str] = mapped_column(Text)
    checks_passed: Mapped[bool] = mapped_column(server_default=text("false"))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = timestamp_now()
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ItemParameter(Base):
    __tablename__ = "item_parameters"
    __table_args__ = (
        CheckConstraint("a > 0", name="a_positive"),
        CheckConstraint("c >= 0 AND c < 1", name="c_range"),
        CheckConstraint("k >= 0 AND k <= 1", name="k_range"),
        CheckConstraint("n_respondents >= 0", name="n_nonnegative"),
        Index("ix_item_parameters_question", "question_id"),
    )

    set_id: Mapped[int] = mapped_column(
        ForeignKey("item_parameter_sets.id", ondelete="CASCADE"), primary_key=True
    )
    question_version_id: Mapped[int] = mapped_column(
        ForeignKey("question_versions.id"), primary_key=True
    )
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"))
    version: Mapped[int] = mapped_column(Integer)
    a: Mapped[float] = mapped_column(Float)
    b: Mapped[float] = mapped_column(Float)
    c: Mapped[float] = mapped_column(Float)
    se_a: Mapped[float | None] = mapped_column(Float)
    se_b: Mapped[float | None] = mapped_column(Float)
    se_c: Mapped[float | None] = mapped_column(Float)
    k: Mapped[float] = mapped_column(Float, server_default="1")
    n_respondents: Mapped[int] = mapped_column(Integer)
    is_anchor: Mapped[bool] = mapped_column(server_default=text("false"))
