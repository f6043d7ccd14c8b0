"""Create the service's topics up front, with the partition count the table is co-partitioned with."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.settings import Settings

log = structlog.get_logger(__name__)


async def ensure_topics(settings: Settings) -> None:
    """Idempotent. Faust only subscribes to topics that exist when it starts, and a topic auto-created by
    a producer would get the broker's default partition count instead of ours."""
    topics = settings.topics
    names = [topics.commands, topics.events, topics.deadletter, topics.batch_results, topics.resume]
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, client_id=f"{settings.app_id}-admin"
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in names if name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker won the race
                await admin.create_topics(
                    [NewTopic(name, settings.partitions, settings.replication_factor) for name in missing]
                )
            log.info("topics.created", topics=missing, partitions=settings.partitions)
    finally:
        await admin.close()


def ensure_topics_sync(settings: Settings) -> None:
    asyncio.run(ensure_topics(settings))
