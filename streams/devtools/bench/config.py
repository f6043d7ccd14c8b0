"""What a bench run measures and how long: `jobstream bench`'s options, sizes scaled to the mix (no I/O:
the CLI reads it before the devtools' dependencies are known to be there)."""

from __future__ import annotations

from dataclasses import dataclass

LONG_JOB_FULL = 50_000
MIN_WINDOW = 50  # the long job's smallest measured window (a third of a scaled-down job's history)


@dataclass(frozen=True)
class BenchConfig:
    """What to run; durations and the long job left None scale with `commands` (full size: 100,000)."""

    commands: int = 100_000
    jobs: int = 10_000
    baseline_commands: int = 10_000
    rate: float = 2_000.0
    roles: str = "commands"
    workers: int = 1
    point_seconds: float | None = None
    point_samples: int | None = None
    long_job_commands: int | None = None

    def point_size(self) -> tuple[float, int]:
        seconds, samples = scaled_point_size(self.commands)
        return self.point_seconds or seconds, self.point_samples or samples

    def long_job_size(self) -> int:
        if self.long_job_commands is not None:
            return self.long_job_commands
        return max(3 * MIN_WINDOW, min(LONG_JOB_FULL, self.commands // 2))

    def mix(self, commands: int | None = None) -> tuple[int, int]:
        """(commands, jobs) of a mix of `commands` (default: the saturation mix's), as many commands per
        job as the saturation mix."""
        n = self.commands if commands is None else commands
        return n, max(1, n * self.jobs // self.commands)


def scaled_point_size(commands: int) -> tuple[float, int]:
    """Longest duration and samples of a latency point for a mix of `commands`: 10 s and 5,000 at full
    size (100,000), down to 2 s and 500 for small runs."""
    return min(10.0, max(2.0, commands / 10_000)), min(5_000, max(500, commands // 10))
