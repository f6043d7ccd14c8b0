"""The fault load: job scripts sent with acks=all + idempotence, and the ledger of what the broker acked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError

from tests.faults.scripts import Script, Step

log = structlog.get_logger(__name__)

RETRY_PAUSE_S = 0.5
# A producer that keeps failing after the broker is back may hold a fenced or stale idempotence state.
RESTART_AFTER_FAILURES = 5


@dataclass(frozen=True, slots=True)
class Acked:
    """A record the broker acknowledged (acks=all): where it landed and when."""

    step: Step
    partition: int
    offset: int
    at: float


@dataclass(slots=True)
class Ledger:
    """Every acknowledged send, plus how many sends were tried and failed (retried under the same bytes)."""

    acked: list[Acked] = field(default_factory=list)
    attempts: int = 0
    failures: int = 0


class Pacer:
    """Spaces sends `1/rate` seconds apart across all lanes, so a load spans the faults injected into it."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next = time.monotonic()

    async def wait(self) -> None:
        now = time.monotonic()
        slot = max(self.next, now)
        self.next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


class LoadGenerator:
    """Runs scripts on `lanes` concurrent lanes; within a script each step waits for the previous one's ack,
    and a failed send is retried with the same bytes until acked, so each job's order is the script's."""

    def __init__(
        self, bootstrap_servers: str, topic: str, scripts: list[Script], rate: float, lanes: int = 64
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.scripts = scripts
        self.lanes = lanes
        self.pacer = Pacer(rate)
        self.ledger = Ledger()
        self.total = sum(len(script.steps) for script in scripts)
        self.done = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._failures_in_row = 0
        self._restart = asyncio.Lock()

    @property
    def fraction(self) -> float:
        return len(self.ledger.acked) / self.total

    async def reached(self, fraction: float) -> None:
        """Wait until this share of the load is acknowledged (or the load is over)."""
        while self.fraction < fraction and not self.done.is_set():  # noqa: ASYNC110 - a share, not an event
            await asyncio.sleep(0.1)

    async def run(self) -> Ledger:
        pending = iter(self.scripts)
        try:
            await asyncio.gather(*(self._lane(pending) for _ in range(self.lanes)))
        finally:
            self.done.set()
            if self._producer is not None:
                await self._producer.stop()
        return self.ledger

    async def _lane(self, pending: Iterator[Script]) -> None:
        for script in pending:
            for step in script.steps:
                await self.pacer.wait()
                await self._deliver(step)

    async def _deliver(self, step: Step) -> None:
        while True:
            self.ledger.attempts += 1
            producer: AIOKafkaProducer | None = None
            try:
                producer = await self._current()
                meta = await producer.send_and_wait(self.topic, step.value, key=step.key)
            except MessageSizeTooLargeError:
                raise  # the broker will never take it: a bug in the load, not a fault to ride out
            except KafkaError as exc:
                self.ledger.failures += 1
                self._failures_in_row += 1
                log.info("load.send_failed", error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(RETRY_PAUSE_S)
                if producer is not None and self._failures_in_row >= RESTART_AFTER_FAILURES:
                    await self._restart_producer(producer)
                continue
            self._failures_in_row = 0
            self.ledger.acked.append(Acked(step, meta.partition, meta.offset, time.time()))
            return

    async def _current(self) -> AIOKafkaProducer:
        async with self._restart:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap_servers,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=5,
                    max_request_size=4 * 1024 * 1024,
                    request_timeout_ms=10_000,
                )
                try:
                    await producer.start()
                except KafkaError:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def _restart_producer(self, failed: AIOKafkaProducer) -> None:
        async with self._restart:
            current = self._producer is failed  # else another lane replaced it already
            if current:
                self._producer = None
                self._failures_in_row = 0
        if current:
            await failed.stop()
