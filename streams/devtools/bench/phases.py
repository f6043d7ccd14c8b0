"""A measured phase: commands sent, outputs collected, CPU of the process under test and of the stack."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson

from streams.devtools.bench.cpu import MEASURED, PhaseCpu, phase_cpu, stack_groups
from streams.devtools.bench.measure import (
    Collector,
    PhaseResult,
    ResourceSampler,
    create_topics,
    phase_result,
    send_commands,
)
from streams.devtools.bench.scratch import Scratch
from streams.devtools.bench.workload import Workload
from streams.devtools.service_process import ServiceProcess
from streams.settings import Settings

PHASE_TIMEOUT_S = 900.0
READY_TIMEOUT_S = 180.0
Alive = Callable[[], bool]


@dataclass(frozen=True, slots=True)
class Measured:
    """A phase's throughput and latency, and the CPU it cost (`measured` = the process(es) under test)."""

    result: PhaseResult
    cpu: PhaseCpu
    peak_rss_mb: float


@dataclass(frozen=True, slots=True)
class Load:
    """Commands to send to `route[0]`, whose outputs on `route[1]` have keys starting with `prefix`."""

    name: str
    route: tuple[str, str]
    prefix: str
    commands: Sequence[tuple[bytes, bytes]]


async def phase(
    bootstrap: str, load: Load, rate: float | None = None, alive: Alive = lambda: True
) -> PhaseResult:
    """Send the commands (at `rate`/s, or as fast as possible) and wait for their outputs, read from the
    output topic's end as it was before the first send."""
    source, sink = load.route
    collector = Collector(bootstrap, sink, load.prefix.encode())
    await collector.start(from_end=True)
    try:
        sent = await send_commands(bootstrap, source, load.commands, rate)
        await collector.wait_for(len(load.commands), PHASE_TIMEOUT_S, progress=load.name, alive=alive)
    finally:
        await collector.stop()
    return phase_result(load.name, sent, collector.outputs, len(load.commands))


async def sampled_phase(settings: Settings, load: Load, pids: Sequence[int], alive: Alive) -> Measured:
    """`phase` as fast as possible, with the CPU of `pids` (and their children) and of the stack."""
    async with ResourceSampler({MEASURED: pids, **stack_groups(settings)}) as sampler:
        result = await phase(settings.bootstrap_servers, load, alive=alive)
    return Measured(result, phase_cpu(sampler.cpu_seconds, result.commands), sampler.peak_rss_mb)


def probe_ids(prefix: str, count: int) -> list[str]:
    """Job ids of the start-up probes (never under a measured prefix)."""
    return [f"{prefix}-{k:03d}" for k in range(count)]


async def wait_ready(bootstrap: str, route: tuple[str, str], prefix: str, count: int, alive: Alive) -> None:
    """Once the process answers a `create` for each of `count` probe jobs: start-up is in no figure."""
    collector = Collector(bootstrap, route[1], prefix.encode())
    await collector.start()
    try:
        creates = [
            (p.encode(), orjson.dumps({"command_id": f"{p}-create", "type": "create", "job_id": p}))
            for p in probe_ids(prefix, count)
        ]
        await send_commands(bootstrap, route[0], creates)
        await collector.wait_for(count, READY_TIMEOUT_S, progress="start-up", alive=alive)
    finally:
        await collector.stop()


async def child_phase(
    name: str, tag: str, module: str, settings: Settings, scratch: Scratch, workload: Workload, prefix: str
) -> Measured:
    """A pass-through or the baseline in its own process (`python -m module SOURCE SINK GROUP`, group
    `<run>-<tag>`), started and answering before the measured commands are sent, stopped afterwards."""
    run_id = scratch.run_id
    route = (f"{run_id}.{tag}.in", f"{run_id}.{tag}.out")
    await create_topics(settings.bootstrap_servers, route, settings.partitions)
    log = settings.home / "bench-logs" / f"{run_id}-{tag}.log"
    process = ServiceProcess([*route, f"{run_id}-{tag}"], dict(os.environ), log, module=module)
    probes = f"{run_id}-probe-{tag}"
    scratch.add_jobs(probe_ids(probes, 1))  # the baseline writes its row
    process.start()
    try:
        await wait_ready(settings.bootstrap_servers, route, probes, 1, process.alive)
        load = Load(name, route, prefix, workload.commands)
        return await sampled_phase(settings, load, [process.pid], process.alive)
    finally:
        process.stop()
