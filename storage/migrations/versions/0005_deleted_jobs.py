"""Deleting jobs (rule 14): purge queue, tombstone index, deliveries by job, terminal jobs by age; a
callback's trace context (§11); a job's messages in page order

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
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
    op.add_column("callback_deliveries", sa.Column("traceparent", sa.Text(), nullable=True))
    op.create_index("ix_job_messages_page", "job_messages", ["job_id", "created_at", "message_id"])
    op.create_index(
        "ix_jobs_finished",
        "jobs",
        ["completed_at", "id"],
        postgresql_where=sa.text("completed_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_finished", table_name="jobs")
    op.drop_index("ix_job_messages_page", table_name="job_messages")
    op.drop_column("callback_deliveries", "traceparent")
    op.drop_index("ix_callback_deliveries_job", table_name="callback_deliveries")
    op.drop_index("ix_job_events_deleted", table_name="job_events")
    op.drop_table("job_purges")
