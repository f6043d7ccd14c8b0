"""One fault scenario end to end: a namespace, its workers, the load, the fault, then the reconciliation."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from streams.stack.stack import LocalStack
from tests.faults import checker
from tests.faults.faults import Fault, FaultContext
from tests.faults.load import LoadGenerator
from tests.faults.progress import Progress, settled
from tests.faults.scripts import build_load
from tests.support.pipeline import Pipeline

CATCH_UP_TIMEOUT_S = 180
RECOVERY_LIMIT_S = 60.0


@dataclass(frozen=True)
class Scenario:
    """`commands` records at `rate` per second, one bad input per `bad_every`, with `fault` injected."""

    name: str
    commands: int
    rate: float
    bad_every: int
    fault: Fault
    seed: int = 8


@dataclass(frozen=True)
class Outcome:
    scenario: str
    counts: checker.Counts
    recoveries_s: list[float | None]
    violations: list[str]
    notes: list[str]
    duration_s: float

    def summary(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            **self.counts.as_dict(),
            "recoveries_s": [None if r is None else round(r, 1) for r in self.recoveries_s],
            "violations": len(self.violations),
            "faults": self.notes,
            "duration_s": round(self.duration_s, 1),
        }

    def failures(self) -> list[str]:
        slow = [
            f"processing resumed {r}s after a fault ended"
            for r in self.recoveries_s
            if r is None or r > RECOVERY_LIMIT_S
        ]
        return [*slow, *self.violations]


async def run_scenario(scenario: Scenario, stack: LocalStack, env: dict[str, str], logs: Path) -> Outcome:
    started = time.monotonic()
    pipe = Pipeline(env, logs, JOBSTREAM_LOG_LEVEL="WARNING")
    settings = pipe.settings
    progress = Progress(
        settings.bootstrap_servers, settings.app_id, settings.topics.commands, settings.partitions
    )
    watcher = asyncio.create_task(progress.run())
    try:
        pipe.start_worker("w0")
        await pipe.wait_ready()
        rng = random.Random(scenario.seed)
        scripts = build_load(pipe.namespace, scenario.commands, scenario.bad_every, rng)
        load = LoadGenerator(settings.bootstrap_servers, settings.topics.commands, scripts, scenario.rate)
        ctx = FaultContext(pipe, stack, load, progress, rng)
        loading = asyncio.create_task(load.run())
        fault_ends = await scenario.fault(ctx)
        ledger = await loading
        final = await progress.caught_up(CATCH_UP_TIMEOUT_S)
        # Faust commits offsets without waiting for its buffered changelog writes: let them land.
        await settled(
            settings.bootstrap_servers, f"{settings.app_id}-job-state-changelog", settings.partitions
        )
        seen = await checker.observe(settings, [script.job_id for script in scripts])
        outcome = Outcome(
            scenario.name,
            checker.count(ledger, seen),
            [progress.recovery_s(end, final) for end in fault_ends],
            checker.check(scripts, ledger, seen, settings.topics.commands),
            ctx.notes,
            time.monotonic() - started,
        )
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await asyncio.to_thread(_stop_workers, pipe)
        await pipe.close()
    _record(logs, outcome)
    return outcome


def _stop_workers(pipe: Pipeline) -> None:
    for worker in pipe.workers:
        worker.stop()


def _record(logs: Path, outcome: Outcome) -> None:
    """Counts for docs/reliability.md, and the violations in full for whoever debugs a red run."""
    folder = logs / "faults"
    folder.mkdir(parents=True, exist_ok=True)
    document = {**outcome.summary(), "violation_lines": outcome.violations[:200]}
    (folder / f"{outcome.scenario}.json").write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
