"""`jobstream bench`: throughput, latency and CPU against baselines measured in the same run."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import orjson
import typer

from streams.cli.local_extra import require_local_extra
from streams.devtools.bench.config import BenchConfig
from streams.devtools.bench.guard import OVERRIDE_FLAG, refusal
from streams.settings import Settings


def bench(
    commands: Annotated[int, typer.Option(help="Commands in the saturation mix.")] = 100_000,
    jobs: Annotated[int, typer.Option(help="Jobs the mix spreads over.")] = 10_000,
    baseline_commands: Annotated[int, typer.Option(help="Commands for the (slow) baseline.")] = 10_000,
    rate: Annotated[
        float, typer.Option(help="A fixed offered load for the latency curve, commands/s.")
    ] = 2_000.0,
    point_seconds: Annotated[
        float | None,
        typer.Option(help="Longest a latency point offers its load, s (default: 10 at full size, 2 small)."),
    ] = None,
    point_samples: Annotated[
        int | None,
        typer.Option(help="Commands per latency point, if they take less (default: 5,000; 500 small)."),
    ] = None,
    roles: Annotated[
        str,
        typer.Option(
            help="Roles of the measured worker: commands (the command path), or commands,downstream."
        ),
    ] = "commands",
    workers: Annotated[
        int, typer.Option(min=1, help="Command workers sharing the partitions (one app id, own names).")
    ] = 1,
    long_job_commands: Annotated[
        int | None,
        typer.Option(
            help="Commands of the long-job phase (one job; CPU per command at its start and end); 0 skips"
            " it (default: 50,000 at full size, half of --commands below)."
        ),
    ] = None,
    long_job: Annotated[
        int,
        typer.Option(
            help="Instead: one job through this many commands; CPU per command and table value size "
            "in its first and last window (they must not grow with the job's history)."
        ),
    ] = 0,
    list_jobs: Annotated[
        int,
        typer.Option(
            min=0,
            help="Instead: load this many jobs (1000000 for the figures in docs/benchmarks.md) into a scratch"
            " database and print `GET /jobs`' query latency p50/p99 per filter and cursor; the database is"
            " dropped afterwards.",
        ),
    ] = 0,
    write_paths: Annotated[
        int,
        typer.Option(
            min=0,
            help="Instead: this many two-command batches through each of the command processor's write"
            " paths (one guarded statement, the locking transaction), alternating, against Postgres"
            " alone; p50/p90 per path and their ratio.",
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
    """Measure the ceiling (Kafka pass-through), Faust pass-through, a Letta-style baseline and the worker:
    throughput, a latency curve, CPU per command; a long job; check correctness.

    Runs against the local stack; everything it creates (topics, job rows) is removed afterwards."""
    settings = Settings.from_env()
    config = BenchConfig(
        commands=commands,
        jobs=jobs,
        baseline_commands=baseline_commands,
        rate=rate,
        roles=roles,
        workers=workers,
        point_seconds=point_seconds,
        point_samples=point_samples,
        long_job_commands=long_job_commands,
    )
    # Refused before anything connects; only then the devtools (they need the `local` extra).
    if not writes_data:
        line = refusal(settings, _writes(config, long_job, list_jobs, write_paths))
        if line is not None:
            typer.echo(line, err=True)
            raise typer.Exit(2)
    require_local_extra("bench")
    from streams.devtools.bench import history
    from streams.devtools.bench.runner import run

    if list_jobs:
        from streams.devtools.bench import listing

        found = asyncio.run(listing.run(settings.postgres_url, list_jobs))
        typer.echo(orjson.dumps(found).decode() if json else _listing_table(found))
        return
    if write_paths:
        from streams.devtools.bench import write_paths as paths

        timed = asyncio.run(paths.run(settings, write_paths))
        typer.echo(orjson.dumps(timed).decode() if json else _write_paths_table(timed))
        return
    if long_job:
        figures = asyncio.run(history.long_job(settings, long_job))
        typer.echo(orjson.dumps(figures).decode() if json else _history_table(figures))
        return
    result = asyncio.run(run(settings, config))
    typer.echo(orjson.dumps(result).decode() if json else _table(result))
    if not result["correct"]:
        typer.echo("bench: the final state in Postgres is WRONG: " + "; ".join(result["problems"]), err=True)
        raise typer.Exit(1)


def _writes(config: BenchConfig, long_job: int, list_jobs: int, write_paths: int) -> str:
    """What a run would write, for the refusal: commands to Kafka, the rows of that many jobs to Postgres."""
    if write_paths:
        return f"the rows of {2 * write_paths:,} jobs"
    if list_jobs:
        return f"{list_jobs:,} jobs into a scratch database"
    if long_job:
        return f"{long_job:,} commands and one job's rows"
    _, samples = config.point_size()
    total = 3 * config.commands + min(config.baseline_commands, config.commands) + 5 * samples
    return f"~{total + config.long_job_size():,} commands and the rows of {config.jobs:,}+ jobs"


def _write_paths_table(r: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"two-command batches, {r['batches']:,} per path, alternating (Postgres, no Kafka):",
            f"  one guarded statement   p50 {r['unchanged_p50_ms']} ms   p90 {r['unchanged_p90_ms']} ms",
            f"  locking transaction     p50 {r['locked_p50_ms']} ms   p90 {r['locked_p90_ms']} ms",
            f"  locked / one statement  {r['ratio_locked_to_unchanged']}x",
        ]
    )


def _ms(value: object) -> str:
    return "n/a" if value is None else f"{value} ms"


def _times(value: object) -> str:
    return "n/a" if value is None else f"x{value}"


def _table(r: dict[str, Any]) -> str:
    rows = [
        f"mix: {r['commands']} commands over {r['jobs']} jobs (5% illegal, 1% duplicates);"
        f" cpus={r['cpus']}, workers={r['workers']}",
        "throughput, and CPU per command of the process under test / of it + Postgres + Kafka:",
        _phase_row("ceiling   (aiokafka pass-through)", r["ceiling_cps"], r["ceiling"]),
        _phase_row("faust     (no-op agent pass-through)", r["faust_floor_cps"], r["faust_floor"]),
        _phase_row(
            f"baseline  (Letta-style, {r['baseline_commands']} cmds)", r["baseline_cps"], r["baseline"]
        ),
        _phase_row(
            f"jobstream ({r['workers']} worker(s): {r['worker_roles']})",
            r["jobstream_cps"],
            {"cpu_ms_per_command": r["worker_cpu_ms_per_command"], **r},
        ),
        f"throughput: jobstream/ceiling = {r['ratio_ceiling']}, jobstream/faust = {r['ratio_faust_floor']},"
        f" jobstream/baseline = {r['ratio_baseline']}",
        f"worker CPU per command: {_times(r['cpu_ratio_faust_floor'])} the faust pass-through's,"
        f" {_times(r['cpu_ratio_baseline'])} the baseline's; system CPU per command:"
        f" {_times(r['system_cpu_ratio_faust_floor'])} faust's, {_times(r['system_cpu_ratio_baseline'])}"
        " the baseline's",
        "latency curve (offered -> achieved commands/s: p50 / p95 / p99):",
        *(_curve_row(point, r["jobstream_cps"], r["offered_rate_cps"]) for point in r["latency_curve"]),
        f"latency at saturation: {r['saturation']}",
        f"worker: peak RSS {r['worker_rss_mb']} MiB, CPU {r['worker_cpu_s']} s",
        _long_job_row(r),
        f"correct: {r['correct']}",
    ]
    return "\n".join(rows)


def _phase_row(label: str, cps: float, figures: dict[str, Any]) -> str:
    return (
        f"  {label:<42} {cps:>10,.0f} commands/s   CPU {_ms(figures['cpu_ms_per_command'])}"
        f" / {_ms(figures['system_cpu_ms_per_command'])}"
    )


def _curve_row(point: dict[str, float], capacity: float, fixed: float) -> str:
    offered = point["offered_cps"]
    share = "fixed rate" if offered == round(fixed, 1) else f"{offered / capacity:.0%} of capacity"
    return (
        f"  {offered:>8,.0f} ({share}) -> {point['achieved_cps']:>8,.0f}:"
        f" {point['p50_ms']} / {point['p95_ms']} / {point['p99_ms']} ms"
    )


def _long_job_row(r: dict[str, Any]) -> str:
    if not r["long_job_commands"]:
        return "long job: skipped"
    job = r["long_job"]
    return (
        f"long job ({r['long_job_commands']:,} commands, windows of {job['window']:,}): worker CPU per"
        f" command {r['long_job_cpu_ms_first']} ms first, {r['long_job_cpu_ms_last']} ms last"
        f" (late/early {job['ratio_late_early']})"
    )


def _listing_table(r: dict[str, Any]) -> str:
    rows = [
        f"GET /jobs' query (storage.queries.jobs.list_jobs) at {r['jobs']:,} jobs, 60 % in the organization"
        f" asked about (loaded in {r['load_s']} s); ms:",
        f"  {'filter':<48} {'p50':>7} {'p99':>7}",
    ]
    rows.extend(f"  {name:<48} {f['p50_ms']:>7} {f['p99_ms']:>7}" for name, f in r["cases"].items())
    return "\n".join(rows)


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
