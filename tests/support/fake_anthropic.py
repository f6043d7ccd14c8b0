"""A real local HTTP server speaking Anthropic's Message Batches API, with state tests control.

In a test (or any Python process)::

    with FakeAnthropic() as fake:                    # 127.0.0.1, a free port, background thread
        batch_id = fake.create_batch(count=100, result_types=ITEM_RESULT_TYPES)
        env = {"ANTHROPIC_API_KEY": fake.api_key, "JOBSTREAM_ANTHROPIC_BASE_URL": fake.base_url}
        fake.end_batch(batch_id)                     # in_progress -> ended
        fake.fail_next(2)                            # the next 2 API requests answer 500
        fake.hang_next(1, seconds=5)                 # the next API request stalls 5 s, then 500

As a process, for CLI-driven checks (state then driven over HTTP, see `_admin_routes`)::

    python -m tests.support.fake_anthropic --port 8765 --api-key sk-ant-fake

API (`/v1/...`, needs the key as `x-api-key` or `Authorization: Bearer`, and a known
`anthropic-version`): `POST /v1/messages/batches`,
`GET /v1/messages/batches/{id}`, `GET /v1/messages/batches/{id}/results` (JSONL, only once
ended), `POST /v1/messages/batches/{id}/cancel`. Admin (`/_fake/...`, no auth): `POST
/_fake/batches` {custom_ids?, count?, result_types?, batch_id?, text_padding?} -> {id};
`POST /_fake/batches/{id}/end`; `POST /_fake/batches/{id}/cancel` {finished?}; `POST
/_fake/faults` {kind: "status"|"hang"|"break"|"lose", count?, status?, seconds?, after_lines?,
path_contains?}; `POST /_fake/reset`; `GET /_fake/requests`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Literal

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

ItemResultType = Literal["succeeded", "errored", "canceled", "expired"]
ITEM_RESULT_TYPES: tuple[ItemResultType, ...] = ("succeeded", "errored", "canceled", "expired")
FAKE_API_KEY = "sk-ant-fake-key"
# The versions the fake answers: jobstream's provider pins the first, the official SDK (2.15) the second.
# A client sending another is refused as the real API refuses an unknown version.
API_VERSIONS = frozenset({"2023-06-01", "2026-10-21"})
FaultKind = Literal["status", "hang", "break", "lose"]


class InjectedStreamBreak(RuntimeError):
    """Raised inside a results stream on purpose, so the client sees a connection cut mid-body."""


@dataclass
class _Batch:
    id: str
    outcomes: dict[str, ItemResultType]  # planned result per custom_id, in submission order
    created_at: datetime
    status: Literal["in_progress", "canceling", "ended"] = "in_progress"
    ended_at: datetime | None = None
    cancel_initiated_at: datetime | None = None
    text_padding: int = 0
    finished: int = 0  # the first items already done: a cancel through the API keeps their outcomes


@dataclass
class _Fault:
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


def _ts(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _error(status: int, kind: str, message: str) -> JSONResponse:
    request_id = f"req_fake_{uuid.uuid4().hex[:20]}"
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}
    return JSONResponse(body, status_code=status, headers={"request-id": request_id})


def _result(custom_id: str, kind: ItemResultType, padding: int) -> dict[str, Any]:
    """A result object shaped like the documented ones (`message` / nested `error` / bare type)."""
    if kind == "succeeded":
        message = {
            "id": f"msg_fake_{custom_id}",
            "type": "message",
            "role": "assistant",
            "model": "claude-fake",
            "content": [{"type": "text", "text": f"result for {custom_id}" + "." * padding}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 5},
        }
        return {"type": "succeeded", "message": message}
    if kind == "errored":
        error = {"type": "invalid_request_error", "message": f"fake error for {custom_id}"}
        return {"type": "errored", "error": {"type": "error", "error": error}}
    return {"type": kind}


class FakeAnthropic:
    """The server and its state; every method is thread-safe and may be called while it serves.

    `shuffle_results` returns results out of submission order, as the real API may.
    `submit_result_types` is cycled over the items of batches created via `POST /v1/messages/batches`.
    """

    def __init__(self, api_key: str = FAKE_API_KEY, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.api_key = api_key
        self.shuffle_results = False
        self.submit_result_types: Sequence[ItemResultType] = ("succeeded",)
        self._host, self._port = host, port
        self._lock = threading.Lock()
        self._batches: dict[str, _Batch] = {}
        self._faults: list[_Fault] = []
        self._requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = Starlette(routes=self._api_routes() + self._admin_routes())

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`: what `JOBSTREAM_ANTHROPIC_BASE_URL` should be set to."""
        if self._server is None:
            raise RuntimeError("FakeAnthropic is not started")
        return f"http://{self._host}:{self._port}"

    def start(self) -> FakeAnthropic:
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
            target=self._server.run, kwargs={"sockets": [sock]}, name="fake-anthropic", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("FakeAnthropic failed to start")
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

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- state control -----------------------------------------------------------------------

    def reset(self) -> None:
        """Forget batches, faults and recorded requests (the server keeps running)."""
        with self._lock:
            self._batches.clear()
            self._faults.clear()
            self._requests.clear()
        self.shuffle_results = False
        self.submit_result_types = ("succeeded",)

    def create_batch(
        self,
        custom_ids: Sequence[str] | None = None,
        *,
        count: int = 10,
        result_types: Sequence[ItemResultType] = ("succeeded",),
        batch_id: str | None = None,
        text_padding: int = 0,
    ) -> str:
        """Create an `in_progress` batch and return its id.

        Items are `custom_ids` (e.g. the child job ids) or `item-0000`..`item-{count-1}`; their
        eventual results cycle through `result_types` in order, so 100 items with all four types
        give 25 of each. `text_padding` lengthens every succeeded message's text by that many bytes.
        """
        ids = list(custom_ids) if custom_ids is not None else [f"item-{n:04d}" for n in range(count)]
        if len(set(ids)) != len(ids):
            raise ValueError("custom_ids must be unique within a batch")
        bad = set(result_types) - set(ITEM_RESULT_TYPES)
        if not result_types or bad:
            raise ValueError(f"result_types must be a non-empty sequence of {ITEM_RESULT_TYPES}, not {bad}")
        batch = _Batch(
            id=batch_id or f"msgbatch_fake_{uuid.uuid4().hex[:24]}",
            outcomes=dict(zip(ids, itertools.cycle(result_types), strict=False)),
            created_at=datetime.now(UTC),
            text_padding=text_padding,
        )
        with self._lock:
            if batch.id in self._batches:
                raise ValueError(f"batch {batch.id} exists")
            self._batches[batch.id] = batch
        return batch.id

    def end_batch(self, batch_id: str) -> None:
        """`in_progress`/`canceling` -> `ended`: results become available (and then never change)."""
        with self._lock:
            batch = self._batches[batch_id]
            if batch.status != "ended":
                batch.status, batch.ended_at = "ended", datetime.now(UTC)

    def finish_items(self, batch_id: str, count: int) -> None:
        """The first `count` items are done: a cancel sent to the API later keeps their outcomes."""
        with self._lock:
            self._batches[batch_id].finished = count

    def cancel_batch(self, batch_id: str, *, finished: int | None = None) -> None:
        """Initiate a cancel (-> `canceling`): all but the first `finished` items will be `canceled`
        (default: those `finish_items` said are done).

        Call `end_batch` afterwards for the `ended` (cancelled) state, as the real API gets there.
        """
        with self._lock:
            batch = self._batches[batch_id]
            if batch.status != "in_progress":
                return
            batch.status, batch.cancel_initiated_at = "canceling", datetime.now(UTC)
            keep = batch.finished if finished is None else finished
            for custom_id in list(batch.outcomes)[keep:]:
                batch.outcomes[custom_id] = "canceled"

    def status(self, batch_id: str) -> str:
        with self._lock:
            return self._batches[batch_id].status

    def custom_ids(self, batch_id: str) -> list[str]:
        with self._lock:
            return list(self._batches[batch_id].outcomes)

    def outcomes(self, batch_id: str) -> dict[str, ItemResultType]:
        """The result type each item has (or will have once the batch ends)."""
        with self._lock:
            return dict(self._batches[batch_id].outcomes)

    def fail_next(self, count: int = 1, *, status: int = 500, path_contains: str | None = None) -> None:
        """The next `count` API requests (whose path contains `path_contains`) answer `status`."""
        self._add_faults(count, _Fault("status", status=status, path_contains=path_contains))

    def hang_next(self, count: int = 1, *, seconds: float = 5.0, path_contains: str | None = None) -> None:
        """The next `count` API requests stall `seconds` (past the client's timeout), then answer 500."""
        self._add_faults(count, _Fault("hang", seconds=seconds, path_contains=path_contains))

    def lose_cancel_response_next(self, count: int = 1, *, seconds: float = 5.0) -> None:
        """The next `count` cancels take effect, but their answer stalls `seconds` (past the client's
        timeout), then is a 500: the client cannot tell whether its cancel got through."""
        self._add_faults(count, _Fault("lose", seconds=seconds, path_contains="/cancel"))

    def break_results_next(self, count: int = 1, *, after_lines: int = 1) -> None:
        """The next `count` results streams are cut (connection dropped) after `after_lines` lines."""
        self._add_faults(count, _Fault("break", after_lines=after_lines, path_contains="/results"))

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def _add_faults(self, count: int, fault: _Fault) -> None:
        with self._lock:
            self._faults.extend(_Fault(**asdict(fault)) for _ in range(count))

    def _take_fault(self, path: str, results: bool) -> _Fault | None:
        """The first queued fault that applies here; `break` faults only apply to results streams."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.kind == "break" and not results:
                    continue
                if fault.kind == "lose" and not path.endswith("/cancel"):
                    continue
                if fault.path_contains is None or fault.path_contains in path:
                    return self._faults.pop(index)
        return None

    # -- HTTP --------------------------------------------------------------------------------

    async def _gate(self, request: Request, *, results: bool = False) -> Response | _Fault | None:
        """Record, apply a queued status/hang fault, then check the headers the real API requires."""
        with self._lock:
            self._requests.append(RecordedRequest(request.method, request.url.path, dict(request.headers)))
        fault = self._take_fault(request.url.path, results)
        if fault is not None and fault.kind == "hang":
            # Blocks a worker thread, not the server's loop; `stop()` releases it early.
            await asyncio.to_thread(self._stopping.wait, fault.seconds)
            return _error(500, "api_error", "injected hang released")
        if fault is not None and fault.kind == "status":
            kind = "overloaded_error" if fault.status == 529 else "api_error"
            return _error(fault.status, kind if fault.status >= 500 else "invalid_request_error", "injected")
        # The API takes the key as `x-api-key` (jobstream, curl) or as a bearer token (the SDK since 2.x).
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if self.api_key not in (request.headers.get("x-api-key"), bearer):
            return _error(401, "authentication_error", "invalid x-api-key")
        version = request.headers.get("anthropic-version")
        if not version:
            return _error(400, "invalid_request_error", "anthropic-version header is required")
        if version not in API_VERSIONS:
            return _error(400, "invalid_request_error", f"unknown anthropic-version {version!r}")
        return fault  # a `break` or `lose` fault, applied by the endpoint; else None

    async def _deny(self, request: Request) -> Response | None:
        """`_gate` for endpoints that are not results streams (no `break` fault reaches them)."""
        gate = await self._gate(request)
        return gate if isinstance(gate, Response) else None

    def _batch_json(self, batch: _Batch, request: Request) -> dict[str, Any]:
        counts = dict.fromkeys(("processing", *ITEM_RESULT_TYPES), 0)
        if batch.status == "ended":
            for kind in batch.outcomes.values():
                counts[kind] += 1
        else:
            counts["processing"] = len(batch.outcomes)
        base = str(request.base_url).rstrip("/")
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": batch.status,
            "request_counts": counts,
            "ended_at": _ts(batch.ended_at),
            "created_at": _ts(batch.created_at),
            "expires_at": _ts(batch.created_at + timedelta(hours=24)),
            "archived_at": None,
            "cancel_initiated_at": _ts(batch.cancel_initiated_at),
            "results_url": f"{base}/v1/messages/batches/{batch.id}/results"
            if batch.status == "ended"
            else None,
        }

    def _api_routes(self) -> list[Route]:
        async def create(request: Request) -> Response:
            if (denied := await self._deny(request)) is not None:
                return denied
            try:
                body = orjson.loads(await request.body())
                ids = [str(entry["custom_id"]) for entry in body["requests"]]
                batch_id = self.create_batch(ids, result_types=self.submit_result_types) if ids else None
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                return _error(400, "invalid_request_error", f"bad batch request: {exc}")
            if batch_id is None:
                return _error(400, "invalid_request_error", "requests must not be empty")
            with self._lock:
                return JSONResponse(self._batch_json(self._batches[batch_id], request))

        async def retrieve(request: Request) -> Response:
            if (denied := await self._deny(request)) is not None:
                return denied
            with self._lock:
                batch = self._batches.get(request.path_params["batch_id"])
                if batch is None:
                    return _error(404, "not_found_error", "batch not found")
                return JSONResponse(self._batch_json(batch, request))

        async def cancel(request: Request) -> Response:
            gate = await self._gate(request)
            if isinstance(gate, Response):
                return gate
            batch_id = request.path_params["batch_id"]
            with self._lock:
                batch = self._batches.get(batch_id)
                if batch is None:
                    return _error(404, "not_found_error", "batch not found")
                if batch.status == "ended":  # the API documents no code for this; a 400 is its usual refusal
                    return _error(400, "invalid_request_error", f"batch {batch_id} has already ended")
            self.cancel_batch(batch_id)  # a batch already canceling stays as it is
            if gate is not None and gate.kind == "lose":
                await asyncio.to_thread(self._stopping.wait, gate.seconds)
                return _error(500, "api_error", "injected lost response")
            with self._lock:
                return JSONResponse(self._batch_json(self._batches[batch_id], request))

        async def results(request: Request) -> Response:
            gate = await self._gate(request, results=True)
            if isinstance(gate, Response):
                return gate
            with self._lock:
                batch = self._batches.get(request.path_params["batch_id"])
                if batch is None:
                    return _error(404, "not_found_error", "batch not found")
                if batch.status != "ended":
                    return _error(400, "invalid_request_error", f"batch {batch.id} is still processing")
                lines = [
                    orjson.dumps({"custom_id": cid, "result": _result(cid, kind, batch.text_padding)}) + b"\n"
                    for cid, kind in batch.outcomes.items()
                ]
            if self.shuffle_results:
                random.shuffle(lines)
            cut_after = gate.after_lines if gate is not None else None

            async def body() -> AsyncIterator[bytes]:
                for number, line in enumerate(lines):
                    if cut_after is not None and number >= cut_after:
                        raise InjectedStreamBreak(f"results stream cut after {cut_after} lines")
                    yield line
                    if number % 16 == 15:
                        await asyncio.sleep(0)  # let the transport flush: really streamed, not one body

            return StreamingResponse(body(), media_type="application/binary")

        prefix = "/v1/messages/batches"
        return [
            Route(prefix, create, methods=["POST"]),
            Route(prefix + "/{batch_id}", retrieve, methods=["GET"]),
            Route(prefix + "/{batch_id}/cancel", cancel, methods=["POST"]),
            Route(prefix + "/{batch_id}/results", results, methods=["GET"]),
        ]

    def _admin_routes(self) -> list[Route]:
        """The state-control methods over HTTP, for processes that do not share this one's memory."""

        async def payload(request: Request) -> dict[str, Any]:
            raw = await request.body()
            data = orjson.loads(raw) if raw.strip() else {}
            if not isinstance(data, dict):
                raise ValueError("body must be a JSON object")
            return data

        async def admin(request: Request, action: str) -> Response:
            with self._lock:
                self._requests.append(
                    RecordedRequest(request.method, request.url.path, dict(request.headers))
                )
            batch_id = request.path_params.get("batch_id")
            try:
                data = await payload(request)
                if action == "create":
                    return JSONResponse({"id": self.create_batch(**data)}, status_code=201)
                if action == "end" and batch_id:
                    self.end_batch(batch_id)
                elif action == "cancel" and batch_id:
                    finished = data.get("finished")
                    self.cancel_batch(batch_id, finished=None if finished is None else int(finished))
                elif action == "faults":
                    kind, count = data.pop("kind"), int(data.pop("count", 1))
                    if kind == "status":
                        self.fail_next(count, **data)
                    elif kind == "hang":
                        self.hang_next(count, **data)
                    elif kind == "break":
                        self.break_results_next(count, **data)
                    elif kind == "lose":
                        self.lose_cancel_response_next(count, **data)
                    else:
                        raise ValueError(f"unknown fault kind {kind!r}")
                elif action == "reset":
                    self.reset()
                elif action == "requests":
                    return JSONResponse([asdict(r) for r in self.requests])
                if batch_id:
                    with self._lock:
                        return JSONResponse(self._batch_json(self._batches[batch_id], request))
                return JSONResponse({"ok": True})
            except KeyError as exc:
                return JSONResponse({"error": f"unknown {exc}"}, status_code=404)
            except (TypeError, ValueError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)

        def route(path: str, action: str, method: str = "POST") -> Route:
            async def endpoint(request: Request) -> Response:
                return await admin(request, action)

            return Route(path, endpoint, methods=[method])

        return [
            route("/_fake/batches", "create"),
            route("/_fake/batches/{batch_id}/end", "end"),
            route("/_fake/batches/{batch_id}/cancel", "cancel"),
            route("/_fake/faults", "faults"),
            route("/_fake/reset", "reset"),
            route("/_fake/requests", "requests", "GET"),
        ]


def main() -> None:
    """Serve until interrupted; print the base URL first so a script can pick it up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", default=FAKE_API_KEY)
    args = parser.parse_args()
    with FakeAnthropic(args.api_key, host=args.host, port=args.port) as fake:
        print(fake.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
