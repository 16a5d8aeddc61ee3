"""item lifecycle: edit kinds, the live parameters as one view, sets out of service, lineage

Revision ID: 0006_lifecycle
Revises: 0003 (to become 0004_tenant_accounts when that migration is merged)
Create Date: 2026-12-07 01:40:00

- `question_versions.edit_kind` ('minor' | 'substantive', NULL for version 1 and edits of a
  never-published question) and `item_root_version_id`: the version that started the
  psychometric item this version belongs to (NULL: this version starts one). A minor edit
  stays in its predecessor's item, so it is served with the item's calibrated parameters and its
  responses pool with the earlier versions' in calibration; a substantive edit starts a new item.
- `live_item_parameters`: THE live parameters of each published version (the active set's row
  of the version itself, else of the latest earlier version of the same item in that set). The
  API's pool, calibration (anchors) and publishing all read it.
- `item_parameter_sets.status` gains 'retired': an operator took the set out of service (the
  exam code serves cold-start defaults until a set is activated again).
- `quiz_items.parameter_set_id`: the set whose parameters chose and scored the item (NULL when
  it was served with cold-start defaults); `quiz_sessions.calibrated_short` and `notices`: what
  the quiz start told the student about scored positions without calibrated items.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_lifecycle"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE_ITEM_PARAMETERS = """
CREATE VIEW live_item_parameters AS
SELECT DISTINCT ON (p.id)
       p.tenant_id, p.exam_code, p.question_id, p.question_version_id, v.version,
       s.id AS set_id,
       ip.question_version_id AS parameters_version_id,
       ip.a, ip.b, ip.c, ip.se_a, ip.se_b, ip.se_c, ip.k, ip.n_respondents, ip.is_anchor
FROM question_publications p
JOIN question_versions v ON v.id = p.question_version_id
JOIN item_parameter_sets s
  ON s.tenant_id = p.tenant_id AND s.exam_code = p.exam_code AND s.status = 'active'
JOIN item_parameters ip ON ip.set_id = s.id AND ip.question_id = p.question_id
JOIN question_versions pv ON pv.id = ip.question_version_id
WHERE coalesce(pv.item_root_version_id, pv.id) = coalesce(v.item_root_version_id, v.id)
  AND pv.version <= v.version
ORDER BY p.id, pv.version DESC
"""


def upgrade() -> None:
    op.add_column("question_versions", sa.Column("edit_kind", sa.Text(), nullable=True))
    op.create_check_constraint(
        op.f("ck_question_versions_edit_kind_known"),
        "question_versions",
        "edit_kind IN ('minor','substantive')",
    )
    op.add_column(
        "question_versions", sa.Column("item_root_version_id", sa.BigInteger(), nullable=True)
    )
    op.create_foreign_key(
        op.f("fk_question_versions_item_root_version_id_question_versions"),
        "question_versions",
        "question_versions",
        ["item_root_version_id"],
        ["id"],
    )

    op.drop_constraint(
        op.f("ck_item_parameter_sets_status_known"), "item_parameter_sets", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_item_parameter_sets_status_known"),
        "item_parameter_sets",
        "status IN ('candidate','active','superseded','rejected','retired')",
    )

    op.add_column("quiz_items", sa.Column("parameter_set_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        op.f("fk_quiz_items_parameter_set_id_item_parameter_sets"),
        "quiz_items",
        "item_parameter_sets",
        ["parameter_set_id"],
        ["id"],
    )
    op.add_column(
        "quiz_sessions",
        sa.Column("calibrated_short", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column(
        "quiz_sessions",
        sa.Column(
            "notices",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.execute(LIVE_ITEM_PARAMETERS)


def downgrade() -> None:
    op.execute("DROP VIEW live_item_parameters")
    op.drop_column("quiz_sessions", "notices")
    op.drop_column("quiz_sessions", "calibrated_short")
    op.drop_constraint(
        op.f("fk_quiz_items_parameter_set_id_item_parameter_sets"), "quiz_items", type_="foreignkey"
    )
    op.drop_column("quiz_items", "parameter_set_id")
    op.execute("UPDATE item_parameter_sets SET status = 'superseded' WHERE status = 'retired'")
    op.drop_constraint(
        op.f("ck_item_parameter_sets_status_known"), "item_parameter_sets", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_item_parameter_sets_status_known"),
        "item_parameter_sets",
        "status IN ('candidate','active','superseded','rejected')",
    )
    op.drop_constraint(
        op.f("fk_question_versions_item_root_version_id_question_versions"),
        "question_versions",
        type_="foreignkey",
    )
    op.drop_column("question_versions", "item_root_version_id")
    op.drop_constraint(
        op.f("ck_question_versions_edit_kind_known"), "question_versions", type_="check"
    )
    op.drop_column("question_versions", "edit_kind")
