"""Group-less followers of a topic: pinned to every partition, positioned before the first record."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition


async def position_at_edge(
    consumer: AIOKafkaConsumer, topic: str, assign: bool, from_beginning: bool
) -> None:
    """Pin a group-less consumer to every partition and resolve its offsets before the first event.

    Left to itself the consumer resolves "latest" lazily on its first fetch, so an event published
    right after `events()` started could fall before that point and never arrive. A topic that does
    not exist yet is subscribed to instead (no worker has declared it; nothing to miss).
    """
    await consumer.topics()  # refresh metadata so the partition list is current
    partitions = consumer.partitions_for_topic(topic) if assign else None
    if not partitions:
        consumer.subscribe([topic])
        return
    assigned = [TopicPartition(topic, number) for number in sorted(partitions)]
    consumer.assign(assigned)
    if from_beginning:
        await consumer.seek_to_beginning(*assigned)
    else:
        await consumer.seek_to_end(*assigned)
    for partition in assigned:
        await consumer.position(partition)
