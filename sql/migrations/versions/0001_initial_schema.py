"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 18:39:54.809428
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import qbank.models.base

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS ltree")
    op.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
    op.execute("CREATE SCHEMA IF NOT EXISTS raw")
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.Column("value", sa.LargeBinary(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
        schema="raw",
    )
    op.create_index(
        "uq_dead_letters_source",
        "dead_letters",
        ["topic", "partition", "offset"],
        unique=True,
        schema="raw",
    )
    op.create_table(
        "events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("load_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("quiz_id", sa.Uuid(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("source_topic", sa.Text(), nullable=False),
        sa.Column("source_partition", sa.Integer(), nullable=False),
        sa.Column("source_offset", sa.BigInteger(), nullable=False),
        sa.Column(
            "ingested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_events")),
        sa.UniqueConstraint("load_id", name=op.f("uq_events_load_id")),
        schema="raw",
    )
    op.create_index(
        "ix_raw_events_type_load", "events", ["event_type", "load_id"], unique=False, schema="raw"
    )
    op.create_table(
        "ingestion_offsets",
        sa.Column("consumer_group", sa.Text(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint(
            "consumer_group", "topic", "partition", name=op.f("pk_ingestion_offsets")
        ),
        schema="raw",
    )
    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'", name=op.f("ck_tenants_slug_format")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("slug", name=op.f("uq_tenants_slug")),
    )
    op.create_table(
        "event_outbox",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("partition_key", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_event_outbox_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_event_outbox_event_id")),
    )
    op.create_index(
        "ix_event_outbox_pending",
        "event_outbox",
        ["id"],
        unique=False,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "item_parameter_sets",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("exam_code", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="candidate", nullable=False),
        sa.Column("model", sa.Text(), server_default="3PL", nullable=False),
        sa.Column("metric", sa.Text(), server_default="logistic_D1", nullable=False),
        sa.Column("created_by_run", sa.Text(), nullable=False),
        sa.Column("checks_passed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "metrics",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('candidate','active','superseded','rejected')",
            name=op.f("ck_item_parameter_sets_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_item_parameter_sets_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_parameter_sets")),
    )
    op.create_index(
        "uq_item_parameter_sets_one_active",
        "item_parameter_sets",
        ["tenant_id", "exam_code"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "topics",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("blueprint_code", sa.Text(), nullable=True),
        sa.Column("path", qbank.models.base.LTree(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("length(name) BETWEEN 1 AND 200", name=op.f("ck_topics_name_length")),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["topics.id"], name=op.f("fk_topics_parent_id_topics")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_topics_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topics")),
        sa.UniqueConstraint("tenant_id", "path", name=op.f("uq_topics_tenant_id_path")),
    )
    op.create_index(
        "ix_topics_path_gist", "topics", ["path"], unique=False, postgresql_using="gist"
    )
    op.create_index(op.f("ix_topics_tenant_id"), "topics", ["tenant_id"], unique=False)
    op.create_index(
        "uq_topics_sibling_name",
        "topics",
        ["tenant_id", "parent_id", "name"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("roles", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("cohort", sa.String(length=64), server_default="all", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "cardinality(roles) >= 1 AND roles <@ ARRAY['author','publisher','student','admin']::text[]",
            name=op.f("ck_users_roles_known"),
        ),
        sa.CheckConstraint("email ~ '^[^@\\s]+@[^@\\s]+$'", name=op.f("ck_users_email_format")),
        sa.CheckConstraint("length(cohort) BETWEEN 1 AND 64", name=op.f("ck_users_cohort_length")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_users_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_index(op.f("ix_users_tenant_id"), "users", ["tenant_id"], unique=False)
    op.create_index(
        "uq_users_email_lower", "users", [sa.literal_column("lower(email)")], unique=True
    )
    op.create_table(
        "questions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("external_ref", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_questions_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_questions_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questions")),
        sa.UniqueConstraint(
            "tenant_id", "external_ref", name=op.f("uq_questions_tenant_id_external_ref")
        ),
    )
    op.create_index(op.f("ix_questions_tenant_id"), "questions", ["tenant_id"], unique=False)
    op.create_table(
        "quiz_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("mode", sa.Text(), nullable=False),
        sa.Column("adaptive", sa.Boolean(), nullable=False),
        sa.Column("exam_code", sa.Text(), nullable=False),
        sa.Column("num_questions", sa.Integer(), nullable=False),
        sa.Column("num_pretest", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "pretest_positions",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "filters",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "quota",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("parameter_set_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.Text(), server_default="active", nullable=False),
        sa.Column("theta", sa.Float(), server_default="0", nullable=False),
        sa.Column("theta_se", sa.Float(), server_default="1", nullable=False),
        sa.Column("raw_score", sa.Integer(), nullable=True),
        sa.Column("scaled_score", sa.Integer(), nullable=True),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("mode IN ('tutor','exam')", name=op.f("ck_quiz_sessions_mode_known")),
        sa.CheckConstraint(
            "status IN ('active','finished','expired','pool_exhausted')",
            name=op.f("ck_quiz_sessions_status_known"),
        ),
        sa.CheckConstraint(
            "num_pretest >= 0 AND num_pretest <= num_questions",
            name=op.f("ck_quiz_sessions_pretest_range"),
        ),
        sa.CheckConstraint(
            "num_questions BETWEEN 1 AND 120", name=op.f("ck_quiz_sessions_num_questions_range")
        ),
        sa.ForeignKeyConstraint(
            ["parameter_set_id"],
            ["item_parameter_sets.id"],
            name=op.f("fk_quiz_sessions_parameter_set_id_item_parameter_sets"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_quiz_sessions_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_quiz_sessions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quiz_sessions")),
    )
    op.create_index(
        op.f("ix_quiz_sessions_tenant_id"), "quiz_sessions", ["tenant_id"], unique=False
    )
    op.create_index(
        "ix_quiz_sessions_user_started", "quiz_sessions", ["user_id", "started_at"], unique=False
    )
    op.create_table(
        "question_versions",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("question_id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.Text(), server_default="draft", nullable=False),
        sa.Column("stem_md", sa.Text(), nullable=False),
        sa.Column("lead_in", sa.Text(), nullable=False),
        sa.Column("rationale_md", sa.Text(), server_default="", nullable=False),
        sa.Column("correct_label", sa.String(length=1), nullable=False),
        sa.Column("difficulty_label", sa.Text(), server_default="medium", nullable=False),
        sa.Column("bloom_level", sa.SmallInteger(), nullable=True),
        sa.Column("topic_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "tags",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "assets",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "references",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("review_comment", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "difficulty_label IN ('easy','medium','hard')",
            name=op.f("ck_question_versions_difficulty_known"),
        ),
        sa.CheckConstraint(
            "jsonb_typeof(assets) = 'array'", name=op.f("ck_question_versions_assets_array")
        ),
        sa.CheckConstraint(
            "jsonb_typeof(tags) IN ('object','array')", name=op.f("ck_question_versions_tags_json")
        ),
        sa.CheckConstraint(
            "state IN ('draft','review','approved','published','retired')",
            name=op.f("ck_question_versions_state_known"),
        ),
        sa.CheckConstraint(
            "bloom_level BETWEEN 1 AND 6", name=op.f("ck_question_versions_bloom_range")
        ),
        sa.CheckConstraint(
            "jsonb_typeof(\"references\") = 'array'",
            name=op.f("ck_question_versions_references_array"),
        ),
        sa.CheckConstraint(
            "length(stem_md) >= 1 AND length(lead_in) >= 1",
            name=op.f("ck_question_versions_text_present"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_question_versions_version_positive")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_question_versions_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["questions.id"],
            name=op.f("fk_question_versions_question_id_questions"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_question_versions_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"], ["topics.id"], name=op.f("fk_question_versions_topic_id_topics")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_question_versions")),
        sa.UniqueConstraint("id", "question_id", name=op.f("uq_question_versions_id_question_id")),
        sa.UniqueConstraint(
            "question_id", "version", name=op.f("uq_question_versions_question_id_version")
        ),
    )
    op.create_index(
        op.f("ix_question_versions_question_id"), "question_versions", ["question_id"], unique=False
    )
    op.create_index(
        op.f("ix_question_versions_tenant_id"), "question_versions", ["tenant_id"], unique=False
    )
    op.create_index(
        op.f("ix_question_versions_topic_id"), "question_versions", ["topic_id"], unique=False
    )
    op.create_table(
        "item_parameters",
        sa.Column("set_id", sa.BigInteger(), nullable=False),
        sa.Column("question_version_id", sa.BigInteger(), nullable=False),
        sa.Column("question_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("a", sa.Float(), nullable=False),
        sa.Column("b", sa.Float(), nullable=False),
        sa.Column("c", sa.Float(), nullable=False),
        sa.Column("se_a", sa.Float(), nullable=True),
        sa.Column("se_b", sa.Float(), nullable=True),
        sa.Column("se_c", sa.Float(), nullable=True),
        sa.Column("k", sa.Float(), server_default="1", nullable=False),
        sa.Column("n_respondents", sa.Integer(), nullable=False),
        sa.Column("is_anchor", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.CheckConstraint("a > 0", name=op.f("ck_item_parameters_a_positive")),
        sa.CheckConstraint("c >= 0 AND c < 1", name=op.f("ck_item_parameters_c_range")),
        sa.CheckConstraint("k >= 0 AND k <= 1", name=op.f("ck_item_parameters_k_range")),
        sa.CheckConstraint("n_respondents >= 0", name=op.f("ck_item_parameters_n_nonnegative")),
        sa.ForeignKeyConstraint(
            ["question_id"], ["questions.id"], name=op.f("fk_item_parameters_question_id_questions")
        ),
        sa.ForeignKeyConstraint(
            ["question_version_id"],
            ["question_versions.id"],
            name=op.f("fk_item_parameters_question_version_id_question_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["set_id"],
            ["item_parameter_sets.id"],
            name=op.f("fk_item_parameters_set_id_item_parameter_sets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("set_id", "question_version_id", name=op.f("pk_item_parameters")),
    )
    op.create_index("ix_item_parameters_question", "item_parameters", ["question_id"], unique=False)
    op.create_table(
        "question_options",
        sa.Column("question_version_id", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.String(length=1), nullable=False),
        sa.Column("text_md", sa.Text(), nullable=False),
        sa.CheckConstraint("label ~ '^[A-J]$'", name=op.f("ck_question_options_label_letter")),
        sa.CheckConstraint("length(text_md) >= 1", name=op.f("ck_question_options_text_present")),
        sa.ForeignKeyConstraint(
            ["question_version_id"],
            ["question_versions.id"],
            name=op.f("fk_question_options_question_version_id_question_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("question_version_id", "label", name=op.f("pk_question_options")),
    )
    op.create_table(
        "question_publications",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("question_id", sa.BigInteger(), nullable=False),
        sa.Column("question_version_id", sa.BigInteger(), nullable=False),
        sa.Column("exam_code", sa.Text(), nullable=False),
        sa.Column("published_by", sa.Uuid(), nullable=False),
        sa.Column(
            "published_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "exam_code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'",
            name=op.f("ck_question_publications_exam_code_format"),
        ),
        sa.ForeignKeyConstraint(
            ["published_by"], ["users.id"], name=op.f("fk_question_publications_published_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["questions.id"],
            name=op.f("fk_question_publications_question_id_questions"),
        ),
        sa.ForeignKeyConstraint(
            ["question_version_id", "question_id"],
            ["question_versions.id", "question_versions.question_id"],
            name="fk_question_publications_version_of_question",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_question_publications_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_question_publications")),
        sa.UniqueConstraint(
            "question_id",
            "tenant_id",
            "exam_code",
            name=op.f("uq_question_publications_question_id_tenant_id_exam_code"),
        ),
    )
    op.create_index(
        "ix_question_publications_tenant_exam",
        "question_publications",
        ["tenant_id", "exam_code"],
        unique=False,
    )
    op.create_table(
        "quiz_items",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("quiz_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("question_id", sa.BigInteger(), nullable=False),
        sa.Column("question_version_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("is_pretest", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("marked", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("a", sa.Float(), nullable=False),
        sa.Column("b", sa.Float(), nullable=False),
        sa.Column("c", sa.Float(), nullable=False),
        sa.Column("calibrated", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "served_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint("position >= 1", name=op.f("ck_quiz_items_position_positive")),
        sa.ForeignKeyConstraint(
            ["question_id"], ["questions.id"], name=op.f("fk_quiz_items_question_id_questions")
        ),
        sa.ForeignKeyConstraint(
            ["question_version_id"],
            ["question_versions.id"],
            name=op.f("fk_quiz_items_question_version_id_question_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["quiz_id"],
            ["quiz_sessions.id"],
            name=op.f("fk_quiz_items_quiz_id_quiz_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_quiz_items_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"], ["topics.id"], name=op.f("fk_quiz_items_topic_id_topics")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quiz_items")),
        sa.UniqueConstraint("quiz_id", "position", name=op.f("uq_quiz_items_quiz_id_position")),
        sa.UniqueConstraint(
            "quiz_id", "question_id", name=op.f("uq_quiz_items_quiz_id_question_id")
        ),
    )
    op.create_index(
        "ix_quiz_items_question_version", "quiz_items", ["question_version_id"], unique=False
    )
    op.create_table(
        "version_transitions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("question_version_id", sa.BigInteger(), nullable=False),
        sa.Column("from_state", sa.Text(), nullable=True),
        sa.Column("to_state", sa.Text(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "to_state IN ('draft','review','approved','published','retired')",
            name=op.f("ck_version_transitions_state_known"),
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_version_transitions_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["question_version_id"],
            ["question_versions.id"],
            name=op.f("fk_version_transitions_question_version_id_question_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_version_transitions_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_version_transitions")),
    )
    op.create_index(
        op.f("ix_version_transitions_question_version_id"),
        "version_transitions",
        ["question_version_id"],
        unique=False,
    )
    op.create_table(
        "user_responses",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("quiz_item_id", sa.BigInteger(), nullable=False),
        sa.Column("quiz_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("question_id", sa.BigInteger(), nullable=False),
        sa.Column("question_version_id", sa.BigInteger(), nullable=False),
        sa.Column("selected_label", sa.String(length=1), nullable=False),
        sa.Column("is_correct", sa.Boolean(), nullable=False),
        sa.Column("time_taken_ms", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "answered_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "selected_label ~ '^[A-J]$'", name=op.f("ck_user_responses_label_letter")
        ),
        sa.CheckConstraint("revision >= 1", name=op.f("ck_user_responses_revision_positive")),
        sa.CheckConstraint("time_taken_ms >= 0", name=op.f("ck_user_responses_time_nonnegative")),
        sa.ForeignKeyConstraint(
            ["question_id"], ["questions.id"], name=op.f("fk_user_responses_question_id_questions")
        ),
        sa.ForeignKeyConstraint(
            ["question_version_id"],
            ["question_versions.id"],
            name=op.f("fk_user_responses_question_version_id_question_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["quiz_id"],
            ["quiz_sessions.id"],
            name=op.f("fk_user_responses_quiz_id_quiz_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["quiz_item_id"],
            ["quiz_items.id"],
            name=op.f("fk_user_responses_quiz_item_id_quiz_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_user_responses_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_responses_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_responses")),
        sa.UniqueConstraint("quiz_item_id", name=op.f("uq_user_responses_quiz_item_id")),
    )
    op.create_index(op.f("ix_user_responses_quiz_id"), "user_responses", ["quiz_id"], unique=False)
    op.create_index(
        "ix_user_responses_user_question",
        "user_responses",
        ["user_id", "question_id"],
        unique=False,
    )
    # Exactly one correct option per version: correct_label must name one of its own options
    # (checked at commit, since versions and options are inserted in one transaction).
    op.create_foreign_key(
        "fk_question_versions_correct_option",
        "question_versions",
        "question_options",
        ["id", "correct_label"],
        ["question_version_id", "label"],
        deferrable=True,
        initially="DEFERRED",
    )


def downgrade() -> None:
    op.drop_constraint(
        "fk_question_versions_correct_option", "question_versions", type_="foreignkey"
    )
    op.drop_index("ix_user_responses_user_question", table_name="user_responses")
    op.drop_index(op.f("ix_user_responses_quiz_id"), table_name="user_responses")
    op.drop_table("user_responses")
    op.drop_index(
        op.f("ix_version_transitions_question_version_id"), table_name="version_transitions"
    )
    op.drop_table("version_transitions")
    op.drop_index("ix_quiz_items_question_version", table_name="quiz_items")
    op.drop_table("quiz_items")
    op.drop_index("ix_question_publications_tenant_exam", table_name="question_publications")
    op.drop_table("question_publications")
    op.drop_table("question_options")
    op.drop_index("ix_item_parameters_question", table_name="item_parameters")
    op.drop_table("item_parameters")
    op.drop_index(op.f("ix_question_versions_topic_id"), table_name="question_versions")
    op.drop_index(op.f("ix_question_versions_tenant_id"), table_name="question_versions")
    op.drop_index(op.f("ix_question_versions_question_id"), table_name="question_versions")
    op.drop_table("question_versions")
    op.drop_index("ix_quiz_sessions_user_started", table_name="quiz_sessions")
    op.drop_index(op.f("ix_quiz_sessions_tenant_id"), table_name="quiz_sessions")
    op.drop_table("quiz_sessions")
    op.drop_index(op.f("ix_questions_tenant_id"), table_name="questions")
    op.drop_table("questions")
    op.drop_index("uq_users_email_lower", table_name="users")
    op.drop_index(op.f("ix_users_tenant_id"), table_name="users")
    op.drop_table("users")
    op.drop_index("uq_topics_sibling_name", table_name="topics", postgresql_nulls_not_distinct=True)
    op.drop_index(op.f("ix_topics_tenant_id"), table_name="topics")
    op.drop_index("ix_topics_path_gist", table_name="topics", postgresql_using="gist")
    op.drop_table("topics")
    op.drop_index(
        "uq_item_parameter_sets_one_active",
        table_name="item_parameter_sets",
        postgresql_where=sa.text("status = 'active'"),
    )
    op.drop_table("item_parameter_sets")
    op.drop_index(
        "ix_event_outbox_pending",
        table_name="event_outbox",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_table("event_outbox")
    op.drop_table("tenants")
    op.drop_table("ingestion_offsets", schema="raw")
    op.drop_index("ix_raw_events_type_load", table_name="events", schema="raw")
    op.drop_table("events", schema="raw")
    op.drop_index("uq_dead_letters_source", table_name="dead_letters", schema="raw")
    op.drop_table("dead_letters", schema="raw")
    op.execute("DROP SCHEMA IF EXISTS raw CASCADE")
