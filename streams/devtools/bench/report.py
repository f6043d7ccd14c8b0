"""The figures of a run as one JSON-ready dict (no I/O): what `jobstream bench --json` prints."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from streams.devtools.bench.config import BenchConfig
from streams.devtools.bench.curve import Point, curve_entry
from streams.devtools.bench.measure import PhaseResult
from streams.devtools.bench.phases import Measured


@dataclass(frozen=True)
class Phases:
    """What each phase measured; `curve` lowest load first, `long_job` None when skipped."""

    ceiling: Measured
    floor: Measured
    baseline: Measured
    saturation: Measured
    curve: list[tuple[Point, PhaseResult]]
    long_job: dict[str, Any] | None
    problems: list[str]


def report(config: BenchConfig, run_id: str, phases: Phases) -> dict[str, Any]:
    saturation = phases.saturation
    cps = saturation.result.cps
    curve = [curve_entry(point, result) for point, result in phases.curve]
    fixed = next((e for e in curve if e["offered_cps"] == round(config.rate, 1)), None) or {}
    long_job = phases.long_job or {}
    worker_ms, system_ms = saturation.cpu.measured_ms_per_command, saturation.cpu.system_ms_per_command
    return {
        "run_id": run_id,
        "commands": config.commands,
        "jobs": config.jobs,
        "workers": config.workers,
        "ceiling_cps": round(phases.ceiling.result.cps, 1),
        "faust_floor_cps": round(phases.floor.result.cps, 1),
        "baseline_cps": round(phases.baseline.result.cps, 1),
        "baseline_commands": min(config.baseline_commands, config.commands),
        "jobstream_cps": round(cps, 1),
        "worker_roles": config.roles,
        "ratio_ceiling": ratio(cps, phases.ceiling.result.cps, 3),
        "ratio_faust_floor": ratio(cps, phases.floor.result.cps, 3),
        "ratio_baseline": ratio(cps, phases.baseline.result.cps, 2),
        "offered_rate_cps": config.rate,
        "achieved_rate_cps": fixed.get("achieved_cps"),
        "p50_ms": fixed.get("p50_ms"),
        "p95_ms": fixed.get("p95_ms"),
        "p99_ms": fixed.get("p99_ms"),
        "latency_curve": curve,
        "saturation": {k: v for k, v in saturation.result.summary().items() if k != "cps"},
        "ceiling": _child_figures(phases.ceiling),
        "faust_floor": _child_figures(phases.floor),
        "baseline": _child_figures(phases.baseline),
        "worker_rss_mb": round(saturation.peak_rss_mb, 1),
        "worker_cpu_s": round(saturation.cpu.measured_s, 2),
        "worker_cpu_per_1k_commands_s": round(
            saturation.cpu.measured_s / saturation.result.commands * 1000, 3
        ),
        "worker_cpu_ms_per_command": worker_ms,
        "system_cpu_ms_per_command": system_ms,
        "cpu_ratio_faust_floor": ratio(worker_ms, phases.floor.cpu.measured_ms_per_command, 2),
        "cpu_ratio_baseline": ratio(worker_ms, phases.baseline.cpu.measured_ms_per_command, 2),
        "system_cpu_ratio_faust_floor": ratio(system_ms, phases.floor.cpu.system_ms_per_command, 2),
        "system_cpu_ratio_baseline": ratio(system_ms, phases.baseline.cpu.system_ms_per_command, 2),
        "long_job_commands": long_job.get("commands", 0),
        "long_job_cpu_ms_first": long_job.get("early_cpu_ms_per_cmd"),
        "long_job_cpu_ms_last": long_job.get("late_cpu_ms_per_cmd"),
        "long_job": phases.long_job,
        "correct": not phases.problems,
        "problems": phases.problems[:10],
        "cpus": os.cpu_count(),
    }


def _child_figures(measured: Measured) -> dict[str, Any]:
    """A pass-through's or the baseline's latency summary and CPU per command (its process; system)."""
    return {
        **measured.result.summary(),
        "cpu_ms_per_command": measured.cpu.measured_ms_per_command,
        "system_cpu_ms_per_command": measured.cpu.system_ms_per_command,
    }


def ratio(value: float | None, against: float | None, digits: int) -> float | None:
    return round(value / against, digits) if value is not None and against else None
