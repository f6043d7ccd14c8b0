"""Table definitions; other tools query these names, so they are an interface too."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

jobs = Table(
    "jobs",
    metadata,
    Column("id", Text, primary_key=True),
    Column("job_type", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("stop_reason", Text),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("organization_id", Text),
    Column("agent_id", Text),
    Column("background", Boolean),
    Column("request_config", JSONB),
    Column("batch_id", Text),
    Column("provider", Text),
    Column("provider_batch_id", Text),
    Column("callback_url", Text),
    Column("callback_sent_at", DateTime(timezone=True)),
    Column("callback_status_code", Integer),
    Column("callback_error", Text),
    Column("callback_attempts", Integer, nullable=False, server_default=text("0")),
    Column("timeout_seconds", Double),
    Column("expires_at", DateTime(timezone=True)),
    Column("ttft_ns", BigInteger),
    Column("total_duration_ns", BigInteger),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True)),
    # Rules 15 and 16 (migration 0007).
    Column("attempt", Integer, nullable=False, server_default=text("1")),
    Column("max_attempts", Integer, nullable=False, server_default=text("1")),
    Column("retry_policy", JSONB),
    Column("retry_at", DateTime(timezone=True)),
    Column("heartbeat_timeout_seconds", Double),
    Column("last_heartbeat_at", DateTime(timezone=True)),
    Column("heartbeat_expires_at", DateTime(timezone=True)),
    Column("heartbeat_partition", Integer),
    Column("heartbeat_offset", BigInteger),
    # docs/contract.md §9: every list filter has an index led by the organization (every query is scoped
    # by it) and ending in the listing's order, so a page reads about `limit` rows. Where the filtered
    # column is itself an id, `id` is left off the end: three 256-character ids of 4-byte UTF-8 exceed
    # the 2704 bytes a btree row may take (contract §3 Bounds); ties on created_at are then sorted.
    Index("ix_jobs_org_created", "organization_id", "created_at", "id"),
    Index("ix_jobs_org_status_created", "organization_id", "status", "created_at", "id"),
    Index("ix_jobs_org_type_created", "organization_id", "job_type", "created_at", "id"),
    Index(
        "ix_jobs_org_stop_created",
        "organization_id",
        "stop_reason",
        "created_at",
        "id",
        postgresql_where=text("stop_reason IS NOT NULL"),
    ),
    Index(
        "ix_jobs_org_background_created",
        "organization_id",
        "background",
        "created_at",
        "id",
        postgresql_where=text("background IS NOT NULL"),
    ),
    Index(
        "ix_jobs_org_agent_created",
        "organization_id",
        "agent_id",
        "created_at",
        postgresql_where=text("agent_id IS NOT NULL"),
    ),
    Index(
        "ix_jobs_org_batch_created",
        "organization_id",
        "batch_id",
        "created_at",
        postgresql_where=text("batch_id IS NOT NULL"),
    ),
    # `order_by=duration` and `duration_gt`/`_lt`: a job's duration exists once it is terminal (null
    # before). Not partial, so that ANALYZE keeps statistics of the expression for the planner.
    Index("ix_jobs_org_duration", "organization_id", text("(completed_at - created_at)"), "id"),
    # `metadata.KEY=VALUE` is containment (`metadata @> …`); jsonb_path_ops indexes exactly that operator,
    # hashing each path to a value, smaller than the default opclass.
    Index(
        "ix_jobs_metadata", "metadata", postgresql_using="gin", postgresql_ops={"metadata": "jsonb_path_ops"}
    ),
    # Rule 10: the expiry scan only looks at jobs that can still expire.
    # Retention (rule 14): terminal jobs by when they finished.
    Index("ix_jobs_finished", "completed_at", "id", postgresql_where=text("completed_at IS NOT NULL")),
    Index(
        "ix_jobs_expiring",
        "expires_at",
        postgresql_where=text("expires_at IS NOT NULL AND completed_at IS NULL"),
    ),
    # Rule 15: the backoffs that end; rule 16: the running jobs whose heartbeat can lapse.
    Index(
        "ix_jobs_retry_due",
        "retry_at",
        postgresql_where=text("retry_at IS NOT NULL AND completed_at IS NULL"),
    ),
    Index(
        "ix_jobs_heartbeat_due",
        "heartbeat_expires_at",
        postgresql_where=text("heartbeat_expires_at IS NOT NULL AND completed_at IS NULL"),
    ),
)

job_events = Table(
    "job_events",
    metadata,
    Column("event_id", Text, nullable=False, unique=True),
    Column("job_id", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("command_id", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("job_id", "seq", name="uq_job_events_job_seq"),
    # Rule 7: a command id is applied to a job at most once, enforced by the database too.
    UniqueConstraint("job_id", "command_id", name="uq_job_events_job_command"),
    # Rule 14: a deleted job's tombstone, found per batch whatever the job's history was.
    Index("ix_job_events_deleted", "job_id", postgresql_where=text("type = 'job.deleted'")),
)

# Rule 7 extended to rejections: a redelivered or retried rejected command re-emits its rejection
# instead of being decided again against a state that later commands produced.
job_rejections = Table(
    "job_rejections",
    metadata,
    Column("job_id", Text, nullable=False),
    Column("command_id", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("job_id", "command_id", name="pk_job_rejections"),
)

# Rule 14: deleted jobs whose history (events but the tombstone, messages, rejections) is still being
# removed, in bounded steps (storage/purge.py).
job_purges = Table(
    "job_purges",
    metadata,
    Column("job_id", Text, nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("job_id", name="pk_job_purges"),
)

job_messages = Table(
    "job_messages",
    metadata,
    Column("job_id", Text, nullable=False),
    Column("message_id", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("job_id", "message_id", name="uq_job_messages_pair"),
    Index("ix_job_messages_page", "job_id", "created_at", "message_id"),  # a job's messages, paged
)

batch_items = Table(
    "batch_items",
    metadata,
    Column("batch_id", Text, nullable=False),
    Column("custom_id", Text, nullable=False),
    Column("job_id", Text, nullable=False),
    Column("result_status", Text),
    Column("result", JSONB),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("batch_id", "custom_id", name="uq_batch_items_custom"),
    Index("ix_batch_items_job", "job_id"),
)

callback_deliveries = Table(
    "callback_deliveries",
    metadata,
    # One delivery per terminal event: webhook-id = event_id on every attempt.
    Column("event_id", Text, primary_key=True),
    # The deployment (Faust app id) that delivers it: with its own allow-list, secrets and topics.
    Column("app_id", Text, nullable=False, server_default=text("'jobstream'")),
    Column("job_id", Text, nullable=False),
    Column("organization_id", Text),
    Column("url", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("state", Text, nullable=False, server_default=text("'pending'")),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("traceparent", Text),  # the terminal event's W3C trace context, sent with every attempt
    # The circuit breaker's key (schemas.callbacks.endpoint_key; NULL: no breaker, or a row from before
    # 0008) and whether the breaker deferred it (held rows are made due when their endpoint closes).
    Column("endpoint", Text),
    Column("held", Boolean, nullable=False, server_default=text("false")),
    Index("ix_callback_due", "app_id", "next_attempt_at", postgresql_where=text("state = 'pending'")),
    Index("ix_callback_deliveries_job", "job_id"),  # a deleted job's deliveries go with it (rule 14)
    Index(
        "ix_callback_deliveries_endpoint", "app_id", "endpoint", postgresql_where=text("state = 'pending'")
    ),
)

# docs/contract.md §7 "Circuit breaker": one row per endpoint that has failed since its last success
# (a success deletes it, unless disabled), shared by every dispatcher of the deployment.
callback_endpoints = Table(
    "callback_endpoints",
    metadata,
    Column("app_id", Text, nullable=False),
    Column("endpoint", Text, nullable=False),  # "scheme://host:port", at most MAX_ENDPOINT_LENGTH
    Column("host", Text, nullable=False),
    Column("state", Text, nullable=False),  # closed | open | half_open | disabled
    Column("failures", Integer, nullable=False),  # in a row
    Column("failing_since", DateTime(timezone=True), nullable=False),  # the first of them
    Column("opened_at", DateTime(timezone=True)),
    Column("next_probe_at", DateTime(timezone=True)),
    Column("probe_event_id", Text),  # the delivery that probes (or will): one at a time
    Column("probe_until", DateTime(timezone=True)),  # the probe's lease
    Column("disabled_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("app_id", "endpoint"),
    Index("ix_callback_endpoints_host", "app_id", "host"),
)

# docs/contract.md §8: what the provider last said about a batch (its status and counters), the
# latest poll winning; a batch's progress while no item result exists yet.
batch_provider_states = Table(
    "batch_provider_states",
    metadata,
    Column("batch_id", Text, primary_key=True),
    Column("provider_status", Text, nullable=False),
    Column("outcome", Text),
    Column("request_counts", JSONB),
    Column("polled_at", DateTime(timezone=True), nullable=False),
)

# docs/contract.md §8 "Cancel": one row per batch job cancelled by a command. The claim (`claimed_until`)
# lets one poller at a time work on it; `outcome` set means the provider answered and no cancel is sent
# again; `finished_at` set means the provider ended the batch and its results were applied.
batch_cancels = Table(
    "batch_cancels",
    metadata,
    Column("batch_id", Text, primary_key=True),
    Column("provider", Text, nullable=False),
    Column("provider_batch_id", Text, nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("claimed_until", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("outcome", Text),  # acknowledged | already_ended | refused
    Column("outcome_at", DateTime(timezone=True)),
    Column("error", Text),
    Column("finished_at", DateTime(timezone=True)),
    Index("ix_batch_cancels_open", "requested_at", postgresql_where=text("finished_at IS NULL")),
)
