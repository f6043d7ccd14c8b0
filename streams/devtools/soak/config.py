"""What a soak run does and how it is judged: `jobstream soak`'s options (no I/O: the CLI reads it before
the devtools' dependencies are known to be there)."""

from __future__ import annotations

from dataclasses import dataclass, replace

# ~30 % of the worker's measured capacity on the shared 2-core machine (~3,000 commands/s).
DEFAULT_RATE = 600.0


@dataclass(frozen=True)
class SoakConfig:
    """The run's load and sampling, and the verdict's bounds (docs/reliability.md "Soak")."""

    duration_s: float = 3600.0
    rate: float = DEFAULT_RATE
    sample_every_s: float = 10.0
    latency_bucket_s: float = 60.0  # p50/p99 per bucket ("per minute")
    warmup_s: float = 600.0
    window_s: float = 600.0  # the first window after warm-up and the last one, compared
    rss_growth_mib: float = 50.0  # worker and broker RSS, mean of the last window minus the first's
    p99_ratio: float = 2.0  # last window's p99 over the first's
    batches: bool = True
    batch_every_s: float = 30.0
    batch_items: int = 10
    batch_provider_s: float = 15.0  # how long the fake provider keeps a batch in progress

    def scaled(self) -> SoakConfig:
        """Warm-up, windows, sampling and latency buckets shrink with a short run (a smoke run's warm-up is
        its first third, and its windows the two halves of the rest)."""
        if self.duration_s >= self.warmup_s + 2 * self.window_s:
            return self
        warmup = self.duration_s / 3
        window = (self.duration_s - warmup) / 2
        return replace(
            self,
            warmup_s=warmup,
            window_s=window,
            sample_every_s=min(self.sample_every_s, max(1.0, window / 4)),
            latency_bucket_s=min(self.latency_bucket_s, max(1.0, window / 3)),
            batch_every_s=min(self.batch_every_s, max(2.0, self.duration_s / 6)),
            batch_provider_s=min(self.batch_provider_s, max(1.0, self.duration_s / 10)),
        )
