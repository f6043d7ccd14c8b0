"""Pid files, process checks and the status report shared by the Kafka and Postgres supervisors."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class ServiceStatus:
    """One service as `jobstream stack status` reports it, whether we run it or it is configured
    externally (then there is no pid of ours to show)."""

    name: str
    running: bool
    address: str
    pid: int | None
    rss_mb: float | None
    external: bool = False


def service_status(name: str, pid_file: Path, address: str) -> ServiceStatus:
    """A supervised service's status from its pid file: running while that process lives."""
    pid = read_pid(pid_file)
    return ServiceStatus(name, pid is not None, address, pid, rss_mb(pid) if pid else None)


def read_pid(pid_file: Path) -> int | None:
    """The pid recorded in `pid_file` if that process is still alive, else None."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
    except psutil.NoSuchProcess:
        return None
    return pid


def terminate_all(pids: Iterable[int], timeout_s: float = 30.0) -> None:
    """SIGTERM, wait for a clean shutdown, then SIGKILL so no process is left behind; for several
    processes at once, all are asked together, so processes that need each
    other to shut down cleanly (a Kafka node waits for its controller quorum) are not stopped one by one
    into a quorum too small to answer; whatever is left after `timeout_s` is killed."""
    procs = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc = psutil.Process(pid)
            proc.send_signal(signal.SIGTERM)
            procs.append(proc)
    _, alive = psutil.wait_procs(procs, timeout=timeout_s)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)


def rss_mb(pid: int) -> float:
    """Resident memory of one process in MiB."""
    return psutil.Process(pid).memory_info().rss / 2**20
