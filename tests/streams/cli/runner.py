"""Run `jobstream …` as a child process without blocking the event loop the API is served from."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return orjson.loads(self.stdout)


async def jobstream(*args: str, env: dict[str, str], timeout_s: float = 60) -> Result:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streams.cli.main",
        *args,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


async def send(env: dict[str, str], *args: str) -> dict[str, Any]:
    """`jobstream send … --wait --json`, which must succeed; its JSON (the job id and its event)."""
    result = await jobstream("send", *args, "--wait", "--json", env=env)
    assert result.code == 0, result.stderr
    document: dict[str, Any] = result.json()
    return document
