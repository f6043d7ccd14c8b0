"""Pid files and process checks shared by the Kafka and Postgres supervisors."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import psutil


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


def terminate(pid: int, timeout_s: float = 30.0) -> None:
    """SIGTERM, wait for a clean shutdown, then SIGKILL so no process is left behind."""
    try:
        proc = psutil.Process(pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout_s)
    except psutil.NoSuchProcess:
        return
    except psutil.TimeoutExpired:
        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).wait(5)


def rss_mb(pid: int) -> float:
    """Resident memory of one process in MiB."""
    return psutil.Process(pid).memory_info().rss / 2**20


def wait_until(predicate: object, timeout_s: float, interval_s: float = 0.2) -> bool:
    """Poll `predicate()` until it is true or the time is up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(interval_s)
    return False
