"""callback deliveries belong to one deployment (app_id)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 09:00:00.000000

Deployments that share a database (namespaced test pipelines, staging beside production) each
deliver only their own callbacks: with their own allow-list and secrets, and recording the
outcome on their own command topic.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "callback_deliveries",
        sa.Column("app_id", sa.Text(), server_default=sa.text("'jobstream'"), nullable=False),
    )
    op.drop_index("ix_callback_due", table_name="callback_deliveries")
    op.create_index(
        "ix_callback_due",
        "callback_deliveries",
        ["app_id", "next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("state = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_callback_due", table_name="callback_deliveries")
    op.create_index(
        "ix_callback_due",
        "callback_deliveries",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.drop_column("callback_deliveries", "app_id")
