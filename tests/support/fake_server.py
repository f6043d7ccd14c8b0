"""What the provider fakes share: a real HTTP server on a thread, recorded requests, injected faults.

A subclass (`FakeAnthropic`, `FakeOpenAI`) adds its API routes, its error shape, its auth check and the
admin actions on its own state; faults, recording and the server's lifecycle are written once, here.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

FaultKind = Literal["status", "hang", "break", "lose"]


class InjectedStreamBreak(RuntimeError):
    """Raised inside a results stream on purpose, so the client sees a connection cut mid-body."""


@dataclass
class Fault:
    kind: FaultKind
    status: int = 500
    seconds: float = 5.0
    after_lines: int = 0
    path_contains: str | None = None


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received (API and admin alike), for assertions."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)


class FakeProviderServer:
    """The server and the state every fake has; every method is thread-safe and may be called while it serves.

    `results_path` is what a results stream's path contains (where `break` faults apply).
    """

    label = "fake-provider"
    results_path = "/results"
    #: The `provider` batch jobs name, and the poller's settings that point it here.
    provider = "fake"
    key_env = "FAKE_API_KEY"
    base_url_env = "JOBSTREAM_FAKE_BASE_URL"

    def __init__(self, api_key: str, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.api_key = api_key
        self._host, self._port = host, port
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = Starlette(routes=self._api_routes() + self._admin_routes())

    # -- what a provider's fake supplies ------------------------------------------------------

    def _api_routes(self) -> list[Route]:
        raise NotImplementedError

    def _error(self, status: int, message: str) -> Response:
        """An error response in the provider's own shape; its type follows from the status."""
        raise NotImplementedError

    def _refuse(self, request: Request) -> Response | None:
        """The provider's own check of the credentials and headers it requires; None: admitted."""
        raise NotImplementedError

    def _reset_state(self) -> None:
        """Forget the provider's batches (and any per-test switches)."""
        raise NotImplementedError

    def _admin_action(self, action: str, batch_id: str | None, data: dict[str, Any]) -> Response | None:
        """A provider-specific `/_fake/...` action; None: the default answer."""
        raise KeyError(action)

    def _admin_extra_routes(self) -> list[tuple[str, str]]:
        """(path, action) pairs of the provider's own admin actions (POST)."""
        return []

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`: what the provider's base URL setting should be set to."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://{self._host}:{self._port}"

    def start(self) -> Self:
        """Bind (port 0 = a free one), serve from a daemon thread, return once it accepts."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=2
        )
        self._server = uvicorn.Server(config)
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=self.label, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{type(self).__name__} failed to start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Release hung requests, shut the server down and wait for its thread."""
        self._stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server, self._thread = None, None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """The environment a `jobstream poller` process needs to use this fake."""
        return {self.key_env: self.api_key, self.base_url_env: self.base_url}

    def reset(self) -> None:
        """Forget batches, faults and recorded requests (the server keeps running)."""
        with self._lock:
            self._faults.clear()
            self._requests.clear()
            self._reset_state()

    # -- faults and recorded requests ---------------------------------------------------------

    def fail_next(self, count: int = 1, *, status: int = 500, path_contains: str | None = None) -> None:
        """The next `count` API requests (whose path contains `path_contains`) answer `status`."""
        self._add_faults(count, Fault("status", status=status, path_contains=path_contains))

    def hang_next(self, count: int = 1, *, seconds: float = 5.0, path_contains: str | None = None) -> None:
        """The next `count` API requests stall `seconds` (past the client's timeout), then answer 500."""
        self._add_faults(count, Fault("hang", seconds=seconds, path_contains=path_contains))

    def lose_cancel_response_next(self, count: int = 1, *, seconds: float = 5.0) -> None:
        """The next `count` cancels take effect, but their answer stalls `seconds` (past the client's
        timeout), then is a 500: the client cannot tell whether its cancel got through."""
        self._add_faults(count, Fault("lose", seconds=seconds, path_contains="/cancel"))

    def break_results_next(self, count: int = 1, *, after_lines: int = 1) -> None:
        """The next `count` results streams are cut (connection dropped) after `after_lines` lines."""
        self._add_faults(count, Fault("break", after_lines=after_lines, path_contains=self.results_path))

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def _add_faults(self, count: int, fault: Fault) -> None:
        with self._lock:
            self._faults.extend(Fault(**asdict(fault)) for _ in range(count))

    def _take_fault(self, path: str, results: bool) -> Fault | None:
        """The first queued fault that applies here; `break` faults only apply to results streams,
        `lose` faults only to cancels."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.kind == "break" and not results:
                    continue
                if fault.kind == "lose" and not path.endswith("/cancel"):
                    continue
                if fault.path_contains is None or fault.path_contains in path:
                    return self._faults.pop(index)
        return None

    def _record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(RecordedRequest(request.method, request.url.path, dict(request.headers)))

    async def _gate(self, request: Request, *, results: bool = False) -> Response | Fault | None:
        """Record, apply a queued status/hang fault, then check what the real API requires.

        Returns the response to send instead, or a `break`/`lose` fault for the endpoint to apply.
        """
        self._record(request)
        fault = self._take_fault(request.url.path, results)
        if fault is not None and fault.kind == "hang":
            # Blocks a worker thread, not the server's loop; `stop()` releases it early.
            await asyncio.to_thread(self._stopping.wait, fault.seconds)
            return self._error(500, "injected hang released")
        if fault is not None and fault.kind == "status":
            return self._error(fault.status, "injected")
        refused = self._refuse(request)
        return refused if refused is not None else fault

    async def _deny(self, request: Request) -> Response | None:
        """`_gate` for endpoints that are not results streams and take no `lose` fault."""
        gate = await self._gate(request)
        return gate if isinstance(gate, Response) else None

    async def _answer(self, gate: Fault | None, answer: Callable[[], Response]) -> Response:
        """The endpoint's answer, or, under a `lose` fault, the effect without it: a stall, then a 500."""
        if gate is not None and gate.kind == "lose":
            await asyncio.to_thread(self._stopping.wait, gate.seconds)
            return self._error(500, "injected lost response")
        return answer()

    def _stream(self, lines: list[bytes], gate: Fault | None) -> Response:
        """A JSONL body really streamed, cut after `after_lines` lines under a `break` fault."""
        cut_after = gate.after_lines if gate is not None and gate.kind == "break" else None

        async def body() -> AsyncIterator[bytes]:
            for number, line in enumerate(lines):
                if cut_after is not None and number >= cut_after:
                    raise InjectedStreamBreak(f"results stream cut after {cut_after} lines")
                yield line
                if number % 16 == 15:
                    await asyncio.sleep(0)  # let the transport flush: really streamed, not one body

        return StreamingResponse(body(), media_type="application/binary")

    # -- admin -------------------------------------------------------------------------------

    def _admin_routes(self) -> list[Route]:
        """The state-control methods over HTTP, for processes that do not share this one's memory."""

        async def payload(request: Request) -> dict[str, Any]:
            raw = await request.body()
            data = orjson.loads(raw) if raw.strip() else {}
            if not isinstance(data, dict):
                raise ValueError("body must be a JSON object")
            return data

        async def admin(request: Request, action: str) -> Response:
            self._record(request)
            batch_id = request.path_params.get("batch_id")
            try:
                data = await payload(request)
                if action == "faults":
                    self._admin_fault(data)
                elif action == "reset":
                    self.reset()
                elif action == "requests":
                    return JSONResponse([asdict(r) for r in self.requests])
                else:
                    answer = self._admin_action(action, batch_id, data)
                    if answer is not None:
                        return answer
                return JSONResponse({"ok": True})
            except KeyError as exc:
                return JSONResponse({"error": f"unknown {exc}"}, status_code=404)
            except (TypeError, ValueError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)

        def route(path: str, action: str, method: str = "POST") -> Route:
            async def endpoint(request: Request) -> Response:
                return await admin(request, action)

            return Route(path, endpoint, methods=[method])

        extra = [route(path, action) for path, action in self._admin_extra_routes()]
        return [
            *extra,
            route("/_fake/faults", "faults"),
            route("/_fake/reset", "reset"),
            route("/_fake/requests", "requests", "GET"),
        ]

    def _admin_fault(self, data: dict[str, Any]) -> None:
        kind, count = data.pop("kind"), int(data.pop("count", 1))
        inject: dict[str, Callable[..., None]] = {
            "status": self.fail_next,
            "hang": self.hang_next,
            "break": self.break_results_next,
            "lose": self.lose_cancel_response_next,
        }
        if kind not in inject:
            raise ValueError(f"unknown fault kind {kind!r}")
        inject[kind](count, **data)


def serve_main(server: type[FakeProviderServer], default_key: str, description: str | None) -> None:
    """Serve until interrupted; print the base URL first so a script can pick it up."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", default=default_key)
    args = parser.parse_args()
    with server(args.api_key, host=args.host, port=args.port) as fake:
        print(fake.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
