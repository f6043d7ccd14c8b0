"""One reading of the soak every few seconds: RSS of the worker, the broker and Postgres, the worker
group's lag on the commands topic, the machine's load average (shared: it explains spikes)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence

import psutil

from streams.api.kafka_probe import KafkaProbe
from streams.devtools.bench.cpu import stack_groups
from streams.settings import Settings


def tree_rss_mib(pids: Sequence[int]) -> float:
    """RSS of the processes and their descendants (Postgres: the postmaster and its backends; the shared
    buffers a backend has touched count once per backend, so this is an upper bound)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            for process in (root, *root.children(recursive=True)):
                with contextlib.suppress(psutil.Error):
                    total += process.memory_info().rss
    return round(total / 2**20, 1)


class Lag:
    """The worker group's lag on a topic, summed over its partitions: the API's probe (the lag `/metrics`
    reports), its clients kept open for the run."""

    def __init__(self, bootstrap: str, group: str, topic: str) -> None:
        self.group, self.topic = group, topic
        self.probe = KafkaProbe(bootstrap, "soak-lag")

    async def start(self) -> None:
        await self.probe.start()

    async def stop(self) -> None:
        await self.probe.stop()

    async def read(self) -> int:
        return sum((await self.probe.lag(self.group, self.topic)).values())


class Processes:
    """The pids read: the worker(s) under test, and the local stack's broker and postmaster."""

    def __init__(self, settings: Settings, workers: Sequence[int]) -> None:
        groups = stack_groups(settings)
        self.workers = list(workers)
        self.broker = groups.get("kafka", [])
        self.postgres = groups.get("postgres", [])

    def rss(self) -> tuple[float, float, float]:
        return tree_rss_mib(self.workers), tree_rss_mib(self.broker), tree_rss_mib(self.postgres)


def loadavg_1m() -> float:
    return round(os.getloadavg()[0], 2)
