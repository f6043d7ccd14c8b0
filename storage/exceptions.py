"""Storage errors with the flags callers branch on."""


class WriteConflict(RuntimeError):
    """Another writer changed a job since it was locked or validated; the batch is retried, which
    reloads the jobs from Postgres and re-validates.

    A conflict that outlasts `max_retries` attempts is no race but the data (e.g. `job_events` rows left
    behind by a job row an operator deleted): it is then treated as the batch's own failure."""

    max_retries = 10


class StorageTimeout(TimeoutError):
    """Postgres did not answer in time (no connection, or no reply to a statement): an outage, retried."""


class QueryTooSlow(RuntimeError):
    """A read the server cancelled at its `statement_timeout` (SQLSTATE 57014): asking again the same way
    fails again, so the caller narrows the question instead of retrying."""

    SQLSTATE = "57014"
