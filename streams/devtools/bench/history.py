"""One job through N commands (`jobstream bench --long-job N`, and a phase of the default run): the cost
per command must not grow with the job's history."""

from __future__ import annotations

import sys
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.devtools.bench.config import MIN_WINDOW
from streams.devtools.bench.cpu import MEASURED
from streams.devtools.bench.measure import Collector, ResourceSampler, send_commands
from streams.devtools.bench.phases import PHASE_TIMEOUT_S
from streams.devtools.bench.scratch import Scratch, namespaced_env, new_run_id
from streams.devtools.service_process import ServiceProcess
from streams.settings import Settings

WINDOW = 2_000  # commands per measured window, sent as fast as the producer goes


def history_commands(job_id: str, count: int, start: int) -> list[tuple[bytes, bytes]]:
    """Commands `start … start+count-1` of the long job: alternately one message attached and a
    metadata patch of constant size, the shape of an agent run that reports every step."""
    key = job_id.encode()
    commands = []
    for n in range(start, start + count):
        body: dict[str, Any]
        if n % 2:
            body = {"type": "attach_messages", "message_ids": [f"msg-{n:09d}"]}
        else:
            body = {"type": "update_metadata", "metadata": {"step": f"{n:09d}"}}
        command = {"command_id": f"{job_id}-{n:09d}", "job_id": job_id, **body}
        commands.append((key, orjson.dumps(command)))
    return commands


def window_for(total: int) -> int:
    """Commands per measured window: WINDOW, or a third of a smaller job's history."""
    window = min(WINDOW, total // 3)
    if window < MIN_WINDOW:
        raise ValueError(f"a long job needs at least {3 * MIN_WINDOW} commands to compare two windows")
    return window


async def long_job(settings: Settings, total: int, run_id: str | None = None) -> dict[str, Any]:
    """CPU per command and the table value's size in the first and the last window of one job's history.

    The run's topics, rows and worker state are removed afterwards, also when it fails or is interrupted.
    """
    window_for(total)
    async with Scratch(settings, run_id or new_run_id("h")) as scratch:
        return await long_job_phase(settings, total, scratch)


async def long_job_phase(settings: Settings, total: int, scratch: Scratch, tag: str = "") -> dict[str, Any]:
    """The long job on a fresh worker (command role) of its own, namespaced `<run><tag>` in `scratch`."""
    run_id = scratch.run_id + tag
    env = namespaced_env(run_id, "commands")
    worker_settings = Settings.from_env(env)
    scratch.add_worker(worker_settings)
    job_id = f"{run_id}-long"
    scratch.add_jobs([job_id])
    log = settings.home / "bench-logs" / f"{run_id}-worker.log"
    worker = ServiceProcess(["worker"], env, log)
    worker.start()
    window = window_for(total)
    try:
        early, late = await _measure(settings, worker_settings, worker, job_id, (total, window))
    finally:
        worker.stop()
    text = log.read_text(errors="replace")
    return {
        "commands": total,
        "window": window,
        "job_id": job_id,
        "early_after": early["after"],
        "early_cpu_ms_per_cmd": round(early["cpu_ms_per_cmd"], 3),
        "late_after": late["after"],
        "late_cpu_ms_per_cmd": round(late["cpu_ms_per_cmd"], 3),
        "ratio_late_early": round(late["cpu_ms_per_cmd"] / early["cpu_ms_per_cmd"], 2),
        "early_value_bytes": early["value_bytes"],
        "late_value_bytes": late["value_bytes"],
        "changelog_send_errors": text.count("_on_published error"),
    }


async def _measure(
    settings: Settings,
    worker_settings: Settings,
    worker: ServiceProcess,
    job_id: str,
    size: tuple[int, int],
) -> list[dict[str, float]]:
    total, window = size
    bootstrap, topics = settings.bootstrap_servers, worker_settings.topics
    collector = Collector(bootstrap, topics.events, job_id.encode())
    await collector.start()
    windows: list[dict[str, float]] = []
    try:
        create = orjson.dumps({"command_id": f"{job_id}-create", "type": "create", "job_id": job_id})
        await send_commands(bootstrap, topics.commands, [(job_id.encode(), create)])
        await collector.wait_for(1, 120, "long job: worker start", worker.alive)
        done = 1
        plan = [(window, True), (total - 1 - 2 * window, False), (window, True)]
        for count, measured in plan:
            batch = history_commands(job_id, count, done)
            async with ResourceSampler({MEASURED: [worker.pid]}) as sampler:
                await send_commands(bootstrap, topics.commands, batch)
                done += count
                await collector.wait_for(done, PHASE_TIMEOUT_S, "long job", worker.alive)
            if measured:
                size_bytes = await _table_value_size(
                    bootstrap, f"{worker_settings.app_id}-job-state-changelog", job_id
                )
                cpu_ms = sampler.cpu_seconds[MEASURED] / count * 1000
                windows.append({"after": done, "cpu_ms_per_cmd": cpu_ms, "value_bytes": size_bytes})
                print(f"  long job: {windows[-1]}", file=sys.stderr, flush=True)
    finally:
        await collector.stop()
    return windows


async def _table_value_size(bootstrap: str, changelog: str, job_id: str) -> int:
    """Size of the newest value the job-state table wrote for the job to its changelog."""
    consumer = AIOKafkaConsumer(
        changelog, bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
        auto_offset_reset="earliest",
    )  # fmt: skip
    await consumer.start()
    try:
        partitions = [TopicPartition(changelog, p) for p in consumer.partitions_for_topic(changelog) or ()]
        ends = await consumer.end_offsets(partitions)
        size = 0
        key = job_id.encode()
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    if record.key == key and record.value is not None:
                        size = len(record.value)
        return size
    finally:
        await consumer.stop()
