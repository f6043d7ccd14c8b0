"""Storage errors with the flags callers branch on."""


class WriteConflict(RuntimeError):
    """Another writer changed a job since it was locked or validated; the batch is retried, which
    reloads the jobs from Postgres and re-validates."""


class StorageTimeout(TimeoutError):
    """Postgres did not answer in time (no connection, or no reply to a statement): an outage, retried."""
