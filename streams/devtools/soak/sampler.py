"""One reading of the soak every few seconds: RSS of the worker, the broker and Postgres, the worker
group's lag on the commands topic, the machine's load average (shared: it explains spikes)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence

import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

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
    """The consumer group's lag on a topic: end offsets minus its committed offsets, summed."""

    def __init__(self, bootstrap: str, group: str, topic: str) -> None:
        self.group, self.topic = group, topic
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="soak-lag")
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
        self.partitions: list[TopicPartition] = []

    async def start(self) -> None:
        await self.admin.start()
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def read(self) -> int:
        if not self.partitions:
            described = await self.admin.describe_topics([self.topic])
            numbers = sorted(p["partition"] for topic in described for p in topic["partitions"])
            self.partitions = [TopicPartition(self.topic, n) for n in numbers]
        partitions = self.partitions
        ends = await self.consumer.end_offsets(partitions)
        committed = await self.admin.list_consumer_group_offsets(self.group, partitions=partitions)
        return sum(
            max(0, end - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0))
            for tp, end in ends.items()
        )


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
