"""The Python client: publish commands (retry-safe) and follow events (deduplicated by event_id)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Callable, Collection
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from schemas.events import Event
from schemas.parsing import Parsed, parse_document
from streams import tracing
from streams.kafka.follow import position_at_edge
from streams.kafka.producer import DurableProducer, json_record
from streams.recent import RecentlySeen
from streams.retry import Backoff, retry
from streams.settings import Settings, Topics

SEND_ATTEMPTS = 5
SEND_BACKOFF = Backoff(base_s=0.4, cap_s=5.0)  # waits of at most 0.4, 0.8, 1.6 and 3.2 s


class InvalidCommand(ValueError):
    """The worker would dead-letter or reject this command `validation_error`: nothing was sent."""


class JobstreamClient:
    """`async with JobstreamClient() as js: await js.create("job-1")` — see docs/client.md for a tour.

    Producer side: every method returns the command_id it published, and a failed send is retried
    under that same id, so a retry is never applied twice (rule 7). The outcome of a command
    arrives asynchronously as an event; follow it with `events()`.
    """

    def __init__(
        self,
        bootstrap_servers: str | None = None,
        topics: Topics | None = None,
        organization_id: str | None = None,
    ) -> None:
        """Unset arguments come from the environment, as the worker reads it (`Settings.from_env`):
        KAFKA_BOOTSTRAP_SERVERS, JOBSTREAM_NAMESPACE and the JOBSTREAM_TOPIC_* names.
        `organization_id` is stamped on every command that does not carry one."""
        settings = Settings.from_env()
        self.bootstrap_servers = bootstrap_servers or settings.bootstrap_servers
        self.topics = topics or settings.topics
        self.organization_id = organization_id
        self._producer: DurableProducer | None = None

    async def __aenter__(self) -> JobstreamClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def send(self, command: dict[str, Any]) -> str:
        """Validate as the worker will and publish one command; returns its command_id. Retrying reuses
        the same id. Raises InvalidCommand (a ValueError naming the field) instead of publishing what
        the worker would dead-letter or reject for its content. Inside an OpenTelemetry span, the
        command carries its trace (docs/contract.md §11)."""
        command = dict(command)
        command.setdefault("command_id", str(uuid.uuid4()))
        if self.organization_id is not None:
            command.setdefault("organization_id", self.organization_id)
        parsed = parse_document(command)  # fail here, not as a rejection event later
        if not isinstance(parsed, Parsed):
            raise InvalidCommand(f"invalid {command.get('type')} command: {parsed.message}")
        producer = await self._ensure_producer()
        headers = tracing.record_headers(tracing.current_traceparent())
        record = json_record(self.topics.commands, command["job_id"], command, headers)
        await retry(lambda: producer.send_all([record]), _kafka_error, SEND_BACKOFF, SEND_ATTEMPTS)
        return str(command["command_id"])

    async def create(self, job_id: str | None = None, **fields: Any) -> str:
        """Create a job (fields as in docs/contract.md §3: job_type, status, metadata, `retry_policy`
        (a dict: max_attempts, initial_backoff_seconds, …), heartbeat_timeout_seconds, …); returns its id."""
        job_id = job_id or str(uuid.uuid4())
        await self.send({"type": "create", "job_id": job_id, **_present(fields)})
        return job_id

    async def transition(self, job_id: str, status: str, **fields: Any) -> str:
        """Move a job to `status` (fields: stop_reason, metadata patch, expected_status, force, …)."""
        return await self.send({"type": "transition", "job_id": job_id, "status": status, **_present(fields)})

    async def cancel(self, job_id: str, **fields: Any) -> str:
        """Transition to `cancelled`; stop_reason defaults to `cancelled`."""
        return await self.send({"type": "cancel", "job_id": job_id, **_present(fields)})

    async def update_metadata(self, job_id: str, patch: dict[str, Any] | None = None, **fields: Any) -> str:
        """Merge `patch` into the job's metadata (RFC 7386: `None` deletes a key) and/or record
        `ttft_ns` / `total_duration_ns`; no status change, in any status."""
        command = {"type": "update_metadata", "job_id": job_id, "metadata": patch, **fields}
        return await self.send(_present(command))

    async def heartbeat(self, job_id: str, **fields: Any) -> str:
        """A running job's runner is alive (rule 16): no event, no seq; a job that is not running answers
        with a `job.command_rejected` event (`invalid_transition`), which is how a runner learns to stop."""
        return await self.send({"type": "heartbeat", "job_id": job_id, **_present(fields)})

    async def delete(self, job_id: str, **fields: Any) -> str:
        """Remove the job and everything stored about it (docs/contract.md rule 14)."""
        return await self.send({"type": "delete", "job_id": job_id, **_present(fields)})

    async def attach_messages(self, job_id: str, message_ids: list[str], **fields: Any) -> str:
        """Record the audit link between a job and message ids (kept by `GET /jobs/{id}/messages`)."""
        command = {
            "type": "attach_messages",
            "job_id": job_id,
            "message_ids": message_ids,
            **_present(fields),
        }
        return await self.send(command)

    async def events(
        self,
        *,
        job_ids: Collection[str] | None = None,
        types: Collection[str] | None = None,
        statuses: Collection[str] | None = None,
        from_beginning: bool = False,
        group_id: str | None = None,
        dedup_window: int = 100_000,
        on_ready: Callable[[], object] | None = None,
    ) -> AsyncGenerator[Event, None]:
        """Follow `jobs.events`, each event once (by event_id) even when the service re-emits it.

        Filters keep events of these jobs, of these event types, and whose job is (after the change)
        in one of these statuses. Without a `group_id` the consumer reads every partition itself and
        `on_ready` is called once its positions are fixed, so nothing published afterwards is
        missed; with a group, Kafka assigns partitions and resumes from the group's offsets.
        """
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=group_id,
            auto_offset_reset="earliest" if from_beginning else "latest",
            enable_auto_commit=group_id is not None,
            # Events of a transaction its producer aborted never happened: never deliver them.
            isolation_level="read_committed",
            # A topic created after we subscribed (a worker's first start) is found within seconds.
            metadata_max_age_ms=2000,
        )
        await consumer.start()
        try:
            await position_at_edge(consumer, self.topics.events, group_id is None, from_beginning)
            if on_ready is not None:
                on_ready()
            seen: RecentlySeen[str] = RecentlySeen(dedup_window)
            async for message in consumer:
                document = orjson.loads(message.value)
                if not _wanted(document, job_ids, types, statuses):
                    continue
                if not seen.add(document.get("event_id")):
                    continue
                yield Event.model_validate(document)
        finally:
            await consumer.stop()

    async def _ensure_producer(self) -> DurableProducer:
        if self._producer is None:
            producer = DurableProducer(self.bootstrap_servers, client_id="jobstream-client")
            await producer.start()
            self._producer = producer
        return self._producer


def _kafka_error(exc: Exception, attempt: int) -> bool:
    return isinstance(exc, KafkaError)


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    """Drop unset keyword arguments, so `None` never overwrites a default on the wire."""
    return {name: value for name, value in fields.items() if value is not None}


def _wanted(
    document: dict[str, Any],
    job_ids: Collection[str] | None,
    types: Collection[str] | None,
    statuses: Collection[str] | None,
) -> bool:
    if job_ids is not None and document.get("job_id") not in job_ids:
        return False
    if types is not None and document.get("type") not in types:
        return False
    job = document.get("job") or {}
    return statuses is None or job.get("status") in statuses
