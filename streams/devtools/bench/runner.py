"""One `jobstream bench` run: ceiling, Faust pass-through, baseline, the real worker(s), a long job."""

from __future__ import annotations

import sys
from typing import Any

import asyncpg

from storage.migrate import upgrade
from streams.devtools.bench import faust_floor, history
from streams.devtools.bench.config import BenchConfig
from streams.devtools.bench.curve import Point, curve_points
from streams.devtools.bench.measure import PhaseResult, settle
from streams.devtools.bench.phases import Load, Measured, child_phase, phase, sampled_phase
from streams.devtools.bench.report import Phases, report
from streams.devtools.bench.scratch import Scratch, namespaced_env, new_run_id
from streams.devtools.bench.workers import Workers
from streams.devtools.bench.workload import Expected, Workload, build
from streams.settings import Settings


async def run(settings: Settings, config: BenchConfig, run_id: str | None = None) -> dict[str, Any]:
    """The whole run; whatever it created (topics, rows, worker state) is removed afterwards, also when
    it fails or is interrupted (Ctrl-C once: a second one stops the removal too)."""
    async with Scratch(settings, run_id or new_run_id("b")) as scratch:
        return report(config, scratch.run_id, await _run(settings, config, scratch))


def _say(line: str) -> None:
    print(f"  {line}", file=sys.stderr, flush=True)


async def _run(settings: Settings, config: BenchConfig, scratch: Scratch) -> Phases:
    run_id = scratch.run_id
    upgrade(settings.postgres_url)
    print(f"bench {run_id}: {config.commands} commands over {config.jobs} jobs", file=sys.stderr, flush=True)
    ceiling = await _child("ceiling", "ceiling", settings, scratch, f"{run_id}c", config.mix())
    _say(f"ceiling: {ceiling.result.cps:,.0f} commands/s")
    scratch.folders.add(faust_floor.floor_datadir(settings, f"{run_id}-floor"))
    floor = await _child(
        "faust pass-through", "floor", settings, scratch, f"{run_id}f0", config.mix(), "faust_floor"
    )
    _say(f"faust pass-through: {floor.result.cps:,.0f} commands/s")
    mix = config.mix(min(config.baseline_commands, config.commands))
    baseline = await _child("baseline", "baseline", settings, scratch, f"{run_id}l", mix)
    _say(f"baseline: {baseline.result.cps:,.0f} commands/s")
    saturation, curve, loads = await _jobstream(settings, scratch, config)
    long_job = None
    if config.long_job_size():
        long_job = await history.long_job_phase(settings, config.long_job_size(), scratch, "-h")
        loads.append(Workload(expected={long_job["job_id"]: Expected("created", long_job["commands"])}))
    problems = await _check(settings.postgres_url, loads)
    return Phases(ceiling, floor, baseline, saturation, curve, long_job, problems)


async def _child(
    name: str,
    tag: str,
    settings: Settings,
    scratch: Scratch,
    prefix: str,
    mix: tuple[int, int],
    module: str | None = None,
) -> Measured:
    """A phase of a bench module's own process (`streams.devtools.bench.<module or tag>`)."""
    load = build(*mix, prefix)
    scratch.add_jobs(load.expected)  # only the baseline writes rows; the others' ids match none
    module_path = f"streams.devtools.bench.{module or tag}"
    return await child_phase(name, tag, module_path, settings, scratch, load, prefix)


async def _jobstream(
    settings: Settings, scratch: Scratch, config: BenchConfig
) -> tuple[Measured, list[tuple[Point, PhaseResult]], list[Workload]]:
    """Saturation first: it gives the capacity the curve is a share of; then the curve."""
    run_id = scratch.run_id
    env = namespaced_env(run_id, config.roles)
    worker_settings = Settings.from_env(env)
    scratch.add_worker(worker_settings)
    route = (worker_settings.topics.commands, worker_settings.topics.events)
    workers = Workers(env, config.workers, settings.home / "bench-logs", run_id)
    workers.start()
    try:
        await workers.wait_ready(worker_settings, scratch)
        saturation_load = build(config.commands, config.jobs, f"{run_id}s")
        scratch.add_jobs(saturation_load.expected)
        load = Load("jobstream", route, f"{run_id}s", saturation_load.commands)
        saturation = await sampled_phase(settings, load, workers.pids, workers.alive)
        _say(f"jobstream: {saturation.result.cps:,.0f} commands/s ({config.workers} worker(s))")
        curve, loads = await _curve(settings, scratch, config, route, workers, saturation.result.cps)
    finally:
        workers.stop()
    return saturation, curve, [saturation_load, *loads]


async def _curve(
    settings: Settings,
    scratch: Scratch,
    config: BenchConfig,
    route: tuple[str, str],
    workers: Workers,
    capacity_cps: float,
) -> tuple[list[tuple[Point, PhaseResult]], list[Workload]]:
    """Each point of the latency curve, lowest load first, once the workers are idle again."""
    curve, loads = [], []
    for i, point in enumerate(curve_points(capacity_cps, config.rate, *config.point_size())):
        if not await settle(workers.pids):
            _say("the workers are still busy after 60 s; measuring the next point anyway")
        prefix = f"{scratch.run_id}p{i}"
        point_load = build(*config.mix(point.commands), prefix, seed=11 + i)
        scratch.add_jobs(point_load.expected)
        loads.append(point_load)
        load = Load(f"jobstream@{point.offered_cps:,.0f}/s", route, prefix, point_load.commands)
        result = await phase(settings.bootstrap_servers, load, rate=point.offered_cps, alive=workers.alive)
        _say(f"offered {point.offered_cps:,.0f}/s: {result.summary()}")
        curve.append((point, result))
    return curve, loads


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
