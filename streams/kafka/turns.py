"""Two batches in flight, in order: batch n+1 is decided and written while batch n's sends are acknowledged.

A batch spends about a third of its time waiting for Kafka to acknowledge what it publishes; a batch that
only starts after that wait makes every command that arrives meanwhile wait too. Each batch gets a turn
that says when it may go on:

- it may **commit** (read state, write Postgres) once the batch before it has committed, or has been
  settled some other way: it then decides against that batch's outcome, as if they had run one after
  the other;
- it may **publish** (events, dead letters) only once the batch before it is settled: a job's events
  reach the topic in seq order, also when the earlier batch had to be retried or narrowed down.

Offsets are acknowledged per batch after its settlement, so a batch whose sends are still open is never
committed; Faust commits only up to the first unacknowledged offset of a partition.
"""

from __future__ import annotations

import asyncio


class Turn:
    """One batch's place in the order of its agent's batches."""

    def __init__(self, previous: Turn | None = None) -> None:
        self._previous = previous
        self._committed = asyncio.Event()
        self._settled = asyncio.Event()

    async def may_commit(self) -> None:
        """Return once the batch before has committed (or is settled)."""
        if self._previous is not None:
            await self._previous._committed.wait()

    async def may_publish(self) -> None:
        """Return once the batch before has its outcomes, published."""
        if self._previous is not None:
            await self._previous._settled.wait()
            self._previous = None  # nothing more to wait for: let the chain go

    def committed(self) -> None:
        """This batch's writes are in Postgres and its states in the cache."""
        self._committed.set()

    def settled(self) -> None:
        """Every event of this batch has its outcome, published."""
        self._previous = None  # also when this batch never published (all its records forwarded)
        self._committed.set()
        self._settled.set()
