"""N command workers of one bench run: one app id (they share the partitions), each its own name."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError

from streams.devtools.bench.phases import READY_TIMEOUT_S, Alive, probe_ids, wait_ready
from streams.devtools.bench.scratch import Scratch
from streams.devtools.service_process import ServiceProcess
from streams.settings import Settings

PROBES_PER_PARTITION = 2  # probe jobs spread over the partitions, so every worker has answered one


class Workers:
    """`jobstream worker` child processes with distinct JOBSTREAM_WORKER_NAME (own table state folder)."""

    def __init__(self, env: dict[str, str], count: int, logs: Path, run_id: str) -> None:
        self.processes = [
            ServiceProcess(
                ["worker"],
                {**env, "JOBSTREAM_WORKER_NAME": f"{run_id}-bench-{i}"},
                logs / f"{run_id}-worker-{i}.log",
            )
            for i in range(count)
        ]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def alive(self) -> bool:
        return all(p.alive() for p in self.processes)

    def start(self) -> None:
        for process in self.processes:
            process.start()

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    async def wait_ready(self, settings: Settings, scratch: Scratch) -> None:
        """Once the consumer group is stable with every worker in it and probe jobs spread over the
        partitions are answered (the probes are the run's jobs: they are removed with them)."""
        await _group_stable(settings, len(self.processes), self.alive)
        prefix, count = f"{scratch.run_id}-probe-js", PROBES_PER_PARTITION * settings.partitions
        scratch.add_jobs(probe_ids(prefix, count))
        route = (settings.topics.commands, settings.topics.events)
        await wait_ready(settings.bootstrap_servers, route, prefix, count, self.alive)


async def _group_stable(settings: Settings, members: int, alive: Alive) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    deadline = time.monotonic() + READY_TIMEOUT_S
    try:
        while True:
            try:
                state, joined = await _group(admin, settings.app_id)
            except GroupCoordinatorNotAvailableError:  # a new broker still creating __consumer_offsets
                state, joined = "NoCoordinator", 0
            if state == "Stable" and joined == members:
                return
            if not alive():
                raise RuntimeError("a bench worker exited while starting; see its log under bench-logs/")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the bench workers' group is {state} with {joined}/{members} members")
            await asyncio.sleep(0.5)
    finally:
        await admin.close()


async def _group(admin: AIOKafkaAdminClient, group: str) -> tuple[str, int]:
    """(state, member count) of a consumer group, from the raw DescribeGroups response."""
    for response in await admin.describe_consumer_groups([group]):
        for description in response.groups:
            _error, group_id, state, _protocol_type, _protocol, members, *_ = description
            if group_id == group:
                return state, len(members)
    return "Unknown", 0
