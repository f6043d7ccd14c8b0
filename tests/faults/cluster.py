"""What the cluster fault scenarios ask the brokers: who leads a topic's partitions, whether every replica
is back in sync, which node coordinates a group. Any live node answers (the admin client bootstraps from
all three)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

POLL_S = 0.5


@contextlib.asynccontextmanager
async def _admin(bootstrap_servers: str) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def _topics(bootstrap_servers: str, topics: list[str] | None = None) -> list[dict[str, Any]]:
    async with _admin(bootstrap_servers) as admin:
        return await admin.describe_topics(topics)


async def leaders(bootstrap_servers: str, topic: str) -> dict[int, int]:
    """Partition -> node id of its leader (-1 while it has none)."""
    [described] = await _topics(bootstrap_servers, [topic])
    return {p["partition"]: p["leader"] for p in described["partitions"]}


async def busiest_leader(bootstrap_servers: str, topic: str) -> int:
    """The node leading most of `topic`'s partitions: the one whose loss hurts most."""
    counts = Counter((await leaders(bootstrap_servers, topic)).values())
    return counts.most_common(1)[0][0]


async def led_elsewhere(bootstrap_servers: str, topic: str, gone: int, timeout_s: float) -> float:
    """Wait until no partition of `topic` is led by node `gone` (or leaderless); returns when seen."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            current = await leaders(bootstrap_servers, topic)
            if current and all(leader not in (gone, -1) for leader in current.values()):
                return time.time()
        except Exception:  # a node just went away: ask again
            pass
        await asyncio.sleep(POLL_S)
    raise AssertionError(f"{topic} still led by node {gone} (or leaderless) after {timeout_s}s")


async def under_replicated(bootstrap_servers: str) -> list[str]:
    """Every partition, of every topic, whose in-sync replicas are fewer than its replicas."""
    return [
        f"{t['topic']}/{p['partition']}"
        for t in await _topics(bootstrap_servers)
        for p in t["partitions"]
        if len(p["isr"]) < len(p["replicas"])
    ]


async def fully_replicated(bootstrap_servers: str, timeout_s: float) -> float:
    """Wait until every replica of every partition is in sync again (a restarted node caught up)."""
    deadline = time.monotonic() + timeout_s
    behind: list[str] = ["(not asked yet)"]
    while time.monotonic() < deadline:
        try:
            behind = await under_replicated(bootstrap_servers)
            if not behind:
                return time.time()
        except Exception:  # metadata from a node still starting: ask again
            pass
        await asyncio.sleep(POLL_S)
    raise AssertionError(f"still under-replicated after {timeout_s}s: {behind[:10]}")


async def coordinator(bootstrap_servers: str, group: str) -> int:
    """The node id coordinating consumer group `group`."""
    async with _admin(bootstrap_servers) as admin:
        return await admin.find_coordinator(group)
