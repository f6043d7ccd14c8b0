"""`jobstream bench --long-job N`: one job through N commands; cost per command must not grow with it."""

from __future__ import annotations

import sys
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.devtools.bench.measure import Collector, ResourceSampler, send_commands
from streams.devtools.bench.scratch import Scratch, namespaced_env, new_run_id
from streams.devtools.service_process import ServiceProcess
from streams.settings import Settings

WINDOW = 2_000  # commands per measured window, sent as fast as the producer goes
PHASE_TIMEOUT_S = 900.0


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


async def long_job(settings: Settings, total: int, run_id: str | None = None) -> dict[str, Any]:
    """CPU per command and the table value's size in the first and the last window of one job's history.

    The run's topics, rows and worker state are removed afterwards, also when it fails or is interrupted.
    """
    if total < 3 * WINDOW:
        raise ValueError(f"--long-job needs at least {3 * WINDOW} commands to compare two windows")
    async with Scratch(settings, run_id or new_run_id("h")) as scratch:
        return await _long_job(settings, total, scratch)


async def _long_job(settings: Settings, total: int, scratch: Scratch) -> dict[str, Any]:
    run_id = scratch.run_id
    env = namespaced_env(run_id, "commands")
    worker_settings = Settings.from_env(env)
    scratch.add_worker(worker_settings)
    job_id = f"{run_id}-long"
    scratch.add_jobs([job_id])
    log = settings.home / "bench-logs" / f"{run_id}-worker.log"
    worker = ServiceProcess(["worker"], env, log)
    worker.start()
    try:
        windows = await _measure(settings, worker_settings, worker, job_id, total)
    finally:
        worker.stop()
    early, late = windows
    text = log.read_text(errors="replace")
    return {
        "commands": total,
        "window": WINDOW,
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
    settings: Settings, worker_settings: Settings, worker: ServiceProcess, job_id: str, total: int
) -> list[dict[str, float]]:
    bootstrap, topics = settings.bootstrap_servers, worker_settings.topics
    collector = Collector(bootstrap, topics.events, job_id.encode())
    await collector.start()
    windows: list[dict[str, float]] = []
    try:
        create = orjson.dumps({"command_id": f"{job_id}-create", "type": "create", "job_id": job_id})
        await send_commands(bootstrap, topics.commands, [(job_id.encode(), create)])
        await collector.wait_for(1, 120, "long job: worker start", worker.alive)
        done = 1
        plan = [(WINDOW, True), (total - 1 - 2 * WINDOW, False), (WINDOW, True)]
        for count, measured in plan:
            batch = history_commands(job_id, count, done)
            async with ResourceSampler(worker.pid) as sampler:
                await send_commands(bootstrap, topics.commands, batch)
                done += count
                await collector.wait_for(done, PHASE_TIMEOUT_S, "long job", worker.alive)
            if measured:
                size = await _table_value_size(
                    bootstrap, f"{worker_settings.app_id}-job-state-changelog", job_id
                )
                windows.append(
                    {"after": done, "cpu_ms_per_cmd": sampler.cpu_seconds / count * 1000, "value_bytes": size}
                )
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
