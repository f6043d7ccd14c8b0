"""The soak's plots as PNG (matplotlib, the dev extra): RSS, consumer lag and p99 over time."""

from __future__ import annotations

from pathlib import Path

from streams.devtools.soak.runner import SoakResult


def draw(result: SoakResult, folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    minutes = [s.t_s / 60 for s in result.samples]
    warmup = result.config.warmup_s / 60
    title = f"soak {result.run_id}: {result.config.rate:,.0f} commands/s"
    written = []

    def save(name: str, ylabel: str) -> None:
        plt.axvline(warmup, color="grey", linestyle=":", label="end of warm-up")
        plt.xlabel("minutes")
        plt.ylabel(ylabel)
        plt.title(title)
        plt.legend(loc="best")
        plt.grid(alpha=0.3)
        plt.tight_layout()
        path = folder / name
        plt.savefig(path, dpi=100)
        plt.close()
        written.append(path)

    plt.figure(figsize=(9, 4))
    for column, label in (
        ("worker_rss_mib", "worker"),
        ("broker_rss_mib", "Kafka broker"),
        ("postgres_rss_mib", "Postgres (all backends)"),
    ):
        plt.plot(minutes, [getattr(s, column) for s in result.samples], label=label)
    save("rss.png", "RSS, MiB")

    _, lag_axes = plt.subplots(figsize=(9, 4))
    lag_axes.plot(minutes, [s.lag for s in result.samples], label="worker group lag, jobs.commands")
    load_axes = lag_axes.twinx()
    load_axes.plot(minutes, [s.loadavg_1m for s in result.samples], color="tab:red", alpha=0.4)
    load_axes.set_ylabel("machine load average (1 min), red")
    plt.sca(lag_axes)
    save("lag.png", "messages")

    plt.figure(figsize=(9, 4))
    counted = [b for b in result.buckets if b.count > 0]
    starts = [b.start_s / 60 for b in counted]
    plt.plot(starts, [b.p99_ms for b in counted], label="p99")
    plt.plot(starts, [b.p50_ms for b in counted], label="p50")
    plt.yscale("log")  # a backlog's seconds and a calm minute's milliseconds on one axis
    save("latency.png", "command -> event latency, ms (log)")
    return written
