"""Read-only Kafka checks for the API: is the cluster reachable, and how far behind is the worker."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


class KafkaProbe:
    """One admin client and one group-less consumer, kept open so a health check costs one request."""

    def __init__(self, bootstrap_servers: str, client_id: str) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id=client_id)
        self._offsets = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers, client_id=client_id, group_id=None, enable_auto_commit=False
        )

    async def start(self) -> None:
        await self._admin.start()
        await self._offsets.start()

    async def stop(self) -> None:
        await self._offsets.stop()
        await self._admin.close()

    async def ping(self) -> None:
        """Raises unless a broker answers a metadata request."""
        await self._admin.describe_cluster()

    async def lag(self, group_id: str, topic: str) -> dict[int, int]:
        """Per partition of `topic`: end offset minus the group's committed offset.

        A partition the group never committed counts from 0, because the worker starts at the
        earliest offset; that overstates lag only when retention has already deleted the head.
        """
        partitions = await self._admin.describe_topics([topic])
        numbers = [p["partition"] for t in partitions if t["topic"] == topic for p in t["partitions"]]
        wanted = [TopicPartition(topic, n) for n in numbers]
        if not wanted:
            return {}
        ends = await self._offsets.end_offsets(wanted)
        committed = await self._admin.list_consumer_group_offsets(group_id, partitions=wanted)
        lag = {}
        for tp in wanted:
            done = committed[tp].offset if tp in committed else -1
            lag[tp.partition] = max(0, ends[tp] - max(done, 0))
        return lag
