"""batch_cancels: a cancelled batch's cancel at its provider, claimed by one poller and answered once;
batch_provider_states: what the provider last said about each batch

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_provider_states",
        sa.Column("batch_id", sa.Text(), primary_key=True),
        sa.Column("provider_status", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text()),
        sa.Column("request_counts", postgresql.JSONB(astext_type=sa.Text())),
        sa.Column("polled_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "batch_cancels",
        sa.Column("batch_id", sa.Text(), primary_key=True),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("provider_batch_id", sa.Text(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("outcome", sa.Text()),
        sa.Column("outcome_at", sa.DateTime(timezone=True)),
        sa.Column("error", sa.Text()),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.create_index(
        "ix_batch_cancels_open",
        "batch_cancels",
        ["requested_at"],
        postgresql_where=sa.text("finished_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_batch_cancels_open", table_name="batch_cancels")
    op.drop_table("batch_cancels")
    op.drop_table("batch_provider_states")
