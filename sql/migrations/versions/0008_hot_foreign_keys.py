"""hot foreign keys: the served item and the answer checked against their quiz, not each parent

Revision ID: 0008_hot_foreign_keys
Revises: 0007_hot_tables
Create Date: 2026-12-07 15:00:00

Every `next` inserts a quiz item and every answer a response, each in one statement with the
quiz's state-version UPDATE and its outbox event (serving_api.services.delivery). PostgreSQL
checks a foreign key by locking the referenced row (`FOR KEY SHARE`): the items and answers
referenced six parent rows each, and the outbox row its tenant, so every step locked seven rows,
the tenant's on every request of every student. Concurrent lockers of one row share it through
a MultiXact, made anew for each new locker: measured under the next/answer mix (64 connections,
python -m bench.api), the foreign-key checks were 0.24 ms of PostgreSQL's 0.91 ms of CPU per
request.

The rows are now checked against the parents they were made from, which already checked theirs,
and the checks are stronger than before (the copies must agree, not only exist):
- a quiz item belongs to its quiz's tenant: (quiz_id, tenant_id) → quiz_sessions; its version is
  of its question and its topic is its version's: (question_version_id, question_id, topic_id) →
  question_versions (a version's topic is set while it is a draft and never after: only
  published versions are served);
- an answer is of its quiz's student and tenant: (quiz_id, tenant_id, user_id) → quiz_sessions,
  which the same statement has just updated (a lock it already holds); it answers the served
  item of its quiz, question and version: (quiz_item_id, quiz_id, question_id,
  question_version_id) → quiz_items;
- the outbox row keeps no foreign key: its tenant is the tenant of the row written by the same
  statement, which has its own, and the relay purges it hours after publishing it. A tenant cannot be
  deleted while its quizzes exist, so no event can outlive its tenant's quizzes either.
The quiz item's `parameter_set_id` keeps its key to the set (lineage). The new unique constraints
are what the composite keys reference: two on quiz_sessions (written once per quiz; its
per-step updates change no indexed column and stay HOT), one on quiz_items, one on
question_versions.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008_hot_foreign_keys"
down_revision: str | None = "0007_hot_tables"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNIQUES = (
    ("quiz_sessions", ("id", "tenant_id")),
    ("quiz_sessions", ("id", "tenant_id", "user_id")),
    ("quiz_items", ("id", "quiz_id", "question_id", "question_version_id")),
    ("question_versions", ("id", "question_id", "topic_id")),
)
# (table, name, local columns, referred table, referred columns, ondelete)
COMPOSITE = (
    ("quiz_items", "fk_quiz_items_quiz_of_tenant", ("quiz_id", "tenant_id"),
     "quiz_sessions", ("id", "tenant_id"), "CASCADE"),
    ("quiz_items", "fk_quiz_items_version_of_question_topic",
     ("question_version_id", "question_id", "topic_id"),
     "question_versions", ("id", "question_id", "topic_id"), None),
    ("user_responses", "fk_user_responses_quiz_of_student", ("quiz_id", "tenant_id", "user_id"),
     "quiz_sessions", ("id", "tenant_id", "user_id"), "CASCADE"),
    ("user_responses", "fk_user_responses_served_item",
     ("quiz_item_id", "quiz_id", "question_id", "question_version_id"),
     "quiz_items", ("id", "quiz_id", "question_id", "question_version_id"), "CASCADE"),
)  # fmt: skip
# The single-column keys the composite ones replace: (table, column, referred table, ondelete).
SINGLE = (
    ("quiz_items", "quiz_id", "quiz_sessions", "CASCADE"),
    ("quiz_items", "tenant_id", "tenants", None),
    ("quiz_items", "question_id", "questions", None),
    ("quiz_items", "question_version_id", "question_versions", None),
    ("quiz_items", "topic_id", "topics", None),
    ("user_responses", "quiz_item_id", "quiz_items", "CASCADE"),
    ("user_responses", "quiz_id", "quiz_sessions", "CASCADE"),
    ("user_responses", "tenant_id", "tenants", None),
    ("user_responses", "user_id", "users", None),
    ("user_responses", "question_id", "questions", None),
    ("user_responses", "question_version_id", "question_versions", None),
    ("event_outbox", "tenant_id", "tenants", None),
)


def _uq_name(table: str, cols: tuple[str, ...]) -> str:
    return f"uq_{table}_{'_'.join(cols)}"


def upgrade() -> None:
    for table, cols in UNIQUES:
        op.create_unique_constraint(_uq_name(table, cols), table, list(cols))
    for table, col, referred, _ondelete in SINGLE:
        op.drop_constraint(f"fk_{table}_{col}_{referred}", table, type_="foreignkey")
    for table, name, cols, referred, referred_cols, ondelete in COMPOSITE:
        op.create_foreign_key(
            name, table, referred, list(cols), list(referred_cols), ondelete=ondelete
        )


def downgrade() -> None:
    for table, name, *_ in reversed(COMPOSITE):
        op.drop_constraint(name, table, type_="foreignkey")
    for table, col, referred, ondelete in reversed(SINGLE):
        op.create_foreign_key(
            f"fk_{table}_{col}_{referred}", table, referred, [col], ["id"], ondelete=ondelete
        )
    for table, cols in reversed(UNIQUES):
        op.drop_constraint(_uq_name(table, cols), table, type_="unique")
