"""`jobstream bench`: throughput and latency against baselines measured in the same run."""

from __future__ import annotations

import asyncio
from typing import Annotated

import orjson
import typer

from streams.cli.local_extra import require_local_extra
from streams.devtools.bench.guard import OVERRIDE_FLAG, refusal
from streams.settings import Settings


def bench(
    commands: Annotated[int, typer.Option(help="Commands in the saturation mix.")] = 100_000,
    jobs: Annotated[int, typer.Option(help="Jobs the mix spreads over.")] = 10_000,
    baseline_commands: Annotated[int, typer.Option(help="Commands for the (slow) baseline.")] = 10_000,
    rate: Annotated[float, typer.Option(help="Offered load for the latency figures, commands/s.")] = 2_000.0,
    rate_seconds: Annotated[float, typer.Option(help="How long to offer that load.")] = 10.0,
    roles: Annotated[
        str,
        typer.Option(
            help="Roles of the measured worker: commands (the command path), or commands,downstream."
        ),
    ] = "commands",
    long_job: Annotated[
        int,
        typer.Option(
            help="Instead: one job through this many commands; CPU per command and table value size "
            "in its first and last window (they must not grow with the job's history)."
        ),
    ] = 0,
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    writes_data: Annotated[
        bool,
        typer.Option(
            OVERRIDE_FLAG,
            help="Run although KAFKA_BOOTSTRAP_SERVERS or DATABASE_URL is not the local stack: the bench "
            "creates topics and writes jobs there (and deletes them afterwards).",
        ),
    ] = False,
) -> None:
    """Measure the ceiling (Kafka pass-through), a Letta-style baseline, and the worker; check correctness.

    Runs against the local stack; everything it creates (topics, job rows) is removed afterwards."""
    settings = Settings.from_env()
    # Refused before anything connects; only then the devtools (they need the `local` extra).
    if not writes_data:
        line = refusal(settings, _writes(commands, jobs, baseline_commands, rate, rate_seconds, long_job))
        if line is not None:
            typer.echo(line, err=True)
            raise typer.Exit(2)
    require_local_extra("bench")
    from streams.devtools.bench import history
    from streams.devtools.bench.runner import BenchConfig, run

    if long_job:
        figures = asyncio.run(history.long_job(settings, long_job))
        typer.echo(orjson.dumps(figures).decode() if json else _history_table(figures))
        return
    config = BenchConfig(commands, jobs, baseline_commands, rate, rate_seconds, roles)
    result = asyncio.run(run(settings, config))
    if json:
        typer.echo(orjson.dumps(result).decode())
    else:
        _print_table(result)
    if not result["correct"]:
        typer.echo("bench: the final state in Postgres is WRONG: " + "; ".join(result["problems"]), err=True)
        raise typer.Exit(1)


def _writes(
    commands: int, jobs: int, baseline_commands: int, rate: float, rate_seconds: float, long_job: int
) -> str:
    """What a run would write, for the refusal: commands to Kafka, the rows of that many jobs to Postgres."""
    if long_job:
        return f"{long_job:,} commands and one job's rows"
    n_fixed = int(rate * rate_seconds)
    total = 3 * commands + min(baseline_commands, commands) + n_fixed
    return f"~{total:,} commands and the rows of {jobs:,}+ jobs"


def _print_table(r: dict[str, object]) -> None:
    lines = [
        f"mix: {r['commands']} commands over {r['jobs']} jobs (5% illegal, 1% duplicates); cpus={r['cpus']}",
        f"ceiling   (aiokafka pass-through) {r['ceiling_cps']:>10,.0f} commands/s",
        f"faust     (no-op agent pass-through) {r['faust_floor_cps']:>7,.0f} commands/s",
        f"baseline  (Letta-style, {r['baseline_commands']} cmds) {r['baseline_cps']:>10,.0f} commands/s",
        f"jobstream (worker: {r['worker_roles']}) {r['jobstream_cps']:>10,.0f} commands/s",
        f"ratios: jobstream/ceiling = {r['ratio_ceiling']}, jobstream/faust = {r['ratio_faust_floor']},"
        f" jobstream/baseline = {r['ratio_baseline']}",
        f"latency at {r['offered_rate_cps']:,.0f} cmd/s offered ({r['achieved_rate_cps']:,.0f} achieved):"
        f" p50={r['p50_ms']} ms p95={r['p95_ms']} ms p99={r['p99_ms']} ms",
        f"latency at saturation: {r['saturation']}",
        f"worker: peak RSS {r['worker_rss_mb']} MiB, CPU {r['worker_cpu_s']} s"
        f" ({r['worker_cpu_per_1k_commands_s']} s per 1k commands)",
        f"correct: {r['correct']}",
    ]
    typer.echo("\n".join(lines))


def _history_table(r: dict[str, object]) -> str:
    return "\n".join(
        [
            f"one job through {r['commands']:,} commands (windows of {r['window']:,})",
            f"CPU per command: {r['early_cpu_ms_per_cmd']} ms after {r['early_after']:,},"
            f" {r['late_cpu_ms_per_cmd']} ms after {r['late_after']:,}",
            f"ratio late/early = {r['ratio_late_early']}",
            f"table value: {r['early_value_bytes']} bytes, then {r['late_value_bytes']} bytes",
            f"changelog send errors in the worker log: {r['changelog_send_errors']}",
        ]
    )
