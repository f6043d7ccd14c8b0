"""An in-memory cancel ledger with the Postgres one's semantics (claims with leases, answers once)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from storage.queries.batch_cancels import CancelOutcome, CancelRequest
from storage.queries.batches import RunningBatch


@dataclass
class Entry:
    request: CancelRequest
    claimed_until: float | None = None
    attempts: int = 0
    outcome: CancelOutcome | None = None
    error: str | None = None
    finished: bool = False


class MemoryCancelLedger:
    """`streams.poller.cancelling.CancelLedger` for tests without Postgres; `entries` is the table."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}

    def owe(self, batch: RunningBatch) -> Entry:
        """A cancel owed for `batch`, as the events step records it."""
        request = CancelRequest(batch.batch_job_id, batch.provider, batch.provider_batch_id)
        return self.entries.setdefault(batch.batch_job_id, Entry(request))

    def _open(self, entry: Entry) -> bool:
        return entry.outcome is None and not entry.finished

    async def due(self) -> list[CancelRequest]:
        now = time.monotonic()
        return [
            e.request
            for e in self.entries.values()
            if self._open(e) and (e.claimed_until is None or e.claimed_until < now)
        ]

    async def claim(self, batch_job_id: str, lease_s: float) -> bool:
        entry, now = self.entries[batch_job_id], time.monotonic()
        if not self._open(entry) or (entry.claimed_until is not None and entry.claimed_until >= now):
            return False
        entry.claimed_until, entry.attempts = now + lease_s, entry.attempts + 1
        return True

    async def record(
        self, batch_job_id: str, outcome: CancelOutcome, error: str | None, *, finished: bool
    ) -> None:
        entry = self.entries[batch_job_id]
        if entry.outcome is None:
            entry.outcome, entry.error, entry.finished, entry.claimed_until = outcome, error, finished, None

    async def release(self, batch_job_id: str, error: str) -> None:
        entry = self.entries[batch_job_id]
        if entry.outcome is None:
            entry.claimed_until, entry.error = None, error

    async def following(self) -> list[RunningBatch]:
        return [
            RunningBatch(*e.request)
            for e in self.entries.values()
            if e.outcome is not None and not e.finished
        ]
