"""The latency curve (no I/O): the loads offered after saturation, how long each, each point's figures."""

from __future__ import annotations

from dataclasses import dataclass

from streams.devtools.bench.measure import PhaseResult

SHARES = (0.10, 0.25, 0.50, 0.75)  # of the capacity measured at saturation


@dataclass(frozen=True, slots=True)
class Point:
    offered_cps: float
    commands: int


def curve_points(capacity_cps: float, fixed_cps: float, max_seconds: float, samples: int) -> list[Point]:
    """The shares of capacity and the fixed rate, lowest first (the fixed rate once, also if a share
    equals it); each as many commands as `samples`, or as `max_seconds` at that rate if fewer."""
    rates = {round(capacity_cps * share, 1) for share in SHARES if capacity_cps > 0}
    rates.add(round(fixed_cps, 1))
    return [Point(rate, point_commands(rate, max_seconds, samples)) for rate in sorted(rates) if rate > 0]


def point_commands(rate: float, max_seconds: float, samples: int) -> int:
    """A few thousand samples, or `max_seconds` of load where that is fewer (low rates); at least one."""
    return max(1, min(samples, int(rate * max_seconds)))


def curve_entry(point: Point, result: PhaseResult) -> dict[str, float]:
    """One entry of `latency_curve` in the JSON."""
    summary = result.summary()
    return {
        "offered_cps": point.offered_cps,
        "achieved_cps": round(result.achieved_cps, 1),
        "p50_ms": summary["p50_ms"],
        "p95_ms": summary["p95_ms"],
        "p99_ms": summary["p99_ms"],
    }
