"""A namespaced pipeline under test: its own topics and worker processes on the shared local stack."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import UnknownTopicOrPartitionError
from sqlalchemy.engine import make_url

from streams.client import JobstreamClient
from streams.devtools.service_process import ServiceProcess
from streams.settings import Settings


class Pipeline:
    """Topics under one namespace, the workers consuming them, and readers for what users check."""

    def __init__(self, base_env: dict[str, str], logs: Path, **overrides: str) -> None:
        self.namespace = f"t{uuid.uuid4().hex[:8]}"
        server = Settings.from_env(base_env).postgres_url
        self.env = {
            **base_env,
            "JOBSTREAM_NAMESPACE": self.namespace,
            # A database of its own too: a worker's expiry scan or dispatcher must not see other tests' rows.
            "DATABASE_URL": create_database(server, self.namespace),
            "JOBSTREAM_BATCH_WITHIN_S": "0.02",
            "JOBSTREAM_EXPIRY_INTERVAL_S": "0.5",
            "JOBSTREAM_LOG_LEVEL": "INFO",
            **overrides,
        }
        self.settings = Settings.from_env(self.env)
        self.logs = logs
        self.workers: list[ServiceProcess] = []
        self.client = JobstreamClient(self.settings.bootstrap_servers, self.settings.topics)
        self._raw_producer: AIOKafkaProducer | None = None

    def start_worker(self, name: str | None = None) -> ServiceProcess:
        name = name or f"w{len(self.workers)}"
        env = {**self.env, "JOBSTREAM_WORKER_NAME": f"{self.namespace}-{name}"}
        worker = ServiceProcess(["worker"], env, self.logs / f"{self.namespace}-{name}.log")
        worker.start()
        self.workers.append(worker)
        return worker

    async def wait_ready(self, timeout_s: float = 90) -> None:
        """A worker is ready when a probe job's creation comes back as an event. On a cluster the node
        asked may not know the worker's new topics yet for a moment: then ask again."""
        deadline = time.monotonic() + timeout_s
        job_id = await self.client.create(f"probe-{uuid.uuid4().hex[:8]}")
        while True:
            try:
                await self.events(job_id, 1, timeout_s=max(1.0, deadline - time.monotonic()))
                return
            except UnknownTopicOrPartitionError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        await self.client.close()
        if self._raw_producer is not None:
            await self._raw_producer.stop()

    async def send_raw(self, key: bytes | None, value: bytes | None) -> None:
        if self._raw_producer is None:
            self._raw_producer = AIOKafkaProducer(
                bootstrap_servers=self.settings.bootstrap_servers,
                acks="all",
                enable_idempotence=True,
                max_request_size=4 * 1024 * 1024,
            )
            await self._raw_producer.start()
        await self._raw_producer.send_and_wait(self.settings.topics.commands, value, key=key)

    async def events(self, job_id: str, count: int, timeout_s: float = 30) -> list[dict[str, Any]]:
        """The first `count` events of one job, as a consumer reading the events topic sees them."""
        found = await self.read_topic(
            self.settings.topics.events, lambda m: m.key == job_id.encode(), count, timeout_s
        )
        return [orjson.loads(m.value) for m in found]

    async def events_many(
        self, expected: dict[str, int], timeout_s: float = 60
    ) -> dict[str, list[dict[str, Any]]]:
        """Events of many jobs in one pass over the topic: at least `expected[job]` of each."""
        wanted = {job.encode(): n for job, n in expected.items()}
        found: dict[bytes, list[Any]] = {key: [] for key in wanted}

        def accept(message: Any) -> bool:
            if message.key in found:
                found[message.key].append(message)
            return False

        def done() -> bool:
            return all(len(found[k]) >= n for k, n in wanted.items())

        await self.read_topic(self.settings.topics.events, accept, 0, timeout_s, until=done)
        if not done():
            short = {k.decode(): len(v) for k, v in found.items() if len(v) < wanted[k]}
            raise AssertionError(f"jobs still missing events after {timeout_s}s: {short}")
        return {k.decode(): [orjson.loads(m.value) for m in v] for k, v in found.items()}

    async def read_topic(
        self,
        topic: str,
        accept: Callable[[Any], bool],
        count: int,
        timeout_s: float = 30,
        settle_s: float = 0.0,
        until: Callable[[], bool] | None = None,
    ) -> list[Any]:
        """Messages of `topic` from the beginning that `accept` keeps; waits for `count` of them,
        then `settle_s` more seconds to catch any extra (for asserting there are no more)."""
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=self.settings.bootstrap_servers,
            auto_offset_reset="earliest",
            group_id=None,
            enable_auto_commit=False,
            fetch_max_bytes=8 * 1024 * 1024,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        await consumer.start()  # (stop() after a failed start hangs in aiokafka 0.14: not called)
        found: list[Any] = []
        deadline = time.monotonic() + timeout_s
        settle_until: float | None = None
        try:
            while time.monotonic() < deadline:
                if until is not None and until():
                    break
                if until is None and len(found) >= count:
                    settle_until = settle_until or time.monotonic() + settle_s
                    if time.monotonic() >= settle_until:
                        break
                batch = await consumer.getmany(timeout_ms=200)
                for messages in batch.values():
                    found.extend(m for m in messages if accept(m))
        finally:
            await consumer.stop()
        if len(found) < count:
            raise AssertionError(f"expected {count} messages on {topic}, saw {len(found)} in {timeout_s}s")
        return sorted(found, key=lambda m: (m.partition, m.offset))

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(self.settings.postgres_url)
        try:
            return await connection.fetch(query, *args)
        finally:
            await connection.close()

    async def job_row(self, job_id: str) -> asyncpg.Record | None:
        rows = await self.fetch("SELECT * FROM jobs WHERE id = $1", job_id)
        return rows[0] if rows else None

    async def wait_for(self, predicate: Callable[[], Any], timeout_s: float = 30, what: str = "") -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = await predicate()
            if value:
                return value
            await asyncio.sleep(0.2)
        raise AssertionError(f"timed out after {timeout_s}s waiting for {what or predicate}")


def create_database(server_url: str, name: str) -> str:
    """Create database `name` on the server of `server_url` (migrated by the worker); returns its URL."""

    async def create() -> None:
        connection = await asyncpg.connect(server_url)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:  # callers may already be inside an event loop
        pool.submit(asyncio.run, create()).result()
    return str(make_url(server_url).set(database=name).render_as_string(hide_password=False))


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def command(job_id: str, kind: str, command_id: str | None = None, **fields: Any) -> bytes:
    return orjson.dumps({"command_id": command_id or unique("cmd"), "type": kind, "job_id": job_id, **fields})


def ids(events: Iterable[dict[str, Any]]) -> list[str]:
    return [e["event_id"] for e in events]
