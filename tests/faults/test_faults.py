"""Faults under load (docs/reliability.md): nothing acked is lost or applied twice; processing resumes."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.devtools.stack.stack import LocalStack
from tests.faults import faults
from tests.faults.poison import build_poison_load
from tests.faults.runner import Scenario, run_scenario

pytestmark = pytest.mark.faults

SCENARIOS = [
    # 20k commands (docs/reliability.md), paced so the five kill/restart cycles all land inside the load.
    Scenario("worker_kill9", commands=20_000, rate=150, bad_every=500, fault=faults.kill_worker),
    Scenario("broker_kill9", commands=4_000, rate=150, bad_every=500, fault=faults.kill_broker),
    Scenario("postgres_stop", commands=4_000, rate=150, bad_every=500, fault=faults.stop_postgres),
    Scenario("rebalance", commands=6_000, rate=150, bad_every=500, fault=faults.rebalance),
    Scenario("bad_input", commands=3_000, rate=300, bad_every=12, fault=faults.none),
    # Every hostile kind and fuzzed records among ordinary jobs: none may hold a partition up (rule 12).
    Scenario(
        "poison",
        commands=4_000,
        rate=300,
        bad_every=6,
        fault=faults.none,
        build=build_poison_load,
        max_wait_s=5.0,
    ),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
async def test_fault_scenario(
    scenario: Scenario, fault_stack: tuple[LocalStack, dict[str, str]], logs_dir: Path
) -> None:
    stack, env = fault_stack
    outcome = await run_scenario(scenario, stack, env, logs_dir)
    print(outcome.summary())
    failures = outcome.failures()
    replay = f"JOBSTREAM_FAULT_SEED={outcome.seed}"
    assert not failures, f"{len(failures)} violations ({replay}), first ones:\n" + "\n".join(failures[:30])
