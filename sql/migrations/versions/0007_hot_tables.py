"""hot tables: performance counters and distributions, storage parameters of the hot tables

Revision ID: 0007_hot_tables
Revises: 0006_lifecycle
Create Date: 2026-12-07 05:00:00

- `performance_counters`: per student × exam code × topic, the scored answers and how many were
  right (serving_api.services.scored is the one definition). The delivery statements keep them
  in the statement that makes an answer scored: a tutor answer as it is recorded, a sealed exam's
  answers by the seal. Backfilled here from the answers already stored, by the same rule.
- `performance_distributions` / `performance_distribution_groups`: per cohort, exam code ('' =
  all) and topic (0 = overall), the students at each accuracy with the count below and the
  total ranked: `GET /v1/me/performance` reads its percentiles by index, in O(topics)
  (serving_api.services.performance says when they are recomputed).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_hot_tables"
down_revision: str | None = "0006_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The scored answers stored so far, counted as serving_api.services.scored.SCORED_ANSWERS
# defines them (a migration does not import the API; tests/serving_api/test_performance_counters
# checks that the two agree).
BACKFILL = """
INSERT INTO performance_counters (user_id, exam_code, topic_id, tenant_id, answered, correct)
SELECT r.user_id, s.exam_code, i.topic_id, r.tenant_id, count(*), count(*) FILTER (WHERE r.is_correct)
FROM user_responses r
JOIN quiz_items i ON i.id = r.quiz_item_id
JOIN quiz_sessions s ON s.id = r.quiz_id
WHERE NOT i.is_pretest AND (s.mode = 'tutor' OR s.status <> 'active')
GROUP BY r.user_id, s.exam_code, i.topic_id, r.tenant_id
"""


def upgrade() -> None:
    op.create_table(
        "performance_counters",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("exam_code", sa.Text(), nullable=False),
        sa.Column("topic_id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "correct BETWEEN 0 AND answered",
            name=op.f("ck_performance_counters_correct_within_answered"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_performance_counters_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "exam_code", "topic_id", name=op.f("pk_performance_counters")
        ),
    )
    op.create_index(
        "ix_performance_counters_tenant_exam",
        "performance_counters",
        ["tenant_id", "exam_code"],
        unique=False,
    )
    op.create_table(
        "performance_distributions",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("cohort", sa.String(length=64), nullable=False),
        sa.Column("exam_key", sa.Text(), nullable=False),
        sa.Column("topic_key", sa.BigInteger(), nullable=False),
        sa.Column("accuracy", sa.Float(), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
        sa.Column("below", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "cohort",
            "exam_key",
            "topic_key",
            "accuracy",
            name=op.f("pk_performance_distributions"),
        ),  # fmt: skip
    )
    op.create_table(
        "performance_distribution_groups",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("cohort", sa.String(length=64), nullable=False),
        sa.Column("exam_key", sa.Text(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("counter_rows", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "cohort", "exam_key", name=op.f("pk_performance_distribution_groups")
        ),
    )
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_table("performance_distribution_groups")
    op.drop_table("performance_distributions")
    op.drop_index("ix_performance_counters_tenant_exam", table_name="performance_counters")
    op.drop_table("performance_counters")
