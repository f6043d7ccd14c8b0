"""One fault scenario end to end: a namespace, its workers, the load, the fault, then the reconciliation."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson

from streams.devtools import error_lines
from streams.devtools.stack.stack import LocalStack
from tests.faults import checker
from tests.faults.faults import Fault, FaultContext
from tests.faults.load import LoadGenerator
from tests.faults.progress import Progress, settled
from tests.faults.scripts import Script, build_load
from tests.support.pipeline import Pipeline

CATCH_UP_TIMEOUT_S = 180
RECOVERY_LIMIT_S = 60.0
T = TypeVar("T")


@dataclass(frozen=True)
class Scenario:
    """`commands` records at `rate` per second, one bad input per `bad_every`, with `fault` injected."""

    name: str
    commands: int
    rate: float
    bad_every: int
    fault: Fault
    # The load's scripts (the poison scenario mixes hostile and fuzzed records in) and, where given, the
    # longest any record may wait from its ack to its outcome.
    build: Callable[[str, int, int, random.Random], list[Script]] = build_load
    max_wait_s: float | None = None
    # Kill moments and the load's mix vary per run; a red run prints its seed to replay it.
    seed: int = field(
        default_factory=lambda: int(os.environ.get("JOBSTREAM_FAULT_SEED") or random.randrange(10**6))
    )


@dataclass(frozen=True)
class Outcome:
    scenario: str
    seed: int
    counts: checker.Counts
    recoveries_s: list[float | None]
    violations: list[str]
    notes: list[str]
    duration_s: float
    errors: error_lines.ErrorLines

    def summary(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            **self.counts.as_dict(),
            "recoveries_s": [None if r is None else round(r, 1) for r in self.recoveries_s],
            "violations": len(self.violations),
            "faults": self.notes,
            "duration_s": round(self.duration_s, 1),
            "worker_errors": dict(self.errors.by_class),
        }

    def failures(self) -> list[str]:
        slow = [
            f"processing {'never resumed' if r is None else f'resumed only {r:.1f}s'} after a fault ended"
            for r in self.recoveries_s
            if r is None or r > RECOVERY_LIMIT_S
        ]
        return [*slow, *self.violations, *self.errors.violations()]


async def run_scenario(scenario: Scenario, stack: LocalStack, env: dict[str, str], logs: Path) -> Outcome:
    """A fresh namespace with one worker, the load with the fault injected into it, then the checks."""
    started = time.monotonic()
    pipe = Pipeline(env, logs, JOBSTREAM_LOG_LEVEL="WARNING")
    settings = pipe.settings
    progress = Progress(
        settings.bootstrap_servers, settings.app_id, settings.topics.commands, settings.partitions
    )
    try:
        async with _background(progress.run()):
            pipe.start_worker("w0")
            await pipe.wait_ready()
            rng = random.Random(scenario.seed)
            scripts = scenario.build(pipe.namespace, scenario.commands, scenario.bad_every, rng)
            load = LoadGenerator(settings.bootstrap_servers, settings.topics.commands, scripts, scenario.rate)
            ctx = FaultContext(pipe, stack, load, progress, rng)
            async with _background(load.run()) as loading:
                fault_ends = await scenario.fault(ctx)
                ledger = await loading
            await progress.caught_up(CATCH_UP_TIMEOUT_S)
            # Rules 15 and 16: the service's own commands (retries, heartbeat timeouts) come after the
            # load's; once no timer is left among the load's jobs, what they published is caught up too.
            await timers_settled(pipe, [script.job_id for script in scripts], CATCH_UP_TIMEOUT_S)
            final = await progress.caught_up(CATCH_UP_TIMEOUT_S)
        # Faust commits offsets without waiting for its buffered changelog writes: let them land.
        changelog = f"{settings.app_id}-job-state-changelog"
        await settled(settings.bootstrap_servers, changelog, settings.partitions)
        seen = await checker.observe(settings, [script.job_id for script in scripts])
    finally:
        await asyncio.to_thread(_stop_workers, pipe)
        await pipe.close()
    errors = await asyncio.to_thread(error_lines.collect, logs, pipe.namespace)
    violations = ctx.violations + checker.check(scripts, ledger, seen, settings.topics.commands)
    if scenario.max_wait_s is not None:
        violations += checker.check_waits(ledger, seen, scenario.max_wait_s)
    outcome = Outcome(
        scenario.name,
        scenario.seed,
        checker.count(ledger, seen),
        [progress.recovery_s(end, final) for end in fault_ends],
        violations,
        ctx.notes,
        time.monotonic() - started,
        errors,
    )
    _record(logs, outcome)
    return outcome


async def timers_settled(pipe: Pipeline, job_ids: list[str], timeout_s: float) -> None:
    """Until no job of the load waits for a retry or has a heartbeat deadline that can still lapse."""

    async def settled_now() -> bool:
        rows = await pipe.fetch(
            "SELECT count(*) AS n FROM jobs WHERE id = ANY($1::text[]) AND completed_at IS NULL"
            " AND (retry_at IS NOT NULL OR heartbeat_expires_at < now() + interval '1 hour')",
            job_ids,
        )
        return rows[0]["n"] == 0

    await pipe.wait_for(settled_now, timeout_s, "every retry and heartbeat timeout of the load")


@contextlib.asynccontextmanager
async def _background(coroutine: Coroutine[Any, Any, T]) -> AsyncIterator[asyncio.Task[T]]:
    """A task for the block's duration; cancelled if the block leaves before it is done."""
    task = asyncio.create_task(coroutine)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _stop_workers(pipe: Pipeline) -> None:
    for worker in pipe.workers:
        worker.stop()


def _record(logs: Path, outcome: Outcome) -> None:
    """Counts for docs/reliability.md, and the violations in full for whoever debugs a red run."""
    folder = logs / "faults"
    folder.mkdir(parents=True, exist_ok=True)
    document = {
        **outcome.summary(),
        "violation_lines": outcome.violations[:200],
        "unlisted_errors": outcome.errors.unlisted[:200],
    }
    (folder / f"{outcome.scenario}.json").write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
