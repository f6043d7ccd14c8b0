"""CPU accounting over a phase: process trees (a process and its descendants), grouped and differenced.

A tree's CPU is, over its live processes, user + system + the reaped children's user + system (what the
kernel adds to a parent once it has waited for a child), so a backend or helper that exits during the
phase is still counted once: in its own times while it lives, in its parent's afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import psutil

from streams.devtools.stack.stack import LocalStack
from streams.settings import Settings

MEASURED = "measured"  # the group of the process(es) under test; the others are the local stack's
STACK_GROUPS = ("postgres", "kafka")


class _Tree(Protocol):
    def cpu_times(self) -> Any: ...
    def children(self, recursive: bool = ...) -> Sequence[Any]: ...


def own_seconds(times: Any) -> float:
    """user + system of a process and of the children it has reaped (psutil's `cpu_times()`)."""
    return float(times.user + times.system + times.children_user + times.children_system)


def tree_seconds(process: _Tree) -> float:
    """CPU seconds of a process and every live descendant (each with what it has reaped)."""
    total = own_seconds(process.cpu_times())
    for child in process.children(recursive=True):
        try:
            total += own_seconds(child.cpu_times())
        except psutil.Error:  # gone since listed: its times are now its parent's
            continue
    return total


def group_seconds(pids: Iterable[int]) -> float:
    """CPU seconds of the trees rooted at `pids`; a root that is gone counts nothing."""
    total = 0.0
    for pid in pids:
        try:
            total += tree_seconds(psutil.Process(pid))
        except psutil.Error:
            continue
    return total


def stack_groups(settings: Settings) -> dict[str, list[int]]:
    """The local stack's server processes by service (the Postgres postmaster, whose children are the
    backends; the Kafka broker); an external or stopped service is left out."""
    return {s.name: [s.pid] for s in LocalStack(settings).status() if s.pid is not None and not s.external}


@dataclass(frozen=True, slots=True)
class PhaseCpu:
    """CPU per command over one phase: the measured process(es), and those plus Postgres and Kafka."""

    measured_s: float
    measured_ms_per_command: float | None
    system_ms_per_command: float | None


def phase_cpu(seconds: Mapping[str, float], commands: int) -> PhaseCpu:
    """From CPU seconds per group; the system figure needs both stack services (else None)."""
    measured = seconds.get(MEASURED, 0.0)
    system = sum(seconds.values()) if all(g in seconds for g in STACK_GROUPS) else None
    return PhaseCpu(measured, ms_per_command(measured, commands), ms_per_command(system, commands))


def ms_per_command(seconds: float | None, commands: int) -> float | None:
    return None if seconds is None or commands <= 0 else round(seconds / commands * 1000, 4)
