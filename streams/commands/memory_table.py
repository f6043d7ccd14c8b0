"""The job-state table as one process's dict: the command processor without Faust (the write-path bench
and the tests that drive the processor directly). Nothing is persisted or replicated."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from schemas.job import JobState


class MemoryStateTable:
    """A `StateCache` (streams/commands/processor.py) whose routing context is ignored."""

    def __init__(self) -> None:
        self.states: dict[str, JobState] = {}

    def get_many(self, items: Iterable[tuple[Any, str]]) -> dict[str, JobState | None]:
        return {job_id: self.states.get(job_id) for _, job_id in items}

    def put_many(self, items: Iterable[tuple[Any, JobState]]) -> None:
        self.states.update((state.id, state) for _, state in items)

    def delete_many(self, items: Iterable[tuple[Any, str]]) -> None:
        for _, job_id in items:
            self.states.pop(job_id, None)

    async def confirm(self) -> None:
        """Nothing to wait for: the dict is written at once."""
