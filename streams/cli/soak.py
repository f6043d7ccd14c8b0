"""`jobstream soak`: a steady share of capacity for an hour, memory, lag and latency sampled, then judged."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from typing import Annotated

import typer

from streams.cli.local_extra import require_local_extra
from streams.devtools.bench.guard import OVERRIDE_FLAG, refusal
from streams.devtools.soak.config import DEFAULT_RATE, SoakConfig
from streams.settings import Settings


def soak(
    duration: Annotated[
        float,
        typer.Option(
            min=10,
            help="Seconds of load (the verdict's windows scale below"
            " an hour's warm-up of 600 s and windows of 600 s).",
        ),
    ] = 3600.0,
    rate: Annotated[float, typer.Option(min=1, help="Commands per second (about 30 % of capacity here).")] = (
        DEFAULT_RATE
    ),
    rss_growth_mib: Annotated[float, typer.Option(help="Largest RSS growth after warm-up, MiB.")] = 50.0,
    p99_ratio: Annotated[float, typer.Option(help="Largest last-window p99 over the first's.")] = 2.0,
    batches: Annotated[
        bool, typer.Option(help="Batch jobs on a fake Anthropic provider with a poller.")
    ] = True,
    results: Annotated[
        Path | None,
        typer.Option(help="Folder for samples.csv, latency.csv, result.json (default: the run's)."),
    ] = None,
    plots: Annotated[Path | None, typer.Option(help="Folder for rss.png, lag.png, latency.png.")] = None,
    writes_data: Annotated[
        bool, typer.Option(OVERRIDE_FLAG, help="Run although Kafka or Postgres is not the local stack.")
    ] = False,
    judge: Annotated[
        Path | None,
        typer.Option(
            help="Instead: judge a finished run's result.json again by the current rules (its bounds and"
            " series as recorded; the docs' explained ERRORs as now), and write and draw it as asked."
        ),
    ] = None,
) -> None:
    """Run a worker at a steady load (creates with callbacks to a local receiver, jobs that expire,
    batches, completions and failures) and print the verdict: RSS flat after warm-up, p99 flat, no ERROR
    the docs do not explain, every job where it should end. Exits 1 when it fails."""
    settings = Settings.from_env()
    if not writes_data and judge is None:
        line = refusal(settings, f"~{int(duration * rate):,} commands and their jobs' rows")
        if line is not None:
            typer.echo(line, err=True)
            raise typer.Exit(2)
    require_local_extra("soak")
    if plots is not None and importlib.util.find_spec("matplotlib") is None:
        typer.echo(
            "error: the soak's plots need matplotlib (the dev extra: pip install -e '.[dev]')", err=True
        )
        raise typer.Exit(2)
    from streams.devtools.soak import report
    from streams.devtools.soak.runner import run

    if judge is not None:
        result = report.rejudged(judge)
        written = report.write(result, results) if results is not None else []
    else:
        config = SoakConfig(
            duration_s=duration,
            rate=rate,
            rss_growth_mib=rss_growth_mib,
            p99_ratio=p99_ratio,
            batches=batches,
        )
        result = asyncio.run(run(settings, config))
        written = report.write(result, results or result.folder)
    if plots is not None:
        from streams.devtools.soak import plots as drawing

        written += drawing.draw(result, plots)
    typer.echo(report.table(result))
    if written:
        typer.echo("written: " + ", ".join(str(p) for p in written))
    if not result.verdict.passed:
        raise typer.Exit(1)
