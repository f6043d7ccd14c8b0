"""Stand-ins for a dispatcher's Kafka side (its producer and runtime) around the real Postgres."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from streams.kafka.producer import OutRecord


@dataclass
class FlakyProducer:
    failures: int = 0
    records: list[OutRecord] = field(default_factory=list)

    async def send_all(self, records: Iterable[OutRecord]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker unreachable")
        self.records.extend(records)

    def recorded(self) -> dict[str, dict[str, Any]]:
        return {r.key.decode(): orjson.loads(r.value) for r in self.records if r.key and r.value}


@dataclass
class StubRuntime:
    engine: AsyncEngine
    producer: FlakyProducer

    async def start(self) -> None:
        pass


async def until(condition: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)
