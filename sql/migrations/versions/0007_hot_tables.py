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
- Storage parameters of the hot tables (issue 14, measured after a burst of answers):
  - `event_outbox`: autovacuum analyzed it once a minute and each ANALYZE cost more as the
    outbox grew (0.08 → 0.36 s of CPU, up to 1.1 s elapsed, in 5 minutes of the benchmark's
    load; 1.0–1.7 s for 25k events on the loaded box) — nearly all of it statistics on columns no
    query filters or joins on (the JSON payload above all). Those columns keep no statistics
    (0.2–0.36 s for the same table); dead rows of published and purged events are vacuumed in
    smaller, more frequent steps (5 % instead of 20 %).
  - `performance_counters`: updated by every scored answer; pages keep 30 % free so the update
    stays on its page (HOT: no index entry, pruned without vacuum).
  - `quiz_sessions`: updated by every step (99 % HOT in the benchmark); its rows grow
    (`sh_rejected`), so pages keep 15 % free for the updated versions.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_hot_tables"
down_revision: str | None = "0006_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Columns of the outbox that no query filters, joins or groups on: no statistics to compute.
OUTBOX_NO_STATS = ("payload", "event_id", "partition_key", "event_type", "tenant_id", "last_error")

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
    op.execute(
        "ALTER TABLE event_outbox "
        + ", ".join(f"ALTER COLUMN {c} SET STATISTICS 0" for c in OUTBOX_NO_STATS)
    )
    op.execute("ALTER TABLE event_outbox SET (autovacuum_vacuum_scale_factor = 0.05)")
    op.execute("ALTER TABLE performance_counters SET (fillfactor = 70)")
    op.execute("ALTER TABLE quiz_sessions SET (fillfactor = 85)")


def downgrade() -> None:
    op.execute("ALTER TABLE quiz_sessions RESET (fillfactor)")
    op.execute("ALTER TABLE event_outbox RESET (autovacuum_vacuum_scale_factor)")
    op.execute(
        "ALTER TABLE event_outbox "
        + ", ".join(f"ALTER COLUMN {c} SET STATISTICS -1" for c in OUTBOX_NO_STATS)
    )
    op.drop_table("performance_distribution_groups")
    op.drop_table("performance_distributions")
    op.drop_index("ix_performance_counters_tenant_exam", table_name="performance_counters")
    op.drop_table("performance_counters")
