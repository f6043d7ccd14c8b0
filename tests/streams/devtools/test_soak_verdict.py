"""The soak's verdict from its time series, its ERROR classes, and its mix (no Kafka, no Postgres)."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from pathlib import Path

import orjson

from streams.devtools.soak.config import SoakConfig
from streams.devtools.soak.errors import ErrorCounter, error_class
from streams.devtools.soak.mix import ROUND_JOBS, MixCounts, rounds
from streams.devtools.soak.report import rejudged, write
from streams.devtools.soak.runner import SoakResult
from streams.devtools.soak.verdict import Bucket, Sample, judge

HOUR = SoakConfig()


def samples(worker: float = 150.0, growth_mib: float = 0.0, broker: float = 640.0) -> list[Sample]:
    """An hour every 10 s; the worker's RSS grows linearly by `growth_mib` after warm-up."""
    rows = []
    for t in range(0, 3601, 10):
        after = max(0.0, (t - HOUR.warmup_s) / (HOUR.duration_s - HOUR.warmup_s))
        rows.append(Sample(t, worker + growth_mib * after, broker, 500.0, 10, t * 600, t * 600, 2.0, 0))
    return rows


def buckets(p99_ms: float = 40.0, late_p99_ms: float | None = None) -> list[Bucket]:
    """A bucket a minute; from minute 50 on the p99 is `late_p99_ms`."""
    return [
        Bucket(m * 60.0, 36_000, 10.0, late_p99_ms if late_p99_ms and m >= 50 else p99_ms, 200.0)
        for m in range(60)
    ]


def test_flat_memory_and_latency_pass() -> None:
    verdict = judge(samples(), buckets(), {}, {}, HOUR)
    assert verdict.passed, verdict
    assert {c.name: (c.first, c.last) for c in verdict.checks}["p99_ms"] == (40.0, 40.0)


def test_worker_memory_growing_past_the_bound_fails_that_check_only() -> None:
    verdict = judge(samples(growth_mib=80), buckets(), {}, {}, HOUR)
    failed = [c.name for c in verdict.checks if not c.passed]
    assert failed == ["worker_rss_mib"] and not verdict.passed
    worker = verdict.checks[0]
    assert worker.first is not None and worker.last is not None and 50 < worker.last - worker.first < 80


def test_growth_before_the_end_of_warm_up_is_not_judged() -> None:
    rows = [Sample(s.t_s, 100.0 if s.t_s < HOUR.warmup_s else 180.0, *_rest(s)) for s in samples()]
    assert judge(rows, buckets(), {}, {}, HOUR).passed


def _rest(sample: Sample) -> tuple[float, float, int, int, int, float, int]:
    return (sample.broker_rss_mib, sample.postgres_rss_mib, sample.lag, sample.sent, sample.answered,
            sample.loadavg_1m, sample.errors)  # fmt: skip


def test_p99_doubling_and_more_in_the_last_window_fails() -> None:
    assert not judge(samples(), buckets(late_p99_ms=90.0), {}, {}, HOUR).passed
    assert judge(samples(), buckets(late_p99_ms=80.0), {}, {}, HOUR).passed  # exactly 2x: within


def test_one_spiking_minute_is_not_a_trend() -> None:
    """The median of the window's minutes: the shared machine's one bad minute moves nothing."""
    series = buckets()
    series[55] = Bucket(55 * 60.0, 36_000, 30.0, 2_000.0, 3_000.0)
    assert judge(samples(), series, {}, {}, HOUR).passed


def test_errors_fail_unless_explained_and_end_problems_fail() -> None:
    line = orjson.dumps({"event": "callback.attempt_crashed", "level": "error"}).decode()
    errors, examples = {"callback.attempt_crashed": 2}, {"callback.attempt_crashed": line}
    verdict = judge(samples(), buckets(), errors, examples, HOUR)
    assert not verdict.passed and verdict.unexplained_errors == errors
    documented = [re.compile(r"^callback\.attempt_crashed$")]
    assert judge(samples(), buckets(), errors, examples, HOUR, classes=documented).passed
    assert not judge(samples(), buckets(), {}, {}, HOUR, problems=["3 commands never answered"]).passed


def test_a_run_without_readings_in_a_window_fails() -> None:
    early = [s for s in samples() if s.t_s < 1200]
    assert not judge(early, buckets(), {}, {}, HOUR).passed


def test_short_runs_scale_their_windows_and_an_hour_keeps_its_own() -> None:
    assert HOUR.scaled() == HOUR
    short = SoakConfig(duration_s=60).scaled()
    assert (short.warmup_s, short.window_s) == (20, 20) and short.sample_every_s <= 5


def test_error_classes() -> None:
    structlog_line = orjson.dumps({"event": "callback.attempt_crashed", "level": "error", "job_id": "j1"})
    assert error_class(structlog_line.decode()) == "callback.attempt_crashed"
    assert error_class('{"event": "batches.resumed", "level": "info"}') is None
    stdlib = "2026-12-02 05:40:01,123 ERROR aiokafka.consumer.group_coordinator Heartbeat failed for group 12"
    other = "2026-12-02 05:41:07,900 ERROR aiokafka.consumer.group_coordinator Heartbeat failed for group 345"
    assert (
        error_class(stdlib)
        == error_class(other)
        == "aiokafka.consumer.group_coordinator Heartbeat failed for group N"
    )
    assert error_class("[2026-12-02 05:40:01,123] [4242] [ERROR] [^---Agent*: x]: crashed 0x7f3a") == (
        "[^---Agent*: x]: crashed N"
    )
    assert error_class("2026-12-02 05:40:01,123 WARNING aiokafka timed out") is None


def test_the_error_counter_reads_on_and_waits_for_a_line_being_written(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text('{"event": "a.b", "level": "error"}\n{"event": "a.b", "lev')
    counter = ErrorCounter(log)
    assert counter.read() == 1
    with log.open("a") as out:
        out.write('el": "error"}\n{"event": "c", "level": "info"}\n')
    assert counter.read() == 1 and counter.read() == 0
    assert counter.counts == Counter({"a.b": 2})


def test_the_mix_ends_every_job_it_starts_at_a_round_boundary() -> None:
    counts = MixCounts()
    commands = list(itertools.islice(rounds("s1", "http://127.0.0.1:1/cb", counts), 3 * 5_000))
    ends = [i for i, (*_, last) in enumerate(commands) if last]
    assert ends and all(counts.job_ids) and len(counts.job_ids) % ROUND_JOBS == 0
    through_last_round = commands[: ends[-1] + 1]
    by_job: dict[str, list[dict[str, object]]] = {}
    for _, key, value, _ in through_last_round:
        by_job.setdefault(key.decode(), []).append(orjson.loads(value))
    assert len(by_job) == len(ends) * ROUND_JOBS
    for job in by_job.values():
        assert job[0]["type"] == "create" and len({c["command_id"] for c in job}) == len(job)
        last = job[-1]
        if job[0].get("timeout_seconds"):
            assert last["status"] == "running"  # left to expire
        else:
            assert last["status"] in ("completed", "failed")
    kinds = Counter(counts.kinds)
    assert kinds["callback"] == 2 * kinds["expiring"] and kinds["completed"] == 5 * kinds["expiring"]


# Faust's stall checks as a soak's worker logged them (the run id in the topic name varies).
STALL_LINES = (
    "[2026-12-02 06:03:25,314] [12607] [ERROR] [^---ReadCommittedConsumerThread]: Stream stopped processing,"
    " or is slow for TP(topic='se56551.js.batches.results', partition=3) (last inbound 5.70 minutes ago). ",
    "[2026-12-02 06:04:24,740] [12607] [ERROR] [^---ReadCommittedConsumerThread]: Thread keepalive is not"
    " responding... ",
    "[2026-12-02 06:11:59,303] [12607] [ERROR] [^---ReadCommittedConsumerThread]: Has not committed"
    " TP(topic='se56551.js.batches.results', partition=2) (last commit 9.60 minutes ago). ",
)


def judged_errors(lines: list[str]) -> dict[str, int]:
    """The unexplained classes of these lines, by the docs' tables."""
    errors = Counter(error_class(line) or "" for line in lines)
    examples = {error_class(line) or "": line for line in lines}
    return judge(samples(), buckets(), errors, examples, HOUR).unexplained_errors


def test_faust_stall_checks_are_explained_by_the_docs_and_other_errors_are_not() -> None:
    assert judged_errors(list(STALL_LINES)) == {}
    other_topic = STALL_LINES[0].replace("se56551.js.batches.results", "s9af4f9.js.jobs.resume")
    crashed = STALL_LINES[0].replace("Stream stopped", "Stream crashed")
    assert list(judged_errors([other_topic, crashed])) == [error_class(crashed)]


def test_a_finished_run_is_judged_again_from_its_result_json(tmp_path: Path) -> None:
    """`jobstream soak --judge`: the series as recorded, the current rules (here: the stall checks
    explained since the run), NaN buckets (no answers in a minute) read back as null."""
    crash = orjson.dumps({"event": "callback.attempt_crashed", "level": "error"}).decode()
    lines = {error_class(STALL_LINES[0]) or "": STALL_LINES[0], "callback.attempt_crashed": crash}
    errors = {error_class(STALL_LINES[0]) or "": 9, "callback.attempt_crashed": 1}
    series = [*buckets(), Bucket(3600.0, 0, float("nan"), float("nan"), float("nan"))]
    verdict = judge(samples(), series, errors, lines, HOUR, classes=[])
    result = SoakResult("s1", HOUR, tmp_path, samples(), series, errors, lines, {"commands": 1}, verdict)
    write(result, tmp_path)
    again = rejudged(tmp_path / "result.json")
    assert not verdict.passed and not again.verdict.passed
    assert again.verdict.unexplained_errors == {"callback.attempt_crashed": 1}
    assert again.samples == result.samples and again.config == HOUR
