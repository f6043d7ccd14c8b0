"""The faults injected mid-load; each returns the moments its faults ended (when recovery is timed from)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from streams.devtools.stack.stack import LocalStack
from tests.faults.load import LoadGenerator
from tests.faults.progress import Progress
from tests.support.pipeline import Pipeline

TAKEOVER_TIMEOUT_S = 90


@dataclass(slots=True)
class FaultContext:
    pipe: Pipeline
    stack: LocalStack
    load: LoadGenerator
    progress: Progress
    rng: random.Random
    notes: list[str] = field(default_factory=list)

    def during_load(self, what: str) -> None:
        """Record a fault, and whether it really hit the load (checked by the runner)."""
        self.notes.append(f"{what} at {self.load.fraction:.0%} of the load")
        assert not self.load.done.is_set(), f"{what} came after the load ended: make the load longer"


Fault = Callable[[FaultContext], Awaitable[list[float]]]


async def none(ctx: FaultContext) -> list[float]:
    return []


async def kill_worker(ctx: FaultContext, times: int = 5) -> list[float]:
    """SIGKILL the worker at a random moment, restart it under the same name (same local state), repeat
    once it has committed again; the kills are spread over the load."""
    ends = []
    for n in range(times):
        await ctx.load.reached((n + 0.5) / (times + 0.5))
        await asyncio.sleep(ctx.rng.uniform(0, 1.5))
        ctx.during_load(f"kill -9 #{n + 1}")
        ctx.pipe.workers[-1].kill()
        await asyncio.sleep(ctx.rng.uniform(0.1, 1.0))
        ctx.pipe.start_worker("w0")
        ends.append(time.time())
        await ctx.progress.resumed(ends[-1], TAKEOVER_TIMEOUT_S)
    return ends


async def kill_broker(ctx: FaultContext) -> list[float]:
    """SIGKILL the only Kafka broker, leave it down a few seconds, start it again."""
    await ctx.load.reached(0.3)
    ctx.during_load("broker kill -9")
    ctx.stack.kafka.kill()
    await asyncio.sleep(3)
    await asyncio.to_thread(ctx.stack.kafka.up)
    return [time.time()]


async def stop_postgres(ctx: FaultContext, down_s: float = 10) -> list[float]:
    """Postgres stopped (immediate mode: in-flight transactions lost) for `down_s`, then started."""
    await ctx.load.reached(0.3)
    ctx.during_load("Postgres stop")
    await asyncio.to_thread(ctx.stack.postgres.kill)
    await asyncio.sleep(down_s)
    await asyncio.to_thread(ctx.stack.postgres.up)
    return [time.time()]


async def rebalance(ctx: FaultContext) -> list[float]:
    """A second worker joins (partitions move to it), then leaves cleanly (they move back)."""
    await ctx.load.reached(0.2)
    ctx.during_load("second worker joins")
    joiner = ctx.pipe.start_worker("w1")
    joined = await ctx.progress.stable_with(2, TAKEOVER_TIMEOUT_S)
    await ctx.load.reached(0.6)
    ctx.during_load("second worker leaves")
    await asyncio.to_thread(joiner.stop)
    left = time.time()
    await ctx.progress.stable_with(1, TAKEOVER_TIMEOUT_S)
    return [joined, left]
