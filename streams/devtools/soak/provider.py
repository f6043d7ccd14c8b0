"""The soak's batches: the tests' fake Anthropic provider and a real `jobstream poller` as processes, and a
batch of a few items created on both sides every so often, ended at the provider a little later."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx

from streams.devtools.service_process import ServiceProcess
from streams.devtools.stack.ports import free_ports

FAKE_MODULE = "tests.support.fake_anthropic"  # a real HTTP server speaking Message Batches (tests/support)
FAKE_KEY = "sk-ant-soak"
POLLER_ENV = {"JOBSTREAM_POLL_INTERVAL_S": "1", "JOBSTREAM_POLL_TIMEOUT_S": "5"}
Send = Callable[[dict[str, object]], object]


class Batches:
    """The fake provider and the poller (both SIGTERMed by `stop`), and the batches made so far."""

    def __init__(self, env: dict[str, str], logs: Path, run_id: str) -> None:
        port = free_ports(1)[0]
        self.base_url = f"http://127.0.0.1:{port}"
        self.fake = ServiceProcess(
            ["--port", str(port), "--api-key", FAKE_KEY],
            env,
            logs / f"{run_id}-fake-anthropic.log",
            FAKE_MODULE,
        )
        poller_env = {
            **env,
            **POLLER_ENV,
            "ANTHROPIC_API_KEY": FAKE_KEY,
            "JOBSTREAM_ANTHROPIC_BASE_URL": self.base_url,
        }
        self.poller = ServiceProcess(["poller"], poller_env, logs / f"{run_id}-poller.log")
        self.run_id = run_id
        self.batch_ids: list[str] = []  # the batch jobs
        self.item_ids: list[str] = []
        self.open: list[str] = []  # provider batch ids not yet ended
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=10)

    @property
    def log_paths(self) -> list[Path]:
        return [self.poller.log_path, self.fake.log_path]

    def alive(self) -> bool:
        return self.fake.alive() and self.poller.alive()

    async def start(self) -> None:
        self.fake.start()
        for _ in range(100):
            try:
                await self._http.post("/_fake/reset")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.1)
        else:
            raise RuntimeError(f"the fake provider did not start; see {self.fake.log_path}")
        self.poller.start()

    async def stop(self) -> None:
        self.poller.stop(timeout_s=20)
        self.fake.stop(timeout_s=5)
        await self._http.aclose()

    async def create(self, size: int, send: Send) -> None:
        """Items first (with batch_id), then the batch job naming them, as a producer does."""
        number = len(self.batch_ids)
        job_id = f"{self.run_id}-batch-{number:05d}"
        items = {f"req-{k:03d}": f"{job_id}-i{k:03d}" for k in range(size)}
        response = await self._http.post("/_fake/batches", json={"custom_ids": list(items)})
        response.raise_for_status()
        provider_batch_id = response.json()["id"]
        for k, item in enumerate(items.values()):
            send(
                {
                    "command_id": f"{item}-create",
                    "job_id": item,
                    "type": "create",
                    "job_type": "run",
                    "agent_id": f"agent-{k % 3}",
                    "batch_id": job_id,
                }
            )
        send(
            {
                "command_id": f"{job_id}-create",
                "job_id": job_id,
                "type": "create",
                "job_type": "batch",
                "provider": "anthropic",
                "provider_batch_id": provider_batch_id,
                "items": [{"custom_id": c, "job_id": j} for c, j in items.items()],
            }
        )
        self.batch_ids.append(job_id)
        self.item_ids.extend(items.values())
        self.open.append(provider_batch_id)

    async def end_oldest(self) -> None:
        if self.open:
            (await self._http.post(f"/_fake/batches/{self.open.pop(0)}/end")).raise_for_status()

    async def end_all(self) -> None:
        while self.open:
            await self.end_oldest()
