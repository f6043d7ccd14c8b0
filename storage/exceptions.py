"""Storage errors with the flags callers branch on."""


class WriteConflict(RuntimeError):
    """Another writer changed a job since it was locked or validated; reload and re-validate."""

    retriable = True
