"""`jobstream demo` (what `make run` starts): one job through its lifecycle, in the organization given."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys

import pytest

from tests.support.pipeline import Pipeline

pytestmark = pytest.mark.e2e


async def test_the_demo_job_belongs_to_the_organization_given(pipeline: Pipeline) -> None:
    run = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "streams.cli.main", "demo", "--wait", "60", "--org", "local"],
        env=pipeline.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("job.status_changed") == 3 and "status=completed" in run.stdout
    found = re.search(r"demo: created (demo-[0-9a-f]+)", run.stderr)
    assert found is not None, run.stderr
    row = await pipeline.job_row(found.group(1))
    assert row is not None and (row["organization_id"], row["status"]) == ("local", "completed")
