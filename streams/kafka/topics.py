"""Create the service's topics up front, with the partition count the table is co-partitioned with, and
wait until every broker knows them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code
from aiokafka.protocol.metadata import MetadataRequest

from streams.failures import is_kafka_retriable
from streams.retry import Backoff, retry
from streams.settings import Settings

T = TypeVar("T")

log = structlog.get_logger(__name__)

STATE_TABLE = "job-state"  # the command path's Faust table (streams/worker/app.py)
KNOWN_TIMEOUT_S = 30.0
KNOWN_POLL_S = 0.2
# A broker that just died stays in the cluster's metadata until the controller fences it (seconds).
ADMIN_BACKOFF = Backoff(base_s=0.2, cap_s=2.0)


def changelog_topic(settings: Settings) -> str:
    """The name Faust gives the table's changelog (`Collection._new_changelog_topic`, tables/base.py)."""
    return f"{settings.app_id}-{STATE_TABLE}-changelog"


async def ensure_topics(settings: Settings) -> None:
    """Idempotent. Faust only subscribes to topics that exist when it starts, and a topic auto-created by
    a producer would get the broker's default partition count instead of ours.

    On a cluster a new topic reaches each broker's metadata a moment after its creation; a worker whose
    consumer asked a broker that did not know the changelog yet counted it with 0 partitions until its
    next metadata refresh (5 min), and every table write failed Faust's co-partitioning check
    (PartitionsMismatch) meanwhile. So the changelog is created here too, as Faust would (compacted),
    and the worker starts only once every live broker describes every topic with all its partitions led.
    """
    topics = settings.topics
    plain = [topics.commands, topics.events, topics.deadletter, topics.batch_results, topics.resume]
    compacted = [changelog_topic(settings)] if "commands" in settings.roles else []
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, client_id=f"{settings.app_id}-admin"
    )
    await admin.start()
    try:
        existing = set(await _retried(admin.list_topics))
        missing = [
            NewTopic(name, settings.partitions, settings.replication_factor, topic_configs=configs)
            for names, configs in ((plain, {}), (compacted, {"cleanup.policy": "compact"}))
            for name in names
            if name not in existing
        ]
        if missing:
            await _retried(lambda: _create(admin, missing))
            log.info("topics.created", topics=[t.name for t in missing], partitions=settings.partitions)
        await _known_everywhere(admin, [*plain, *compacted], settings.partitions)
    finally:
        await admin.close()


async def _known_everywhere(admin: AIOKafkaAdminClient, names: list[str], partitions: int) -> None:
    """Wait until every live broker's metadata has each topic with `partitions` led partitions; after
    KNOWN_TIMEOUT_S (a node down and its partitions leaderless) go on with a warning."""
    deadline = time.monotonic() + KNOWN_TIMEOUT_S
    behind: dict[int, list[str]] = {}
    while time.monotonic() < deadline:
        behind = {}
        try:
            for broker in (await admin.describe_cluster())["brokers"]:
                request = MetadataRequest(names, allow_auto_topic_creation=False)
                response = await admin._send_request_to_node(broker["node_id"], request)
                lagging = _incomplete(response.to_object()["topics"], names, partitions)
                if lagging:
                    behind[broker["node_id"]] = lagging
        except (KafkaError, OSError) as exc:  # TimeoutError is an OSError
            behind = {-1: [f"{type(exc).__name__}: {exc}"]}
        if not behind:
            return
        await asyncio.sleep(KNOWN_POLL_S)
    log.warning("topics.not_known_everywhere", behind=behind, waited_s=KNOWN_TIMEOUT_S)


async def _create(admin: AIOKafkaAdminClient, topics: list[NewTopic]) -> None:
    """Create the topics; aiokafka returns the broker's errors per topic instead of raising them. One
    that exists already is another worker's creation, not an error."""
    response = await admin.create_topics(topics)
    for name, code, *message in response.topic_errors:  # v1 on: (topic, code, message)
        if code not in (0, TopicAlreadyExistsError.errno):
            raise for_code(code)(f"creating topic {name}: {message[0] if message else ''}")


async def _retried(call: Callable[[], Awaitable[T]]) -> T:
    """An admin request, again for as long as the cluster answers with a retriable error: a worker
    started just after a broker died gets that broker from the metadata it bootstrapped with
    (NodeNotReadyError) until the cluster has fenced the dead one or it is back; a worker that exited
    on it would not come back by itself. Too few brokers for the replication factor is not retriable:
    it is raised with the broker's message."""

    def note(exc: Exception, attempt: int, delay: float) -> None:
        log.warning(
            "topics.retry", error=f"{type(exc).__name__}: {exc}", attempt=attempt, retry_in_s=round(delay, 2)
        )

    return await retry(call, lambda exc, _attempt: is_kafka_retriable(exc), ADMIN_BACKOFF, on_retry=note)


def _incomplete(described: list[dict[str, Any]], names: list[str], partitions: int) -> list[str]:
    """The topics of `names` this metadata lacks, or has with fewer than `partitions` led partitions."""
    complete = {
        topic["topic"]
        for topic in described
        if topic["error_code"] == 0
        and len(topic["partitions"]) == partitions
        and all(p["leader"] >= 0 for p in topic["partitions"])
    }
    return [name for name in names if name not in complete]


def ensure_topics_sync(settings: Settings) -> None:
    asyncio.run(ensure_topics(settings))
