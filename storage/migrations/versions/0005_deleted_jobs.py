"""Deleting jobs (rule 14): the purge queue, the tombstone index, deliveries by job, terminal jobs by age

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_purges",
        sa.Column("job_id", sa.Text(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job_id", name="pk_job_purges"),
    )
    op.create_index(
        "ix_job_events_deleted",
        "job_events",
        ["job_id"],
        postgresql_where=sa.text("type = 'job.deleted'"),
    )
    op.create_index("ix_callback_deliveries_job", "callback_deliveries", ["job_id"])
    op.create_index(
        "ix_jobs_finished",
        "jobs",
        ["completed_at", "id"],
        postgresql_where=sa.text("completed_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_finished", table_name="jobs")
    op.drop_index("ix_callback_deliveries_job", table_name="callback_deliveries")
    op.drop_index("ix_job_events_deleted", table_name="job_events")
    op.drop_table("job_purges")
