"""One `jobstream bench` run: ceiling, baseline and the real worker on the same machine and mix."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from storage.database import create_engine
from storage.migrate import upgrade
from streams.client import JobstreamClient
from streams.devtools.bench import baseline, ceiling, faust_floor
from streams.devtools.bench.measure import (
    Collector,
    PhaseResult,
    ResourceSampler,
    create_topics,
    phase_result,
    send_commands,
)
from streams.devtools.bench.scratch import Scratch, namespaced_env, new_run_id
from streams.devtools.bench.workload import Expected, Workload, build
from streams.devtools.service_process import ServiceProcess
from streams.settings import Settings

PHASE_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class BenchConfig:
    commands: int = 100_000
    jobs: int = 10_000
    baseline_commands: int = 10_000
    rate: float = 2_000.0
    rate_seconds: float = 10.0
    roles: str = "commands"


async def run(settings: Settings, config: BenchConfig, run_id: str | None = None) -> dict[str, Any]:
    """The whole run; whatever it created (topics, rows, worker state) is removed afterwards, also when
    it fails or is interrupted (Ctrl-C once: a second one stops the removal too)."""
    async with Scratch(settings, run_id or new_run_id("b")) as scratch:
        return await _run(settings, config, scratch)


async def _run(settings: Settings, config: BenchConfig, scratch: Scratch) -> dict[str, Any]:
    run_id = scratch.run_id
    upgrade(settings.postgres_url)
    print(f"bench {run_id}: {config.commands} commands over {config.jobs} jobs", file=sys.stderr, flush=True)
    ceiling_result = await _ceiling(settings, run_id, config)
    print(f"  ceiling: {ceiling_result.cps:,.0f} commands/s", file=sys.stderr, flush=True)
    floor_result = await _faust_floor(settings, scratch, config)
    print(f"  faust pass-through: {floor_result.cps:,.0f} commands/s", file=sys.stderr, flush=True)
    baseline_result = await _baseline(settings, scratch, config)
    print(f"  baseline: {baseline_result.cps:,.0f} commands/s", file=sys.stderr, flush=True)
    js = await _jobstream(settings, scratch, config)
    saturation, fixed, resources, correct, problems = js
    print(f"  jobstream: {saturation.cps:,.0f} commands/s", file=sys.stderr, flush=True)
    fixed_summary = fixed.summary()
    return {
        "run_id": run_id,
        "commands": config.commands,
        "jobs": config.jobs,
        "ceiling_cps": round(ceiling_result.cps, 1),
        "faust_floor_cps": round(floor_result.cps, 1),
        "baseline_cps": round(baseline_result.cps, 1),
        "baseline_commands": min(config.baseline_commands, config.commands),
        "jobstream_cps": round(saturation.cps, 1),
        "worker_roles": config.roles,
        "ratio_ceiling": round(saturation.cps / ceiling_result.cps, 3) if ceiling_result.cps else None,
        "ratio_faust_floor": round(saturation.cps / floor_result.cps, 3) if floor_result.cps else None,
        "ratio_baseline": round(saturation.cps / baseline_result.cps, 2) if baseline_result.cps else None,
        "offered_rate_cps": config.rate,
        "achieved_rate_cps": fixed_summary["cps"],
        "p50_ms": fixed_summary["p50_ms"],
        "p95_ms": fixed_summary["p95_ms"],
        "p99_ms": fixed_summary["p99_ms"],
        "saturation": {k: v for k, v in saturation.summary().items() if k != "cps"},
        "ceiling": ceiling_result.summary(),
        "baseline": baseline_result.summary(),
        "worker_rss_mb": round(resources["rss_mb"], 1),
        "worker_cpu_s": round(resources["cpu_s"], 2),
        "worker_cpu_per_1k_commands_s": round(resources["cpu_s"] / config.commands * 1000, 3),
        "correct": correct,
        "problems": problems[:10],
        "cpus": os.cpu_count(),
    }


async def _phase(
    name: str,
    bootstrap: str,
    source: str,
    sink: str,
    prefix: str,
    commands: list[tuple[bytes, bytes]],
    rate: float | None = None,
    process: ServiceProcess | None = None,
) -> PhaseResult:
    collector = Collector(bootstrap, sink, prefix.encode())
    await collector.start()
    try:
        sent = await send_commands(bootstrap, source, commands, rate)
        alive = process.alive if process is not None else (lambda: True)
        await collector.wait_for(len(commands), PHASE_TIMEOUT_S, progress=name, alive=alive)
    finally:
        await collector.stop()
    return phase_result(name, sent, collector.outputs, len(commands))


async def _ceiling(settings: Settings, run_id: str, config: BenchConfig) -> PhaseResult:
    source, sink = f"{run_id}.ceiling.in", f"{run_id}.ceiling.out"
    await create_topics(settings.bootstrap_servers, [source, sink], settings.partitions)
    workload = build(config.commands, config.jobs, f"{run_id}c")
    stop = asyncio.Event()
    task = asyncio.create_task(
        ceiling.pass_through(settings.bootstrap_servers, source, sink, f"{run_id}-c", stop)
    )
    try:
        return await _phase(
            "ceiling", settings.bootstrap_servers, source, sink, f"{run_id}c", workload.commands
        )
    finally:
        stop.set()
        await task


async def _faust_floor(settings: Settings, scratch: Scratch, config: BenchConfig) -> PhaseResult:
    run_id = scratch.run_id
    source, sink, group = f"{run_id}.floor.in", f"{run_id}.floor.out", f"{run_id}-floor"
    await create_topics(settings.bootstrap_servers, [source, sink], settings.partitions)
    workload = build(config.commands, config.jobs, f"{run_id}f0")
    scratch.folders.add(faust_floor.floor_datadir(settings, group))
    process = ServiceProcess(
        [source, sink, group],
        dict(os.environ),
        settings.home / "bench-logs" / f"{run_id}-floor.log",
        module="streams.devtools.bench.faust_floor",
    )
    process.start()
    try:
        return await _phase(
            "faust pass-through",
            settings.bootstrap_servers,
            source,
            sink,
            f"{run_id}f0",
            workload.commands,
            process=process,
        )
    finally:
        process.stop()


async def _baseline(settings: Settings, scratch: Scratch, config: BenchConfig) -> PhaseResult:
    run_id = scratch.run_id
    source, sink = f"{run_id}.baseline.in", f"{run_id}.baseline.out"
    await create_topics(settings.bootstrap_servers, [source, sink], settings.partitions)
    n = min(config.baseline_commands, config.commands)
    workload = build(n, max(1, n * config.jobs // config.commands), f"{run_id}l")
    scratch.add_jobs(workload.expected)
    engine = create_engine(settings.postgres_url)
    stop = asyncio.Event()
    task = asyncio.create_task(
        baseline.letta_style(settings.bootstrap_servers, engine, source, sink, f"{run_id}-l", stop)
    )
    try:
        return await _phase(
            "baseline", settings.bootstrap_servers, source, sink, f"{run_id}l", workload.commands
        )
    finally:
        stop.set()
        await task
        await engine.dispose()


async def _jobstream(
    settings: Settings, scratch: Scratch, config: BenchConfig
) -> tuple[PhaseResult, PhaseResult, dict[str, float], bool, list[str]]:
    run_id = scratch.run_id
    env = namespaced_env(run_id, config.roles)
    worker_settings = Settings.from_env(env)
    scratch.add_worker(worker_settings)
    topics = worker_settings.topics
    logs = settings.home / "bench-logs"
    worker = ServiceProcess(["worker"], env, logs / f"{run_id}-worker.log")
    worker.start()
    try:
        probe = f"{run_id}-probe-{uuid.uuid4().hex[:8]}"
        scratch.add_jobs([probe])
        await _wait_ready(worker_settings, probe)
        # The offered-load phase first: after saturation the worker's downstream agents still drain.
        n_fixed = int(config.rate * config.rate_seconds)
        fixed_load = build(n_fixed, max(1, n_fixed * config.jobs // config.commands), f"{run_id}f", seed=11)
        scratch.add_jobs(fixed_load.expected)
        fixed = await _phase(
            "jobstream@rate",
            settings.bootstrap_servers,
            topics.commands,
            topics.events,
            f"{run_id}f",
            fixed_load.commands,
            rate=config.rate,
            process=worker,
        )
        saturation_load = build(config.commands, config.jobs, f"{run_id}s")
        scratch.add_jobs(saturation_load.expected)
        async with ResourceSampler(worker.pid) as sampler:
            saturation = await _phase(
                "jobstream",
                settings.bootstrap_servers,
                topics.commands,
                topics.events,
                f"{run_id}s",
                saturation_load.commands,
                process=worker,
            )
        problems = await _check(settings.postgres_url, [saturation_load, fixed_load])
    finally:
        worker.stop()
    resources = {"rss_mb": sampler.peak_rss_mb, "cpu_s": sampler.cpu_seconds}
    return saturation, fixed, resources, not problems, problems


async def _wait_ready(settings: Settings, probe: str, timeout_s: float = 120) -> None:
    """Once the worker answers a probe job (one of the run's jobs: it is removed with them)."""
    async with JobstreamClient(settings.bootstrap_servers, settings.topics) as client:
        events = client.events(from_beginning=True, job_ids={probe})
        await client.create(probe)
        await asyncio.wait_for(anext(events), timeout_s)
        await events.aclose()


async def _check(database_url: str, workloads: list[Workload]) -> list[str]:
    """A fast wrong run is a failure: every job's final status and seq must be what the mix implies."""
    expected: dict[str, Expected] = {}
    for workload in workloads:
        expected.update(workload.expected)
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT id, status, seq FROM jobs WHERE id = ANY($1::text[])", list(expected)
        )
    finally:
        await connection.close()
    actual = {row["id"]: Expected(row["status"], row["seq"]) for row in rows}
    problems = [
        f"{job}: expected {want}, found {actual.get(job)}"
        for job, want in expected.items()
        if actual.get(job) != want
    ]
    return problems
