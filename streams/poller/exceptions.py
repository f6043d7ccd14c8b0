"""Errors raised by batch providers, classified by whether trying again can help."""

from __future__ import annotations


class ProviderError(Exception):
    """A provider call failed.

    `retriable` is what the poller acts on: retriable errors (5xx, 429, timeouts, network) are
    retried with backoff; the rest (bad key, unknown batch) are not retried this round. Neither
    kind fails the batch: it stays running and is polled again next round. `retry_after` is the
    provider's own hint in seconds, when it gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        retriable: bool,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retriable = retriable
        self.status_code = status_code
        self.retry_after = retry_after

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({str(self)!r}, retriable={self.retriable}, status_code={self.status_code})"
