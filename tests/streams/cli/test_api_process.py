"""`jobstream api` as deployed: its own process on JOBSTREAM_API_PORT, tokens from the environment."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import httpx
import pytest

from streams.devtools.stack.ports import free_ports
from tests.streams.cli.runner import ROOT
from tests.support.pipeline import Pipeline

pytestmark = pytest.mark.e2e


async def test_jobstream_api_serves_on_the_configured_port(pipeline: Pipeline, tmp_path: Path) -> None:
    (port,) = free_ports(1)
    (tmp_path / "tokens").write_text("file-token:org-file\n")
    env = {
        **pipeline.env,
        "JOBSTREAM_API_PORT": str(port),
        "JOBSTREAM_API_TOKENS": "env-token:org-env",
        "JOBSTREAM_API_TOKENS_FILE": str(tmp_path / "tokens"),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streams.cli.main", "api", env=env, cwd=ROOT, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    health = await client.get("/healthz")
                    break
                except httpx.TransportError:
                    assert proc.returncode is None and time.monotonic() < deadline, "the API did not come up"
                    await asyncio.sleep(0.2)
            assert health.json()["status"] == "ok"
            for token in ("env-token", "file-token"):
                response = await client.get("/jobs", headers={"Authorization": f"Bearer {token}"})
                assert response.status_code == 200
            assert (await client.get("/jobs")).status_code == 401
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
