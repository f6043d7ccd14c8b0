"""Measuring a phase: send commands, collect outputs, and turn timestamps into figures."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import orjson
import psutil
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.devtools.bench.cpu import MEASURED, group_seconds
from streams.devtools.bench.sender import CommandSender
from streams.devtools.stack.process import rss_mb


@dataclass(slots=True)
class PhaseResult:
    name: str
    commands: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    span_s: float = 0.0  # the longer of the sends' and the outputs' spans

    @property
    def cps(self) -> float:
        """Throughput from the first send to the last output (saturation: the mix's makespan)."""
        return self.commands / self.seconds if self.seconds > 0 else 0.0

    @property
    def achieved_cps(self) -> float:
        """Rate of an offered load actually achieved: the offered rate while outputs keep pace with
        sends, the rate outputs came at when they fall behind; no end latency in it (short points)."""
        return (self.commands - 1) / self.span_s if self.span_s > 0 and self.commands > 1 else self.cps

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    def summary(self) -> dict[str, float]:
        return {
            "cps": round(self.cps, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p95_ms": round(self.percentile(95), 2),
            "p99_ms": round(self.percentile(99), 2),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 2) if self.latencies_ms else float("nan"),
        }


async def create_topics(bootstrap: str, names: Sequence[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


class Collector:
    """Reads an output topic and records, per command id, when its output was written (ms): in `outputs`,
    or handed to `record` instead (a soak's hour of outputs is not kept)."""

    def __init__(
        self, bootstrap: str, topic: str, prefix: bytes, record: Callable[[str, int], None] | None = None
    ) -> None:
        self.consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            group_id=None,
            enable_auto_commit=False,
            fetch_max_bytes=16 * 1024 * 1024,
        )
        self.prefix = prefix
        self.outputs: list[tuple[str, int]] = []  # (command_id, output timestamp ms)
        self.record = record or (lambda command_id, ts: self.outputs.append((command_id, ts)))
        self._task: asyncio.Task[None] | None = None

    async def start(self, from_end: bool = False) -> None:
        """From the topic's beginning, or `from_end`: only what is written after this returns."""
        await self.consumer.start()
        if from_end:
            await self.consumer.seek_to_end()
            for partition in self.consumer.assignment():
                await self.consumer.position(partition)  # resolved now, not at the first fetch
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=100, max_records=10_000)
            for messages in batch.values():
                for message in messages:
                    if message.key is not None and message.key.startswith(self.prefix):
                        self.record(orjson.loads(message.value)["command_id"], message.timestamp)

    async def wait_for(
        self, count: int, timeout_s: float, progress: str = "", alive: Callable[[], bool] = lambda: True
    ) -> None:
        deadline = time.monotonic() + timeout_s
        last_report = 0.0
        while len(self.outputs) < count:
            if not alive():
                raise RuntimeError(
                    f"{progress}: the process under test exited; see its log under bench-logs/"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"{progress}: {len(self.outputs)}/{count} outputs after {timeout_s:.0f}s")
            if progress and time.monotonic() - last_report > 5:
                print(f"  {progress}: {len(self.outputs)}/{count}", file=sys.stderr, flush=True)
                last_report = time.monotonic()
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.consumer.stop()


async def send_commands(
    bootstrap: str, topic: str, commands: Sequence[tuple[bytes, bytes]], rate: float | None = None
) -> dict[str, int]:
    """Produce commands (acks=all, idempotent; see sender.py) as fast as possible or at `rate` per
    second; returns each command id's (last) send time in ms. Raises if one was not delivered.

    Paced sends (a latency point) go out at once, as `JobstreamClient` sends (no linger), so the latency
    measured is the service's, not a sending producer's wait; flat out, records batch for 5 ms."""
    sender = CommandSender(bootstrap, topic, paced=rate is not None)
    await sender.start()
    sent: dict[str, int] = {}
    started = time.monotonic()
    for i, (key, value) in enumerate(commands):
        if rate is not None:
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        sent[orjson.loads(value)["command_id"]] = int(time.time() * 1000)
        await sender.send(key, value)
    if problems := await sender.finish():
        raise RuntimeError("; ".join(problems))
    return sent


def phase_result(name: str, sent: dict[str, int], outputs: list[tuple[str, int]], count: int) -> PhaseResult:
    """Throughput from the first send to the last output; latency per output from its command's send."""
    first_send = min(sent.values())
    output_times = [ts for _, ts in outputs[:count]]
    last_output = max(output_times)
    span_ms = max(max(sent.values()) - first_send, last_output - min(output_times))
    latencies = [max(0.0, float(ts - sent[cid])) for cid, ts in outputs[:count] if cid in sent]
    return PhaseResult(name, count, (last_output - first_send) / 1000, latencies, span_ms / 1000)


class ResourceSampler:
    """CPU seconds of named groups of process trees over a phase (see cpu.py), and the peak RSS of the
    largest process of the `measured` group."""

    def __init__(self, groups: Mapping[str, Sequence[int]]) -> None:
        self.groups = {name: list(pids) for name, pids in groups.items()}
        self.peak_rss_mb = 0.0
        self.cpu_seconds: dict[str, float] = {}
        self._start: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ResourceSampler:
        self._start = {name: group_seconds(pids) for name, pids in self.groups.items()}
        self._task = asyncio.create_task(self._sample())
        return self

    async def _sample(self) -> None:
        while True:
            self._sample_rss()
            await asyncio.sleep(0.25)

    def _sample_rss(self) -> None:
        for pid in self.groups.get(MEASURED, ()):
            with contextlib.suppress(psutil.Error):
                self.peak_rss_mb = max(self.peak_rss_mb, rss_mb(pid))

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        self._sample_rss()
        self.cpu_seconds = {
            name: group_seconds(pids) - self._start[name] for name, pids in self.groups.items()
        }


async def settle(pids: Sequence[int], timeout_s: float = 60.0, quiet_share: float = 0.1) -> bool:
    """Wait until the processes use less than `quiet_share` of a core each over half a second (a backlog
    of the previous phase drained, say); False if they are still busy after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        before, started = group_seconds(pids), time.monotonic()
        await asyncio.sleep(0.5)
        if group_seconds(pids) - before < quiet_share * len(pids) * (time.monotonic() - started):
            return True
    return False
