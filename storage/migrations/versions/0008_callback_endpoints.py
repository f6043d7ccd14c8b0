"""callback_endpoints: the circuit breaker of each callback endpoint (scheme://host:port), shared by every
dispatcher; callback_deliveries.endpoint (its key) and .held (deferred by the breaker, woken when it closes)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

MAX_ENDPOINT_LENGTH = 270  # schemas.callbacks.MAX_ENDPOINT_LENGTH, frozen here as migrations must be


def upgrade() -> None:
    op.create_table(
        "callback_endpoints",
        sa.Column("app_id", sa.Text(), primary_key=True),
        sa.Column("endpoint", sa.Text(), primary_key=True),
        sa.Column("host", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True)),
        sa.Column("next_probe_at", sa.DateTime(timezone=True)),
        sa.Column("probe_event_id", sa.Text()),
        sa.Column("probe_until", sa.DateTime(timezone=True)),
        sa.Column("disabled_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"length(endpoint) <= {MAX_ENDPOINT_LENGTH}", name="ck_callback_endpoints_key"),
        sa.CheckConstraint(
            "state IN ('closed', 'open', 'half_open', 'disabled')", name="ck_callback_endpoints_state"
        ),
    )
    op.create_index("ix_callback_endpoints_host", "callback_endpoints", ["app_id", "host"])
    op.add_column("callback_deliveries", sa.Column("endpoint", sa.Text()))
    op.add_column(
        "callback_deliveries", sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_index(
        "ix_callback_deliveries_endpoint",
        "callback_deliveries",
        ["app_id", "endpoint"],
        postgresql_where=sa.text("state = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_callback_deliveries_endpoint", table_name="callback_deliveries")
    op.drop_column("callback_deliveries", "held")
    op.drop_column("callback_deliveries", "endpoint")
    op.drop_index("ix_callback_endpoints_host", table_name="callback_endpoints")
    op.drop_table("callback_endpoints")
