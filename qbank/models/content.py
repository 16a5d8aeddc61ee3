"""Topics, questions, their versions and options, and publications per exam code."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qbank.models.base import Base, LTree, timestamp_now

VERSION_STATES = ("draft", "review", "approved", "published", "retired")
EDIT_KINDS = ("minor", "substantive")
DIFFICULTY_LABELS = ("easy", "medium", "hard")


class Topic(Base):
    """A node of the topic hierarchy; `path` is an ltree of `t<id>` labels from the root."""

    __tablename__ = "topics"
    __table_args__ = (
        UniqueConstraint("tenant_id", "path"),
        # Siblings have distinct names (NULLS NOT DISTINCT: also among roots).
        Index(
            "uq_topics_sibling_name",
            "tenant_id",
            "parent_id",
            "name",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
        Index("ix_topics_path_gist", "path", postgresql_using="gist"),
        CheckConstraint("length(name) BETWEEN 1 AND 200", name="name_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id"))
    name: Mapped[str] = mapped_column(Text)
    blueprint_code: Mapped[str | None] = mapped_column(Text)
    path: Mapped[str] = mapped_column(LTree)
    created_at: Mapped[datetime] = timestamp_now()


class Question(Base):
    __tablename__ = "questions"
    __table_args__ = (UniqueConstraint("tenant_id", "external_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), index=True)
    external_ref: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = timestamp_now()

    versions: Mapped[list[QuestionVersion]] = relationship(
        back_populates="question", order_by="QuestionVersion.version"
    )


class QuestionVersion(Base):
    """One version of a question; it moves draft → review → approved → published → retired.

    The correct answer is `correct_label`, a foreign key into this version's own options, so a
    version has exactly one correct option by construction (checked at commit: deferrable).
    """

    __tablename__ = "question_versions"
    __table_args__ = (
        UniqueConstraint("question_id", "version"),
        UniqueConstraint("id", "question_id"),
        # Referenced by the quiz items served from the version (migration 0008).
        UniqueConstraint("id", "question_id", "topic_id"),
        CheckConstraint(
            "state IN ('draft','review','approved','published','retired')", name="state_known"
        ),
        CheckConstraint("difficulty_label IN ('easy','medium','hard')", name="difficulty_known"),
        CheckConstraint("edit_kind IN ('minor','substantive')", name="edit_kind_known"),
        CheckConstraint("bloom_level BETWEEN 1 AND 6", name="bloom_range"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("length(stem_md) >= 1 AND length(lead_in) >= 1", name="text_present"),
        CheckConstraint("jsonb_typeof(tags) IN ('object','array')", name="tags_json"),
        CheckConstraint("jsonb_typeof(assets) = 'array'", name="assets_array"),
        CheckConstraint("jsonb_typeof(\"references\") = 'array'", name="references_array"),
        ForeignKeyConstraint(
            ["id", "correct_label"],
            ["question_options.question_version_id", "question_options.label"],
            name="fk_question_versions_correct_option",
            deferrable=True,
            initially="DEFERRED",
            use_alter=True,
        ),
    )

    # Explicit: the composite FK to options would otherwise turn autoincrement off.
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"), index=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), index=True)
    version: Mapped[int] = mapped_column()
    state: Mapped[str] = mapped_column(Text, server_default="draft")
    stem_md: Mapped[str] = mapped_column(Text)
    lead_in: Mapped[str] = mapped_column(Text)
    rationale_md: Mapped[str] = mapped_column(Text, server_default="")
    correct_label: Mapped[str] = mapped_column(String(1))
    difficulty_label: Mapped[str] = mapped_column(Text, server_default="medium")
    bloom_level: Mapped[int | None] = mapped_column(SmallInteger)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id"), index=True)
    tags: Mapped[Any] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    assets: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    references: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    review_comment: Mapped[str | None] = mapped_column(Text)
    # How this version changed the published one it replaces (None for version 1 and for edits
    # of a never-published question): 'minor' (wording) keeps the psychometric item, so the
    # version is served with the item's calibrated parameters and its responses pool with the
    # item's earlier versions; 'substantive' starts a new, uncalibrated item.
    edit_kind: Mapped[str | None] = mapped_column(Text)
    # The version that started this version's psychometric item; None: this version starts one.
    item_root_version_id: Mapped[int | None] = mapped_column(ForeignKey("question_versions.id"))
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = timestamp_now()
    updated_at: Mapped[datetime] = timestamp_now()

    question: Mapped[Question] = relationship(back_populates="versions")
    options: Mapped[list[QuestionOption]] = relationship(
        order_by="QuestionOption.label",
        cascade="all, delete-orphan",
        # Not through fk_question_versions_correct_option, which points the other way.
        foreign_keys="QuestionOption.question_version_id",
    )


class QuestionOption(Base):
    __tablename__ = "question_options"
    __table_args__ = (
        CheckConstraint("label ~ '^[A-J]$'", name="label_letter"),
        CheckConstraint("length(text_md) >= 1", name="text_present"),
    )

    question_version_id: Mapped[int] = mapped_column(
        ForeignKey("question_versions.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(String(1), primary_key=True)
    text_md: Mapped[str] = mapped_column(Text)


class VersionTransition(Base):
    """Audit trail of the review workflow (who moved which version where, with a comment)."""

    __tablename__ = "version_transitions"
    __table_args__ = (
        CheckConstraint(
            "to_state IN ('draft','review','approved','published','retired')", name="state_known"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"))
    question_version_id: Mapped[int] = mapped_column(ForeignKey("question_versions.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(Text)
    to_state: Mapped[str] = mapped_column(Text)
    actor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = timestamp_now()


class QuestionPublication(Base):
    """The live version of a question for one exam code; publishing again moves it (upsert)."""

    __tablename__ = "question_publications"
    __table_args__ = (
        UniqueConstraint("question_id", "tenant_id", "exam_code"),
        ForeignKeyConstraint(
            ["question_version_id", "question_id"],
            ["question_versions.id", "question_versions.question_id"],
            name="fk_question_publications_version_of_question",
        ),
        CheckConstraint("exam_code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'", name="exam_code_format"),
        Index("ix_question_publications_tenant_exam", "tenant_id", "exam_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"))
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"))
    question_version_id: Mapped[int] = mapped_column()
    exam_code: Mapped[str] = mapped_column(Text)
    published_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
