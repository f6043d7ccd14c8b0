"""The bench's pure pieces: the latency curve's points, CPU accounting, sizes, and the JSON it prints."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import time
from collections import namedtuple
from typing import Any

import pytest

from streams.cli.bench import _table, _writes
from streams.devtools.bench.config import BenchConfig
from streams.devtools.bench.cpu import MEASURED, PhaseCpu, group_seconds, phase_cpu, tree_seconds
from streams.devtools.bench.curve import Point, curve_entry, curve_points, point_commands
from streams.devtools.bench.history import window_for
from streams.devtools.bench.measure import PhaseResult, ResourceSampler, phase_result, settle
from streams.devtools.bench.phases import Measured
from streams.devtools.bench.report import Phases, report

Times = namedtuple("Times", "user system children_user children_system")


class FakeProcess:
    def __init__(self, times: Times, children: list[Any] | None = None) -> None:
        self.times, self.kids = times, children or []

    def cpu_times(self) -> Times:
        return self.times

    def children(self, recursive: bool = False) -> list[Any]:
        assert recursive
        return self.kids


def test_the_curve_is_shares_of_capacity_and_the_fixed_rate_lowest_first() -> None:
    points = curve_points(2_400.0, 2_000.0, max_seconds=10, samples=5_000)
    assert [p.offered_cps for p in points] == [240.0, 600.0, 1_200.0, 1_800.0, 2_000.0]
    # ~10 s where that is fewer than 5,000 samples, else 5,000
    assert [p.commands for p in points] == [2_400, 5_000, 5_000, 5_000, 5_000]


def test_a_fixed_rate_equal_to_a_share_is_measured_once() -> None:
    assert [p.offered_cps for p in curve_points(4_000.0, 2_000.0, 10, 5_000)] == [400, 1_000, 2_000, 3_000]


def test_no_capacity_leaves_the_fixed_rate() -> None:
    assert curve_points(0.0, 2_000.0, 2, 500) == [Point(2_000.0, 500)]


def test_point_size() -> None:
    assert point_commands(50.0, 10, 5_000) == 500
    assert point_commands(0.01, 10, 5_000) == 1


def test_a_curve_entry_has_the_json_keys() -> None:
    result = PhaseResult("p", 4, 2.0, [10.0, 20.0, 30.0, 40.0], span_s=1.5)
    entry = curve_entry(Point(2.0, 4), result)
    assert entry == {"offered_cps": 2.0, "achieved_cps": 2.0, "p50_ms": 30.0, "p95_ms": 40.0, "p99_ms": 40.0}


def test_the_achieved_rate_is_the_offered_one_while_outputs_keep_pace() -> None:
    sent = {f"c{i}": 1_000 + 10 * i for i in range(101)}  # 100/s over 1 s
    on_time = phase_result("p", sent, [(c, t + 80) for c, t in sent.items()], 101)
    assert on_time.achieved_cps == pytest.approx(100.0)
    assert on_time.cps < 95  # from first send to last output: the last command's latency is in it
    behind = phase_result("p", sent, [(c, 1_080 + 20 * i) for i, c in enumerate(sent)], 101)  # 50/s
    assert behind.achieved_cps == pytest.approx(50.0)
    assert behind.percentile(99) == pytest.approx(80 + 10 * 99)


def test_a_tree_counts_each_live_process_with_what_it_has_reaped() -> None:
    child = FakeProcess(Times(1.0, 0.5, 0.25, 0.25))
    root = FakeProcess(Times(2.0, 1.0, 3.0, 0.0), [child])
    assert tree_seconds(root) == pytest.approx(6.0 + 2.0)


def test_a_gone_process_counts_nothing() -> None:
    assert group_seconds([2**22 + 12345]) == 0.0  # above any pid_max: no such process
    assert group_seconds([os.getpid()]) > 0


def test_cpu_per_command_of_the_process_and_the_system() -> None:
    seconds = {MEASURED: 0.8, "postgres": 0.3, "kafka": 0.1}
    assert phase_cpu(seconds, 2_000) == PhaseCpu(0.8, 0.4, 0.6)
    # without both stack services (external ones), no system figure
    assert phase_cpu({MEASURED: 0.8, "postgres": 0.3}, 2_000) == PhaseCpu(0.8, 0.4, None)
    assert phase_cpu({MEASURED: 0.8}, 0).measured_ms_per_command is None


async def test_the_sampler_differences_cpu_over_the_phase() -> None:
    async with ResourceSampler({MEASURED: [os.getpid()]}) as sampler:
        deadline = time.process_time() + 0.2
        while time.process_time() < deadline:
            pass
    assert 0.15 < sampler.cpu_seconds[MEASURED] < 2
    assert sampler.peak_rss_mb > 0


async def test_settle_waits_for_an_idle_process() -> None:
    assert await settle([os.getpid()], timeout_s=5)  # this one sleeps while it measures
    busy = await asyncio.create_subprocess_exec(sys.executable, "-c", "while True: pass")
    try:
        assert not await settle([busy.pid], timeout_s=1.2)
    finally:
        busy.kill()
        await busy.wait()


def test_sizes_scale_with_the_mix() -> None:
    full = BenchConfig()
    assert full.point_size() == (10.0, 5_000) and full.long_job_size() == 50_000
    small = BenchConfig(commands=5_000, jobs=500)
    assert small.point_size() == (2.0, 500) and small.long_job_size() == 2_500
    assert small.mix(1_000) == (1_000, 100)
    assert BenchConfig(commands=5_000, long_job_commands=0, point_seconds=1.0).long_job_size() == 0
    assert BenchConfig(commands=5_000, point_seconds=1.0).point_size() == (1.0, 500)
    assert "385,000 commands" in _writes(full, 0, 0, 0)
    assert _writes(full, 0, 1_000_000, 0) == "1,000,000 jobs into a scratch database"
    assert _writes(full, 0, 0, 500) == "the rows of 1,000 jobs"


def test_long_job_windows() -> None:
    assert window_for(50_000) == 2_000 and window_for(2_500) == 833
    with pytest.raises(ValueError):
        window_for(100)


def measured(cps: float, process_ms: float, system_ms: float | None) -> Measured:
    result = PhaseResult("x", 1_000, 1_000 / cps, [5.0] * 1_000)
    return Measured(result, PhaseCpu(process_ms, process_ms, system_ms), 100.0)


def fake_phases(long_job: dict[str, Any] | None) -> Phases:
    curve = [
        (Point(offered, 500), PhaseResult("p", 500, 500 / offered, [float(offered)] * 500, 499 / offered))
        for offered in (200.0, 500.0, 2_000.0)
    ]
    return Phases(
        ceiling=measured(20_000, 0.05, 0.2),
        floor=measured(5_000, 0.2, 0.5),
        baseline=measured(200, 1.0, 4.0),
        saturation=measured(2_000, 0.4, 0.8),
        curve=curve,
        long_job=long_job,
        problems=[],
    )


EXISTING_KEYS = {
    "run_id", "commands", "jobs", "ceiling_cps", "faust_floor_cps", "baseline_cps", "baseline_commands",
    "jobstream_cps", "worker_roles", "ratio_ceiling", "ratio_faust_floor", "ratio_baseline",
    "offered_rate_cps", "achieved_rate_cps", "p50_ms", "p95_ms", "p99_ms", "saturation", "ceiling",
    "baseline", "worker_rss_mb", "worker_cpu_s", "worker_cpu_per_1k_commands_s", "correct", "problems",
    "cpus",
}  # fmt: skip
NEW_KEYS = {
    "worker_cpu_ms_per_command", "system_cpu_ms_per_command", "latency_curve", "workers",
    "long_job_cpu_ms_first", "long_job_cpu_ms_last",
}  # fmt: skip


def test_the_json_keeps_its_keys_and_adds_the_new_figures() -> None:
    long_job = {"commands": 50_000, "window": 2_000, "early_cpu_ms_per_cmd": 0.12,
                "late_cpu_ms_per_cmd": 0.15, "ratio_late_early": 1.25}  # fmt: skip
    r = report(BenchConfig(workers=2), "b123456", fake_phases(long_job))
    assert set(r) >= EXISTING_KEYS | NEW_KEYS
    assert r["workers"] == 2 and r["correct"] is True
    assert r["worker_cpu_ms_per_command"] == 0.4 and r["system_cpu_ms_per_command"] == 0.8
    assert r["worker_cpu_per_1k_commands_s"] == 0.4
    assert r["cpu_ratio_faust_floor"] == 2.0 and r["system_cpu_ratio_baseline"] == 0.2
    assert [e["offered_cps"] for e in r["latency_curve"]] == [200.0, 500.0, 2_000.0]
    assert set(r["latency_curve"][0]) == {"offered_cps", "achieved_cps", "p50_ms", "p95_ms", "p99_ms"}
    # the fixed rate's figures are that point of the curve
    assert (r["achieved_rate_cps"], r["p99_ms"]) == (2_000.0, 2_000.0)
    assert (r["long_job_cpu_ms_first"], r["long_job_cpu_ms_last"]) == (0.12, 0.15)
    text = _table(r)
    assert "x2.0 the faust pass-through's" in text and "x0.4 the baseline's" in text
    assert "10% of capacity" in text and "fixed rate" in text and "0.12 ms first" in text


def test_a_skipped_long_job_and_an_external_stack() -> None:
    phases = dataclasses.replace(fake_phases(None), saturation=measured(2_000, 0.4, None))
    r = report(BenchConfig(long_job_commands=0), "b123456", phases)
    assert r["long_job_cpu_ms_first"] is None and r["long_job_commands"] == 0
    assert r["system_cpu_ms_per_command"] is None and r["system_cpu_ratio_faust_floor"] is None
    text = _table(r)
    assert "long job: skipped" in text and "n/a" in text
