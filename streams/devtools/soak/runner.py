"""One `jobstream soak` run: a worker (commands and downstream roles) on its own namespace, the steady mix
sent at a fixed rate for the duration, a reading every few seconds, then the end check and the verdict.

Whatever the run created (topics, job rows, worker state) is removed afterwards, as the bench's is
(bench/scratch.py); its logs and readings stay under `JOBSTREAM_HOME/soak/<run id>/`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import asyncpg
import orjson

from storage.migrate import upgrade
from streams.devtools.bench.measure import Collector
from streams.devtools.bench.scratch import Scratch, namespaced_env, new_run_id
from streams.devtools.bench.sender import CommandSender
from streams.devtools.bench.workers import Workers
from streams.devtools.soak.config import SoakConfig
from streams.devtools.soak.errors import ErrorCounter
from streams.devtools.soak.mix import EXPIRE_AFTER_S, MixCounts, rounds
from streams.devtools.soak.provider import Batches
from streams.devtools.soak.receiver import CallbackReceiver
from streams.devtools.soak.sampler import Lag, Processes, loadavg_1m
from streams.devtools.soak.verdict import Bucket, Sample, Verdict, bucket, judge
from streams.settings import Settings
from streams.settings.callbacks import ALLOW_CIDRS_ENV

DRAIN_TIMEOUT_S = 180.0
FINAL_STATUS = {"callback": "completed", "completed": "completed", "failed": "failed", "expiring": "expired"}


@dataclass
class SoakResult:
    run_id: str
    config: SoakConfig
    folder: Path
    samples: list[Sample]
    buckets: list[Bucket]
    errors: dict[str, int]
    error_examples: dict[str, str]
    totals: dict[str, object]
    verdict: Verdict


@dataclass
class _Latencies:
    """Send times of commands not yet answered, and the latencies of the current bucket."""

    started: float  # wall clock, s
    bucket_s: float
    sent_ms: dict[str, int] = field(default_factory=dict)
    current: list[float] = field(default_factory=list)
    current_start: float = 0.0
    buckets: list[Bucket] = field(default_factory=list)
    answered: int = 0
    journal: Path | None = None

    def record(self, command_id: str, output_ms: int) -> None:
        sent = self.sent_ms.pop(command_id, None)
        if sent is None:  # a batch's or the service's own command, or an output seen twice
            return
        self.answered += 1
        t = output_ms / 1000 - self.started
        while t >= self.current_start + self.bucket_s:
            self.close()
        self.current.append(max(0.0, float(output_ms - sent)))

    def close(self) -> None:
        self.buckets.append(bucket(self.current_start, self.current))
        self.current, self.current_start = [], self.current_start + self.bucket_s
        if self.journal is not None:
            _append(self.journal, asdict(self.buckets[-1]))


def _append(path: Path, row: dict[str, object]) -> None:
    """A reading as one JSON line, as it is taken: a run that dies late keeps what it measured."""
    with path.open("ab") as out:
        out.write(orjson.dumps(row) + b"\n")


def _say(line: str) -> None:
    print(f"soak: {line}", file=sys.stderr, flush=True)


async def run(settings: Settings, config: SoakConfig, run_id: str | None = None) -> SoakResult:
    config = config.scaled()
    async with Scratch(settings, run_id or new_run_id("s")) as scratch:
        folder = settings.home / "soak" / scratch.run_id
        folder.mkdir(parents=True, exist_ok=True)
        upgrade(settings.postgres_url)
        env = {**namespaced_env(scratch.run_id, "commands,downstream"), ALLOW_CIDRS_ENV: "127.0.0.1/32"}
        worker_settings = Settings.from_env(env)
        scratch.add_worker(worker_settings)
        workers = Workers(env, 1, folder, scratch.run_id)
        batches = Batches(env, folder, scratch.run_id) if config.batches else None
        with CallbackReceiver() as receiver:
            _say(f"{scratch.run_id}: worker starting (logs in {folder})")
            workers.start()
            try:
                await workers.wait_ready(worker_settings, scratch)
                if batches is not None:
                    await batches.start()
                return await _soak(
                    settings, worker_settings, config, scratch, folder, workers, batches, receiver
                )
            finally:
                workers.stop()
                if batches is not None:
                    await batches.stop()


async def _soak(
    settings: Settings,
    worker_settings: Settings,
    config: SoakConfig,
    scratch: Scratch,
    folder: Path,
    workers: Workers,
    batches: Batches | None,
    receiver: CallbackReceiver,
) -> SoakResult:
    run_id, topics = scratch.run_id, worker_settings.topics
    counts = MixCounts()
    latencies = _Latencies(time.time(), config.latency_bucket_s, journal=folder / "latency.jsonl")
    collector = Collector(settings.bootstrap_servers, topics.events, run_id.encode(), latencies.record)
    lag = Lag(settings.bootstrap_servers, worker_settings.app_id, topics.commands)
    logs = [
        ErrorCounter(p)
        for p in (*(p.log_path for p in workers.processes), *(batches.log_paths if batches else ()))
    ]
    processes = Processes(settings, workers.pids)
    sender = CommandSender(settings.bootstrap_servers, topics.commands, paced=True)
    samples: list[Sample] = []
    send_problems: list[str] = []

    def send_dict(command: dict[str, object]) -> object:
        return asyncio.ensure_future(sender.send(str(command["job_id"]).encode(), orjson.dumps(command)))

    async def sample(t0: float, sent: int) -> None:
        worker, broker, postgres = processes.rss()
        for log in logs:
            log.read()
        errors = sum(sum(log.counts.values()) for log in logs)
        samples.append(
            Sample(
                round(time.time() - t0, 1),
                worker,
                broker,
                postgres,
                await lag.read(),
                sent,
                latencies.answered,
                loadavg_1m(),
                errors,
            )
        )
        s = samples[-1]
        _append(folder / "samples.jsonl", asdict(s))
        _say(
            f"t={s.t_s:>6.0f}s sent={s.sent} answered={s.answered} lag={s.lag}"
            f" rss worker={s.worker_rss_mib} broker={s.broker_rss_mib} postgres={s.postgres_rss_mib} MiB"
            f" load={s.loadavg_1m} errors={errors}"
        )

    await collector.start(from_end=True)
    await lag.start()
    await sender.start()
    try:
        t0 = time.time()
        latencies.started = t0
        stream = rounds(run_id, receiver.url, counts)
        next_sample, next_batch, next_end = t0, t0 + 1, t0 + 1 + config.batch_provider_s
        n, round_done = 0, True
        while (now := time.time()) < t0 + config.duration_s or not round_done:
            if now >= next_sample:
                await sample(t0, n)
                next_sample += config.sample_every_s
                if not workers.alive() or (batches is not None and not batches.alive()):
                    raise RuntimeError(f"a process under test exited; see its log in {folder}")
            if batches is not None and now >= next_batch:
                await batches.create(config.batch_items, send_dict)
                next_batch += config.batch_every_s
            if batches is not None and now >= next_end:
                await batches.end_oldest()
                next_end += config.batch_every_s
            # one tick's commands at the rate, sent at once (no linger): the bench's paced sender, in ticks
            due = int((time.time() - t0) * config.rate) - n
            for _ in range(max(0, due)):
                command_id, key, value, round_done = next(stream)
                latencies.sent_ms[command_id] = int(time.time() * 1000)
                await sender.send(key, value)
                n += 1
                if round_done and time.time() >= t0 + config.duration_s:
                    break
            await asyncio.sleep(0.005)
        await sample(t0, n)
        _say(f"load stopped after {n} commands; draining")
        if batches is not None:
            await batches.end_all()
        await _drain(latencies, lag, workers)
        latencies.close()
        await asyncio.sleep(EXPIRE_AFTER_S + 3)  # the last expiring jobs' timeouts
        for log in logs:
            log.read()
    finally:
        scratch.add_jobs(counts.job_ids)  # removed afterwards, also when the run is interrupted
        if batches is not None:
            scratch.add_jobs([*batches.batch_ids, *batches.item_ids])
        send_problems = await sender.finish()
        await lag.stop()
        await collector.stop()
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while True:  # callbacks and the last batches' results arrive after the last command's event
        problems, totals = await _end_check(settings.postgres_url, counts, batches, receiver, latencies, n)
        if not problems or time.monotonic() > deadline:
            break
        await asyncio.sleep(2)
    problems += send_problems
    errors: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for log in logs:
        errors.update(log.counts)
        examples.update(log.first_lines)
    verdict = judge(samples, latencies.buckets, errors, examples, config, problems)
    return SoakResult(
        run_id, config, folder, samples, latencies.buckets, dict(errors), examples, totals, verdict
    )


async def _drain(latencies: _Latencies, lag: Lag, workers: Workers) -> None:
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while latencies.sent_ms or await lag.read() > 0:
        if time.monotonic() > deadline or not workers.alive():
            _say(f"not drained: {len(latencies.sent_ms)} commands unanswered")
            return
        await asyncio.sleep(0.5)


async def _end_check(
    database_url: str,
    counts: MixCounts,
    batches: Batches | None,
    receiver: CallbackReceiver,
    latencies: _Latencies,
    sent: int,
) -> tuple[list[str], dict[str, object]]:
    """What Postgres must say: every job in its kind's final status, every callback delivered (200 on
    record and received), every batch and its items completed; and every command answered."""
    expected: Counter[str] = Counter()
    for kind, n in counts.kinds.items():
        expected[FINAL_STATUS[kind]] += n
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT status, count(*) AS n, count(*) FILTER (WHERE callback_status_code = 200) AS delivered"
            " FROM jobs WHERE id = ANY($1::text[]) GROUP BY status",
            counts.job_ids,
        )
        batch_rows = []
        if batches is not None:
            batch_rows = await connection.fetch(
                "SELECT job_type, status, count(*) AS n FROM jobs WHERE id = ANY($1::text[])"
                " GROUP BY job_type, status",
                [*batches.batch_ids, *batches.item_ids],
            )
    finally:
        await connection.close()
    found = {row["status"]: row["n"] for row in rows}
    delivered = sum(row["delivered"] for row in rows)
    problems = []
    if found != dict(expected):
        problems.append(f"job statuses {found}, expected {dict(expected)}")
    wanted = counts.kinds["callback"]
    if delivered != wanted or receiver.received < wanted:
        problems.append(f"callbacks: {delivered} recorded 200 and {receiver.received} received of {wanted}")
    if latencies.sent_ms:
        problems.append(f"{len(latencies.sent_ms)} commands never answered")
    batch_found = {f"{row['job_type']}:{row['status']}": row["n"] for row in batch_rows}
    if batches is not None:
        batch_expected = {"batch:completed": len(batches.batch_ids), "run:completed": len(batches.item_ids)}
        if batch_found != batch_expected:
            problems.append(f"batches: {batch_found}, expected {batch_expected}")
    totals: dict[str, object] = {
        "commands": sent,
        "jobs": len(counts.job_ids),
        "kinds": dict(counts.kinds),
        "statuses": found,
        "callbacks_delivered": delivered,
        "callbacks_received": receiver.received,
        "batches": batch_found,
    }
    return problems, totals
