"""`jobstream soak` end to end, for 20 s: the verdict printed, its files written, its jobs where they end."""

from __future__ import annotations

import asyncio
import csv
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from streams.devtools.stack.stack import LocalStack
from streams.settings import Settings
from tests.streams.devtools.test_bench_cleanup import leftovers

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]


def test_a_short_soak_passes_and_writes_its_series_and_plots(
    stack: LocalStack, settings: Settings, tmp_path: Path
) -> None:
    # The stack's own variables unset: the soak finds the broker's and Postgres' pids from this checkout.
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    # A 20 s run judges its last 7 s against the 7 s before; the broker's JVM is still touching its
    # heap then (flat only after minutes), so its bound here is wide; the hour uses the default.
    args = ["soak", "--duration", "20", "--rate", "200", "--rss-growth-mib", "400", "--p99-ratio", "10"]
    args += ["--results", str(tmp_path), "--plots", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli.main", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=400, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    assert "verdict: PASS" in done.stdout
    result = orjson.loads((tmp_path / "result.json").read_bytes())
    totals = result["totals"]
    kinds = totals["kinds"]
    assert kinds["callback"] > 0 and kinds["expiring"] > 0
    assert totals["statuses"]["expired"] == kinds["expiring"]
    assert totals["callbacks_received"] >= totals["callbacks_delivered"] == kinds["callback"]
    assert totals["batches"].get("batch:completed", 0) >= 1
    with (tmp_path / "samples.csv").open() as series:
        rows = list(csv.DictReader(series))
    assert len(rows) >= 4
    assert all(float(r["worker_rss_mib"]) > 0 and float(r["broker_rss_mib"]) > 0 for r in rows)
    assert all(float(r["postgres_rss_mib"]) > 0 for r in rows) and int(rows[-1]["sent"]) >= 20 * 200
    for name in ("rss.png", "lag.png", "latency.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert asyncio.run(leftovers(settings, result["run_id"])) == {"topics": [], "rows": [], "folders": []}
