"""quiz sessions carry a state version, bumped by every change to the row

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 01:00:00

The API keeps the quiz states it has just read or written in memory and writes from them only
while `state_version` is still the one it knows (serving_api.services.quiz_cache). The trigger
makes that hold for any change of the session row, including an operator's direct UPDATE.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "quiz_sessions",
        sa.Column("state_version", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.execute(
        """
        CREATE FUNCTION quiz_sessions_bump_state_version() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          NEW.state_version := OLD.state_version + 1;
          RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER quiz_sessions_state_version BEFORE UPDATE ON quiz_sessions "
        "FOR EACH ROW EXECUTE FUNCTION quiz_sessions_bump_state_version()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER quiz_sessions_state_version ON quiz_sessions")
    op.execute("DROP FUNCTION quiz_sessions_bump_state_version()")
    op.drop_column("quiz_sessions", "state_version")
