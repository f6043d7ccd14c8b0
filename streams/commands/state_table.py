"""The Faust table of job state: the validator's fast path, a cache of Postgres (rule 11)."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import faust
from faust.streams import _current_event  # the store picks its partition from the current event
from faust.types import FutureMessage

from schemas.job import JobState

T = TypeVar("T")
CHANGELOG_CONFIRM_TIMEOUT_S = 30.0


class ConfirmedChangelogTable(faust.Table):  # type: ignore[misc]  # Faust's generics are untyped here
    """A Faust table whose changelog writes can be awaited (`faust.App(Table=...)`, Faust's own seam).

    Faust sends a table's changelog record in the background and only logs a WARNING when the send
    fails, so a table a rebalance restores could be silently behind. Here the batch that wrote the
    values awaits their changelog records, and a failed or unconfirmed one fails the batch (retried).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unconfirmed: list[FutureMessage] = []

    def send_changelog(self, *args: Any, **kwargs: Any) -> FutureMessage:
        sent: FutureMessage = super().send_changelog(*args, **kwargs)
        self._unconfirmed.append(sent)
        return sent

    async def confirm_changelog(self) -> None:
        """Wait until every changelog record sent so far is acknowledged; raise if one failed or if
        they are not all acknowledged in time (an outage: the batch is retried and writes them again).

        Faust's own futures are waited on, never cancelled: its publish callback completes them.
        """
        pending, self._unconfirmed = self._unconfirmed, []
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=CHANGELOG_CONFIRM_TIMEOUT_S)
        if late:
            self._unconfirmed.extend(late)  # still Faust's; the retry waits for them too
            raise TimeoutError(
                f"{len(late)} changelog records of table {self.name!r} unacknowledged after "
                f"{CHANGELOG_CONFIRM_TIMEOUT_S:g} s"
            )
        for sent in pending:
            sent.result()  # raises the send's error, if any


@contextmanager
def _as_current(event: Any) -> Iterator[None]:
    """Faust routes table reads and writes by the event being processed; in a batch we say which."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class JobStateTable:
    """Reads and writes job state under the partition of the command that touched the job.

    Batched: the current-event context is switched once per partition, not once per job.
    """

    def __init__(self, table: ConfirmedChangelogTable) -> None:
        self._table = table

    def get_many(self, items: Iterable[tuple[Any, str]]) -> dict[str, JobState | None]:
        found: dict[str, JobState | None] = {}
        for event, job_ids in _by_partition(items):
            with _as_current(event):
                for job_id in job_ids:
                    found[job_id] = _decode(job_id, self._table.get(job_id.encode()))
        return found

    def put_many(self, items: Iterable[tuple[Any, JobState]]) -> None:
        for event, states in _by_partition(items):
            with _as_current(event):
                for state in states:
                    self._table[state.id.encode()] = state.to_bytes()

    async def confirm(self) -> None:
        """Every state put so far is durable on the table's changelog."""
        await self._table.confirm_changelog()


def _by_partition(items: Iterable[tuple[Any, T]]) -> list[tuple[Any, list[T]]]:
    groups: dict[int, tuple[Any, list[T]]] = {}
    for event, item in items:
        groups.setdefault(event.message.partition, (event, []))[1].append(item)
    return list(groups.values())


def _decode(job_id: str, raw: Any) -> JobState | None:
    if raw is None:
        return None
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(f"job-state table holds {type(raw).__name__} for {job_id!r}, expected bytes")
    # rocksdict may hand back a bytes subclass, which orjson refuses: copy to plain bytes.
    return JobState.from_bytes(bytes(raw))
