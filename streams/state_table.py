"""The Faust table of job state: the validator's fast path, a cache of Postgres (rule 11)."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust.streams import _current_event  # the store picks its partition from the current event

from schemas.job import JobState


@contextmanager
def _as_current(event: Any) -> Iterator[None]:
    """Faust routes table reads and writes by the event being processed; in a batch we say which."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class JobStateTable:
    """Reads and writes job state under the partition of the command that touched the job."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, event: Any, job_id: str) -> JobState | None:
        with _as_current(event):
            raw = self._table.get(job_id.encode())
        if raw is None:
            return None
        if not isinstance(raw, bytes | bytearray | memoryview):
            raise TypeError(f"job-state table holds {type(raw).__name__} for {job_id!r}, expected bytes")
        # rocksdict may hand back a bytes subclass, which orjson refuses: copy to plain bytes.
        return JobState.from_bytes(bytes(raw))

    def put(self, event: Any, state: JobState) -> None:
        with _as_current(event):
            self._table[state.id.encode()] = state.to_bytes()
