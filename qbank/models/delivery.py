"""Quiz sessions, the items served in them and the answers given: the state of delivery."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from qbank.models.base import Base, timestamp_now, uuid_pk

QUIZ_MODES = ("tutor", "exam")
QUIZ_STATUSES = ("active", "finished", "expired", "pool_exhausted")


class QuizSession(Base):
    __tablename__ = "quiz_sessions"
    __table_args__ = (
        CheckConstraint("mode IN ('tutor','exam')", name="mode_known"),
        CheckConstraint(
            "status IN ('active','finished','expired','pool_exhausted')", name="status_known"
        ),
        CheckConstraint("num_questions BETWEEN 1 AND 120", name="num_questions_range"),
        CheckConstraint("num_pretest >= 0 AND num_pretest <= num_questions", name="pretest_range"),
        Index("ix_quiz_sessions_user_started", "user_id", "started_at"),
        # What the quiz's items and answers reference (migration 0008): checking them locks
        # the quiz's own row, not the tenant's and the student's.
        UniqueConstraint("id", "tenant_id"),
        UniqueConstraint("id", "tenant_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    mode: Mapped[str] = mapped_column(Text)
    adaptive: Mapped[bool] = mapped_column()
    exam_code: Mapped[str] = mapped_column(Text)
    num_questions: Mapped[int] = mapped_column(Integer)
    num_pretest: Mapped[int] = mapped_column(Integer, server_default="0")
    # 1-based positions reserved for pretest items, drawn at random when the quiz starts.
    pretest_positions: Mapped[list[int]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    filters: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    # Resolved blueprint quota: {topic_id: count}.
    quota: Mapped[dict[str, int]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    parameter_set_id: Mapped[int | None] = mapped_column(ForeignKey("item_parameter_sets.id"))
    # Scored positions the start expected to fill with uncalibrated items (cold-start
    # defaults) because too few calibrated ones matched, and what the student was told.
    calibrated_short: Mapped[int] = mapped_column(Integer, server_default="0")
    notices: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    # Sympson-Hetter: question ids the exposure lottery set aside for the rest of this quiz.
    sh_rejected: Mapped[list[int]] = mapped_column(
        ARRAY(BigInteger), server_default=text("'{}'::bigint[]")
    )
    status: Mapped[str] = mapped_column(Text, server_default="active")
    theta: Mapped[float] = mapped_column(Float, server_default="0")
    theta_se: Mapped[float] = mapped_column(Float, server_default="1")
    raw_score: Mapped[int | None] = mapped_column(Integer)
    scaled_score: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = timestamp_now()
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # +1 on every UPDATE of the row (a trigger, migration 0003): the API writes from a state it
    # holds in memory only while this is still the version it read.
    state_version: Mapped[int] = mapped_column(BigInteger, server_default="0")


class QuizItem(Base):
    """An item served in a quiz: the exact version and the parameters it was scored with."""

    __tablename__ = "quiz_items"
    __table_args__ = (
        UniqueConstraint("quiz_id", "position"),
        UniqueConstraint("quiz_id", "question_id"),
        CheckConstraint("position >= 1", name="position_positive"),
        Index("ix_quiz_items_question_version", "question_version_id"),
        # Checked against the rows the item was made from (migration 0008 says why): its quiz,
        # of the same tenant, and its version, of the same question and topic.
        ForeignKeyConstraint(
            ["quiz_id", "tenant_id"],
            ["quiz_sessions.id", "quiz_sessions.tenant_id"],
            name="fk_quiz_items_quiz_of_tenant",
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["question_version_id", "question_id", "topic_id"],
            ["question_versions.id", "question_versions.question_id", "question_versions.topic_id"],
            name="fk_quiz_items_version_of_question_topic",
        ),
        UniqueConstraint("id", "quiz_id", "question_id", "question_version_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    quiz_id: Mapped[uuid.UUID] = mapped_column()
    tenant_id: Mapped[uuid.UUID] = mapped_column()
    question_id: Mapped[int] = mapped_column()
    question_version_id: Mapped[int] = mapped_column()
    version: Mapped[int] = mapped_column(Integer)
    topic_id: Mapped[int] = mapped_column()
    position: Mapped[int] = mapped_column(Integer)
    is_pretest: Mapped[bool] = mapped_column(server_default=text("false"))
    marked: Mapped[bool] = mapped_column(server_default=text("false"))
    a: Mapped[float] = mapped_column(Float)
    b: Mapped[float] = mapped_column(Float)
    c: Mapped[float] = mapped_column(Float)
    calibrated: Mapped[bool] = mapped_column(server_default=text("false"))
    # The set whose a, b, c above chose and scored the item; None: cold-start defaults.
    parameter_set_id: Mapped[int | None] = mapped_column(ForeignKey("item_parameter_sets.id"))
    served_at: Mapped[datetime] = timestamp_now()


class UserResponse(Base):
    """The answer to one served item, graded against the version that was served."""

    __tablename__ = "user_responses"
    __table_args__ = (
        CheckConstraint("time_taken_ms >= 0", name="time_nonnegative"),
        CheckConstraint("selected_label ~ '^[A-J]$'", name="label_letter"),
        CheckConstraint("revision >= 1", name="revision_positive"),
        Index("ix_user_responses_user_question", "user_id", "question_id"),
        # An answer is of its quiz's student, and answers the item served in that quiz, of that
        # question and version (migration 0008 says why these, not a key per parent).
        ForeignKeyConstraint(
            ["quiz_id", "tenant_id", "user_id"],
            ["quiz_sessions.id", "quiz_sessions.tenant_id", "quiz_sessions.user_id"],
            name="fk_user_responses_quiz_of_student",
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["quiz_item_id", "quiz_id", "question_id", "question_version_id"],
            [
                "quiz_items.id",
                "quiz_items.quiz_id",
                "quiz_items.question_id",
                "quiz_items.question_version_id",
            ],
            name="fk_user_responses_served_item",
            ondelete="CASCADE",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    quiz_item_id: Mapped[int] = mapped_column(unique=True)
    quiz_id: Mapped[uuid.UUID] = mapped_column(index=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column()
    user_id: Mapped[uuid.UUID] = mapped_column()
    question_id: Mapped[int] = mapped_column()
    question_version_id: Mapped[int] = mapped_column()
    selected_label: Mapped[str] = mapped_column(String(1))
    is_correct: Mapped[bool] = mapped_column()
    time_taken_ms: Mapped[int] = mapped_column(Integer)
    # Linear exam answers to marked items may be changed until the quiz finishes.
    revision: Mapped[int] = mapped_column(Integer, server_default="1")
    answered_at: Mapped[datetime] = timestamp_now()
    updated_at: Mapped[datetime] = timestamp_now()


class PerformanceCounter(Base):
    """A student's scored answers (serving_api.services.scored) in one exam code and topic:
    kept by the statement that makes an answer scored (an answer of a tutor quiz; a sealed
    exam's answers, by the seal), so a performance read costs O(topics), not O(answers)."""

    __tablename__ = "performance_counters"
    __table_args__ = (
        CheckConstraint("correct BETWEEN 0 AND answered", name="correct_within_answered"),
        Index("ix_performance_counters_tenant_exam", "tenant_id", "exam_code"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    exam_code: Mapped[str] = mapped_column(Text, primary_key=True)
    topic_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column()
    answered: Mapped[int] = mapped_column(Integer)
    correct: Mapped[int] = mapped_column(Integer)


class PerformanceDistribution(Base):
    """Per cohort, exam code ('' = all) and topic (0 = overall): how many students have each
    accuracy, how many are below it and how many are ranked — a cohort percentile is one index
    lookup. Derived from performance_counters (serving_api.services.performance)."""

    __tablename__ = "performance_distributions"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    cohort: Mapped[str] = mapped_column(String(64), primary_key=True)
    exam_key: Mapped[str] = mapped_column(Text, primary_key=True)
    topic_key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    accuracy: Mapped[float] = mapped_column(Float, primary_key=True)
    users: Mapped[int] = mapped_column(Integer)
    below: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)


class PerformanceDistributionGroup(Base):
    """When a (cohort, exam key) distribution was computed, and from how many counter rows."""

    __tablename__ = "performance_distribution_groups"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    cohort: Mapped[str] = mapped_column(String(64), primary_key=True)
    exam_key: Mapped[str] = mapped_column(Text, primary_key=True)
    refreshed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    counter_rows: Mapped[int] = mapped_column(Integer)
