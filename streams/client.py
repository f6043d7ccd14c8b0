"""The Python client: publish commands (retry-safe) and follow events (deduplicated by event_id)."""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Collection
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from schemas.commands import COMMAND_ADAPTER
from schemas.events import Event
from streams.producer import DurableProducer, json_record
from streams.settings import Settings, Topics

SEND_ATTEMPTS = 5


class JobstreamClient:
    """`async with JobstreamClient() as js: await js.create("job-1")` — see the README for a tour."""

    def __init__(
        self,
        bootstrap_servers: str | None = None,
        topics: Topics | None = None,
        organization_id: str | None = None,
    ) -> None:
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
        """Validate and publish one command; returns its command_id. Retrying reuses the same id."""
        command = dict(command)
        command.setdefault("command_id", str(uuid.uuid4()))
        if self.organization_id is not None:
            command.setdefault("organization_id", self.organization_id)
        COMMAND_ADAPTER.validate_python(command)  # fail here, not as a rejection event later
        producer = await self._ensure_producer()
        record = json_record(self.topics.commands, command["job_id"], command)
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                await producer.send_all([record])
                break
            except KafkaError:
                if attempt == SEND_ATTEMPTS:
                    raise
                await asyncio.sleep(0.2 * 2**attempt)
        return str(command["command_id"])

    async def create(self, job_id: str | None = None, **fields: Any) -> str:
        """Create a job (fields as in spec §3: job_type, status, metadata, callback_url, …); returns its id."""
        job_id = job_id or str(uuid.uuid4())
        await self.send({"type": "create", "job_id": job_id, **_present(fields)})
        return job_id

    async def transition(self, job_id: str, status: str, **fields: Any) -> str:
        return await self.send({"type": "transition", "job_id": job_id, "status": status, **_present(fields)})

    async def cancel(self, job_id: str, **fields: Any) -> str:
        return await self.send({"type": "cancel", "job_id": job_id, **_present(fields)})

    async def update_metadata(self, job_id: str, patch: dict[str, Any], **fields: Any) -> str:
        return await self.send(
            {"type": "update_metadata", "job_id": job_id, "metadata": patch, **_present(fields)}
        )

    async def attach_messages(self, job_id: str, message_ids: list[str], **fields: Any) -> str:
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
        from_beginning: bool = False,
        group_id: str | None = None,
        dedup_window: int = 100_000,
    ) -> AsyncIterator[Event]:
        """Follow `jobs.events`, each event once (by event_id) even when the service re-emits it."""
        consumer = AIOKafkaConsumer(
            self.topics.events,
            bootstrap_servers=self.bootstrap_servers,
            group_id=group_id,
            auto_offset_reset="earliest" if from_beginning else "latest",
            enable_auto_commit=group_id is not None,
        )
        await consumer.start()
        seen: OrderedDict[str, None] = OrderedDict()
        try:
            async for message in consumer:
                document = orjson.loads(message.value)
                if job_ids is not None and document.get("job_id") not in job_ids:
                    continue
                if types is not None and document.get("type") not in types:
                    continue
                event_id = document.get("event_id")
                if event_id in seen:
                    continue
                seen[event_id] = None
                if len(seen) > dedup_window:
                    seen.popitem(last=False)
                yield Event.model_validate(document)
        finally:
            await consumer.stop()

    async def _ensure_producer(self) -> DurableProducer:
        if self._producer is None:
            producer = DurableProducer(self.bootstrap_servers, client_id="jobstream-client")
            await producer.start()
            self._producer = producer
        return self._producer


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}
