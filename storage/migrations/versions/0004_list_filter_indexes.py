"""every list filter has an index within the organization; ix_jobs_created, which served no query, goes

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

docs/contract.md §9: at 100,000 jobs `job_type=batch` and a rare `stop_reason` read the whole table and
two `agent_id`s walked the created index. Each filter now has an index led by `organization_id` (every
listing is scoped by it), ending in the listing's order; `metadata.KEY=VALUE` containment has a GIN index,
and `order_by=duration` / `duration_gt` / `duration_lt` an index on the duration of finished jobs.

Plain CREATE INDEX (inside the migration's transaction) blocks writes to `jobs` while it builds: on a
large table, run `jobstream migrate` in a quiet moment before starting the new workers.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# name -> (columns, partial-index predicate or None); all on `jobs`, mirrored in storage/tables.py.
BTREE: dict[str, tuple[list[str | sa.TextClause], str | None]] = {
    "ix_jobs_org_type_created": (["organization_id", "job_type", "created_at", "id"], None),
    "ix_jobs_org_stop_created": (
        ["organization_id", "stop_reason", "created_at", "id"],
        "stop_reason IS NOT NULL",
    ),
    "ix_jobs_org_background_created": (
        ["organization_id", "background", "created_at", "id"],
        "background IS NOT NULL",
    ),
    "ix_jobs_org_agent_created": (["organization_id", "agent_id", "created_at"], "agent_id IS NOT NULL"),
    "ix_jobs_org_batch_created": (["organization_id", "batch_id", "created_at"], "batch_id IS NOT NULL"),
    # Not partial: the planner keeps statistics of an expression only for a whole-table index.
    "ix_jobs_org_duration": (["organization_id", sa.text("(completed_at - created_at)"), "id"], None),
}


def upgrade() -> None:
    op.drop_index("ix_jobs_created", table_name="jobs")
    op.drop_index("ix_jobs_agent_created", table_name="jobs")
    op.drop_index("ix_jobs_batch", table_name="jobs")
    for name, (columns, where) in BTREE.items():
        op.create_index(name, "jobs", columns, postgresql_where=sa.text(where) if where else None)
    op.create_index(
        "ix_jobs_metadata",
        "jobs",
        ["metadata"],
        postgresql_using="gin",
        postgresql_ops={"metadata": "jsonb_path_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_metadata", table_name="jobs")
    for name in BTREE:
        op.drop_index(name, table_name="jobs")
    op.create_index("ix_jobs_batch", "jobs", ["batch_id"])
    op.create_index("ix_jobs_agent_created", "jobs", ["agent_id", "created_at", "id"])
    op.create_index("ix_jobs_created", "jobs", ["created_at", "id"])
