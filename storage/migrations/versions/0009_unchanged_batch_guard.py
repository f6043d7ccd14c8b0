"""jobstream_batch_unchanged(): the guard of the command path's one-statement write (storage/job_store.py)
— locks a batch's jobs and says whether Postgres still holds what the worker's state table does;
jobstream_batch_abort(): rolls that statement back when one of its parts finds otherwise

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# plpgsql, VOLATILE: each query below takes a snapshot of its own, after the lock, so it sees whatever a
# worker that held these rows before committed (the calling statement's snapshot is older than the lock).
# `seqs` holds NULL for a job the worker believes new: a row for it is a difference too.
UNCHANGED = """
CREATE FUNCTION jobstream_batch_unchanged(
    ids text[], seqs int4[], command_jobs text[], command_ids text[]
) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM 1 FROM jobs WHERE id = ANY(ids) ORDER BY id FOR UPDATE;
    RETURN NOT EXISTS (
        SELECT 1 FROM unnest(ids, seqs) AS k(id, seq) LEFT JOIN jobs j ON j.id = k.id
        WHERE j.seq IS DISTINCT FROM k.seq
    ) AND NOT EXISTS (
        SELECT 1 FROM job_events WHERE type = 'job.deleted' AND job_id = ANY(ids)
    ) AND NOT EXISTS (
        SELECT 1 FROM job_events e JOIN unnest(command_jobs, command_ids) AS k(job_id, command_id)
        ON e.job_id = k.job_id AND e.command_id = k.command_id
    ) AND NOT EXISTS (
        SELECT 1 FROM job_rejections r JOIN unnest(command_jobs, command_ids) AS k(job_id, command_id)
        ON r.job_id = k.job_id AND r.command_id = k.command_id
    );
END
$$
"""
# SQLSTATE 40001 (serialization_failure): the statement is undone and the caller takes the locked path.
ABORT = """
CREATE FUNCTION jobstream_batch_abort(reason text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = reason;
END
$$
"""


def upgrade() -> None:
    op.execute(UNCHANGED)
    op.execute(ABORT)


def downgrade() -> None:
    op.execute("DROP FUNCTION jobstream_batch_abort(text)")
    op.execute("DROP FUNCTION jobstream_batch_unchanged(text[], int4[], text[], text[])")
