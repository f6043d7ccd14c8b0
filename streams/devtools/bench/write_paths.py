"""`jobstream bench --write-paths N`: the command processor's two ways of writing a small batch, timed in
one process against the stack's Postgres: the one guarded statement and the locking transaction.

The same batch shape alternates between the paths, so the machine's load falls on both alike; the
figures are the Postgres round trips and the processor's own work, without Kafka (the events go to a
producer that drops them)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable
from typing import Any

import orjson
from prometheus_client import REGISTRY

from storage.database import create_engine
from storage.job_store import JobStore
from streams.commands.memory_table import MemoryStateTable
from streams.commands.processor import BatchResult, CommandProcessor, Record
from streams.devtools.bench.scratch import Scratch, new_run_id
from streams.kafka.producer import OutRecord
from streams.settings import Settings, Topics

PATHS = ("unchanged", "locked")


class _Dropped:
    async def send_all(self, records: Iterable[OutRecord]) -> None:
        pass


class _Locked(CommandProcessor):
    """The processor with its one-statement path turned off."""

    async def _apply_unchanged(self, *args: Any) -> BatchResult | None:
        return None


def _written(path: str) -> float:
    return REGISTRY.get_sample_value("jobstream_batch_writes_total", {"path": path}) or 0.0


def _batch(job_id: str, first: int, *bodies: dict[str, Any]) -> list[Record]:
    """Records of one job's commands `first`, `first + 1`, … (their offsets and command ids)."""
    return [
        Record(
            job_id.encode(), orjson.dumps({"command_id": f"{job_id}-{n}", "job_id": job_id, **b}), "", 0, n
        )
        for n, b in enumerate(bodies, start=first)
    ]


async def run(settings: Settings, batches: int) -> dict[str, Any]:
    """Per path, the median and p90 of `batches` two-command batches (a job's first two transitions),
    each after the job's create; the first tenth of each is warm-up, left out."""
    run_id = new_run_id("w")
    engine = create_engine(settings.postgres_url, pool_size=1, pre_ping=False, generic_plans=True)
    store = JobStore(engine)
    seconds: dict[str, list[float]] = {path: [] for path in PATHS}
    written = {path: _written(path) for path in PATHS}
    try:
        async with Scratch(settings, run_id) as scratch:
            for n in range(batches):
                for path in PATHS:
                    kind = CommandProcessor if path == "unchanged" else _Locked
                    processor = kind(store, MemoryStateTable(), _Dropped(), Topics())  # type: ignore[arg-type]
                    job_id = f"{run_id}-{path}-{n}"
                    scratch.add_jobs([job_id])
                    await processor.process(_batch(job_id, 0, {"type": "create"}))
                    pending, running = {"status": "pending"}, {"status": "running"}
                    batch = _batch(
                        job_id, 1, {"type": "transition", **pending}, {"type": "transition", **running}
                    )
                    started = time.perf_counter()
                    await processor.process(batch)
                    seconds[path].append(time.perf_counter() - started)
    finally:
        await engine.dispose()
    taken = {path: _written(path) - written[path] for path in PATHS}
    if taken != dict.fromkeys(PATHS, 2 * batches):  # per job: the create's batch, the transitions'
        raise RuntimeError(f"the batches did not take the paths measured: {taken} (batches written by path)")
    figures: dict[str, Any] = {"batches": batches}
    for path, measured in seconds.items():
        kept = sorted(measured[batches // 10 :])
        figures[f"{path}_p50_ms"] = round(statistics.median(kept) * 1000, 3)
        figures[f"{path}_p90_ms"] = round(kept[int(len(kept) * 0.9)] * 1000, 3)
    figures["ratio_locked_to_unchanged"] = round(figures["locked_p50_ms"] / figures["unchanged_p50_ms"], 2)
    return figures
