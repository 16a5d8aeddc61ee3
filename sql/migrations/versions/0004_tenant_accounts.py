"""accounts are scoped by tenant: the same e-mail may have an account in each tenant

Revision ID: 0004_tenant_accounts
Revises: 0003
Create Date: 2026-12-07 01:30:00

E-mails were unique across all tenants, so an admin creating a user whose e-mail existed only
in another tenant got a 409 that revealed the other tenant's user. Now an e-mail is unique
within its tenant; login names the tenant (its slug) or finds the one account whose password
matches (serving_api.api.routes.auth).

Existing rows need no change: unique across all tenants implies unique within each. The index
on tenant_id alone is dropped (the new unique index leads with tenant_id and serves its
lookups), and lower(email) keeps a plain index for logins that do not name the tenant.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_tenant_accounts"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "uq_users_tenant_email_lower",
        "users",
        ["tenant_id", sa.literal_column("lower(email)")],
        unique=True,
    )
    op.drop_index("uq_users_email_lower", table_name="users")
    op.create_index("ix_users_email_lower", "users", [sa.literal_column("lower(email)")])
    op.drop_index("ix_users_tenant_id", table_name="users")


def downgrade() -> None:
    shared = op.get_bind().scalar(
        sa.text(
            "SELECT count(*) FROM (SELECT 1 FROM users GROUP BY lower(email) "
            "HAVING count(*) > 1) AS s"
        )
    )
    if shared:
        # Refusing beats deleting accounts (and their quizzes) to make the old index fit.
        raise RuntimeError(
            f"cannot downgrade 0004_tenant_accounts: {shared} e-mail address(es) have accounts "
            "in more than one tenant, which the previous schema forbids. Find them with "
            "SELECT lower(email), array_agg(tenant_id) FROM users GROUP BY 1 HAVING count(*) > 1; "
            "rename or remove the extra accounts, then downgrade again."
        )
    op.create_index("ix_users_tenant_id", "users", ["tenant_id"])
    op.drop_index("ix_users_email_lower", table_name="users")
    op.create_index(
        "uq_users_email_lower", "users", [sa.literal_column("lower(email)")], unique=True
    )
    op.drop_index("uq_users_tenant_email_lower", table_name="users")
