"""The soak's pass/fail, from its time series (pure functions: tested without Kafka or Postgres).

Memory: the mean RSS of the last window minus that of the first window after warm-up, per process, below a
bound in MiB. Latency: the median of the per-bucket p99s in the last window within `p99_ratio` times that
of the first (a median, so one bucket when the shared machine's load average spiked moves neither). Errors:
no ERROR class in the logs that docs/reliability.md does not explain. And the end check found nothing.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from streams.devtools.error_lines import SOAK_SECTIONS, documented, error_message, explained
from streams.devtools.soak.config import SoakConfig

JUDGED_RSS = ("worker_rss_mib", "broker_rss_mib")


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading, `t_s` seconds after the load started."""

    t_s: float
    worker_rss_mib: float
    broker_rss_mib: float
    postgres_rss_mib: float
    lag: int
    sent: int
    answered: int
    loadavg_1m: float
    errors: int  # ERROR lines so far


@dataclass(frozen=True, slots=True)
class Bucket:
    """Command -> event latency of the commands answered in [start_s, start_s + bucket)."""

    start_s: float
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    first: float | None
    last: float | None
    bound: str
    passed: bool


@dataclass(frozen=True, slots=True)
class Verdict:
    checks: list[Check]
    unexplained_errors: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks) and not self.unexplained_errors and not self.problems

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "passed": self.passed}


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (the bench's: measure.PhaseResult.percentile), NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def bucket(start_s: float, latencies_ms: Sequence[float]) -> Bucket:
    return Bucket(
        start_s,
        len(latencies_ms),
        round(percentile(latencies_ms, 50), 2),
        round(percentile(latencies_ms, 99), 2),
        round(max(latencies_ms, default=float("nan")), 2),
    )


def windows(config: SoakConfig) -> tuple[tuple[float, float], tuple[float, float]]:
    """[start, end) of the first window after warm-up and of the last window."""
    first = (config.warmup_s, config.warmup_s + config.window_s)
    return first, (config.duration_s - config.window_s, config.duration_s + config.sample_every_s)


def _mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 1) if values else None


def _median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def rss_check(samples: Sequence[Sample], config: SoakConfig, column: str) -> Check:
    (a0, a1), (b0, b1) = windows(config)
    first = _mean([getattr(s, column) for s in samples if a0 <= s.t_s < a1])
    last = _mean([getattr(s, column) for s in samples if b0 <= s.t_s < b1])
    passed = first is not None and last is not None and last - first < config.rss_growth_mib
    return Check(column, first, last, f"last - first < {config.rss_growth_mib:g} MiB", passed)


def p99_check(buckets: Sequence[Bucket], config: SoakConfig) -> Check:
    (a0, a1), (b0, b1) = windows(config)
    counted = [b for b in buckets if b.count > 0]
    first = _median([b.p99_ms for b in counted if a0 <= b.start_s < a1])
    last = _median([b.p99_ms for b in counted if b0 <= b.start_s < b1])
    passed = first is not None and last is not None and last <= config.p99_ratio * first
    return Check("p99_ms", first, last, f"last <= {config.p99_ratio:g} x first", passed)


def judge(
    samples: Sequence[Sample],
    buckets: Sequence[Bucket],
    errors: Mapping[str, int],
    examples: Mapping[str, str],
    config: SoakConfig,
    problems: Sequence[str] = (),
    classes: Sequence[re.Pattern[str]] | None = None,
) -> Verdict:
    """`errors` counts ERROR lines by class, `examples` holds a line of each: a class is explained when
    its line's message is of a class docs/reliability.md lists for the soak (`SOAK_SECTIONS`)."""
    checks = [*(rss_check(samples, config, column) for column in JUDGED_RSS), p99_check(buckets, config)]
    known = documented(SOAK_SECTIONS) if classes is None else classes
    unexplained = {
        kind: n
        for kind, n in errors.items()
        if explained(error_message(examples.get(kind, "")) or kind, known) is None
    }
    return Verdict(checks, unexplained, list(problems))
