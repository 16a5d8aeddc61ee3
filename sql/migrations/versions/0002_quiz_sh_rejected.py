"""quiz sessions remember sympson-hetter set-asides

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 19:09:06.535799
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "quiz_sessions",
        sa.Column(
            "sh_rejected",
            sa.ARRAY(sa.BigInteger()),
            server_default=sa.text("'{}'::bigint[]"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("quiz_sessions", "sh_rejected")
