"""jobs: retry policies (attempt, max_attempts, retry_policy, retry_at) and heartbeats
(heartbeat_timeout_seconds, last_heartbeat_at, heartbeat_expires_at, heartbeat_partition/_offset), each
timer with its partial index

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

docs/contract.md rules 15 and 16. Existing jobs are on their first and only attempt (the defaults).
Adding nullable columns and columns with a constant default is instant; the two partial indexes are over
no rows yet, so they build at once.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# name -> (column, predicate); mirrored in storage/tables.py.
TIMERS = {
    "ix_jobs_retry_due": ("retry_at", "retry_at IS NOT NULL AND completed_at IS NULL"),
    "ix_jobs_heartbeat_due": (
        "heartbeat_expires_at",
        "heartbeat_expires_at IS NOT NULL AND completed_at IS NULL",
    ),
}


def upgrade() -> None:
    op.add_column("jobs", sa.Column("attempt", sa.Integer(), nullable=False, server_default=sa.text("1")))
    op.add_column(
        "jobs", sa.Column("max_attempts", sa.Integer(), nullable=False, server_default=sa.text("1"))
    )
    op.add_column("jobs", sa.Column("retry_policy", postgresql.JSONB(astext_type=sa.Text())))
    op.add_column("jobs", sa.Column("retry_at", sa.DateTime(timezone=True)))
    op.add_column("jobs", sa.Column("heartbeat_timeout_seconds", sa.Double()))
    op.add_column("jobs", sa.Column("last_heartbeat_at", sa.DateTime(timezone=True)))
    op.add_column("jobs", sa.Column("heartbeat_expires_at", sa.DateTime(timezone=True)))
    op.add_column("jobs", sa.Column("heartbeat_partition", sa.Integer()))
    op.add_column("jobs", sa.Column("heartbeat_offset", sa.BigInteger()))
    for name, (column, where) in TIMERS.items():
        op.create_index(name, "jobs", [column], postgresql_where=sa.text(where))


def downgrade() -> None:
    for name in TIMERS:
        op.drop_index(name, table_name="jobs")
    for column in (
        "heartbeat_offset",
        "heartbeat_partition",
        "heartbeat_expires_at",
        "last_heartbeat_at",
        "heartbeat_timeout_seconds",
        "retry_at",
        "retry_policy",
        "max_attempts",
        "attempt",
    ):
        op.drop_column("jobs", column)
