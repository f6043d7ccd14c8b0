"""The worker group's committed offsets on the commands topic, polled: when work resumes after a fault."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

POLL_S = 0.25


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: float
    committed: dict[int, int]


@dataclass(slots=True)
class Progress:
    """Snapshots of the group's committed offset per partition, taken every POLL_S while the scenario runs."""

    bootstrap_servers: str
    group: str
    topic: str
    partitions: int
    snapshots: list[Snapshot] = field(default_factory=list)

    async def run(self) -> None:
        """Until cancelled; a broker outage only leaves a hole in the snapshots."""
        while True:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=5000)
            try:
                await admin.start()
                while True:
                    offsets = await admin.list_consumer_group_offsets(self.group)
                    committed = {
                        tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == self.topic
                    }
                    self.snapshots.append(Snapshot(time.time(), committed))
                    await asyncio.sleep(POLL_S)
            except asyncio.CancelledError:
                raise
            except Exception:  # the broker is down or restarting: try again with a fresh client
                await asyncio.sleep(POLL_S)
            finally:
                with contextlib.suppress(Exception):
                    await admin.close()

    def committed_at(self, at: float) -> dict[int, int]:
        """The last snapshot taken at or before `at`."""
        before = [s for s in self.snapshots if s.at <= at]
        return before[-1].committed if before else {}

    def recovery_s(self, fault_end: float, final: dict[int, int]) -> float | None:
        """Seconds from `fault_end` until every partition that still had work then committed past where it
        stood; None if one never did (a stall). Partitions already at their final offset count as 0."""
        start = self.committed_at(fault_end)
        slowest = 0.0
        for partition, end in final.items():
            base = start.get(partition, 0)
            if base >= end:
                continue
            moved = next(
                (s.at for s in self.snapshots if s.at > fault_end and s.committed.get(partition, 0) > base),
                None,
            )
            if moved is None:
                return None
            slowest = max(slowest, moved - fault_end)
        return slowest

    async def resumed(self, since: float, timeout_s: float) -> None:
        """Wait until some partition commits past where it stood at `since`."""
        base = sum(self.committed_at(since).values())
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if (
                self.snapshots
                and self.snapshots[-1].at > since
                and sum(self.snapshots[-1].committed.values()) > base
            ):
                return
            await asyncio.sleep(POLL_S)
        raise AssertionError(f"no committed offset advanced within {timeout_s}s")

    async def stable_with(self, members: int, timeout_s: float) -> float:
        """Wait until the group is Stable with this many members; returns when it was seen so."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if await group_state(self.bootstrap_servers, self.group) == ("Stable", members):
                    return time.time()
            except (KafkaError, OSError):  # a node of a cluster down, metadata not yet telling: again
                pass
            await asyncio.sleep(POLL_S)
        raise AssertionError(f"group {self.group} not Stable with {members} members within {timeout_s}s")

    async def caught_up(self, timeout_s: float) -> dict[int, int]:
        """Wait until the group has committed every record of the topic; returns those end offsets."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ends = await end_offsets(self.bootstrap_servers, self.topic, self.partitions)
            latest = self.snapshots[-1].committed if self.snapshots else {}
            if all(latest.get(p, 0) >= end for p, end in ends.items()):
                return ends
            await asyncio.sleep(1)
        lag = (
            {p: end - self.snapshots[-1].committed.get(p, 0) for p, end in ends.items()}
            if self.snapshots
            else {}
        )
        raise AssertionError(f"the worker group did not catch up in {timeout_s}s; lag per partition: {lag}")


async def settled(
    bootstrap_servers: str, topic: str, partitions: int, quiet_s: float = 2.0, timeout_s: float = 30
) -> None:
    """Wait until nothing is appended to `topic` for `quiet_s` (a worker's buffered writes are out)."""
    deadline = time.monotonic() + timeout_s
    last = await end_offsets(bootstrap_servers, topic, partitions)
    while time.monotonic() < deadline:
        await asyncio.sleep(quiet_s)
        now = await end_offsets(bootstrap_servers, topic, partitions)
        if now == last:
            return
        last = now
    raise AssertionError(f"{topic} still growing after {timeout_s}s")


async def end_offsets(bootstrap_servers: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def group_state(bootstrap_servers: str, group: str) -> tuple[str, int]:
    """(state, number of members) of a consumer group, as its coordinator describes it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group])
        _error, _group, state, _protocol_type, _protocol, members, *_ = response.groups[0]
        return state, len(members)
    finally:
        await admin.close()
