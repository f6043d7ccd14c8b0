"""A `jobstream` command (worker, poller) or bench module as a child process: started, stopped, killed."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class ServiceProcess:
    """One long-running jobstream command with its own environment and log file."""

    def __init__(
        self, args: list[str], env: dict[str, str], log_path: Path, module: str = "streams.cli.main"
    ) -> None:
        self.args = args
        self.module = module
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, *self.args],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        assert self.proc is not None, "start() first"
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = 40) -> None:
        """SIGTERM and wait for a clean shutdown; SIGKILL if it does not come."""
        if self.proc is not None and self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to flush or commit anything."""
        if self.proc is not None and self.alive():
            self.proc.kill()
            self.proc.wait(10)
