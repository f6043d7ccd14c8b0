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

import itertools
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.fake_server import FakeProviderServer, serve_main

ItemResultType = Literal["succeeded", "errored", "canceled", "expired"]
ITEM_RESULT_TYPES: tuple[ItemResultType, ...] = ("succeeded", "errored", "canceled", "expired")
FAKE_API_KEY = "sk-ant-fake-key"
# The versions the fake answers: jobstream's provider pins the first, the official SDK (2.15) the second.
# A client sending another is refused as the real API refuses an unknown version.
API_VERSIONS = frozenset({"2023-06-01", "2026-10-21"})


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


class FakeAnthropic(FakeProviderServer):
    """The server and its state; every method is thread-safe and may be called while it serves.

    `shuffle_results` returns results out of submission order, as the real API may.
    `submit_result_types` is cycled over the items of batches created via `POST /v1/messages/batches`.
    """

    label = "fake-anthropic"
    provider = "anthropic"
    key_env = "ANTHROPIC_API_KEY"
    base_url_env = "JOBSTREAM_ANTHROPIC_BASE_URL"

    def __init__(self, api_key: str = FAKE_API_KEY, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.shuffle_results = False
        self.submit_result_types: Sequence[ItemResultType] = ("succeeded",)
        self._batches: dict[str, _Batch] = {}
        super().__init__(api_key, host=host, port=port)

    def _reset_state(self) -> None:
        self._batches.clear()
        self.shuffle_results = False
        self.submit_result_types = ("succeeded",)

    # -- state control -----------------------------------------------------------------------

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

    # -- HTTP --------------------------------------------------------------------------------

    def _error(self, status: int, message: str) -> Response:
        kind = (
            "overloaded_error" if status == 529 else "api_error" if status >= 500 else "invalid_request_error"
        )
        return _error(status, kind, message)

    def _refuse(self, request: Request) -> Response | None:
        # The API takes the key as `x-api-key` (jobstream, curl) or as a bearer token (the SDK since 2.x).
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if self.api_key not in (request.headers.get("x-api-key"), bearer):
            return _error(401, "authentication_error", "invalid x-api-key")
        version = request.headers.get("anthropic-version")
        if not version:
            return _error(400, "invalid_request_error", "anthropic-version header is required")
        if version not in API_VERSIONS:
            return _error(400, "invalid_request_error", f"unknown anthropic-version {version!r}")
        return None

    def _batch_json(self, batch: _Batch, request: Request | None = None) -> dict[str, Any]:
        """The batch as the API shows it; `results_url` on the origin the request came to."""
        counts = dict.fromkeys(("processing", *ITEM_RESULT_TYPES), 0)
        if batch.status == "ended":
            for kind in batch.outcomes.values():
                counts[kind] += 1
        else:
            counts["processing"] = len(batch.outcomes)
        base = str(request.base_url).rstrip("/") if request is not None else self.base_url
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

    def _batch_response(self, batch_id: str, request: Request) -> Response:
        with self._lock:
            return JSONResponse(self._batch_json(self._batches[batch_id], request))

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
            return await self._answer(gate, lambda: self._batch_response(batch_id, request))

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
            return self._stream(lines, gate)

        prefix = "/v1/messages/batches"
        return [
            Route(prefix, create, methods=["POST"]),
            Route(prefix + "/{batch_id}", retrieve, methods=["GET"]),
            Route(prefix + "/{batch_id}/cancel", cancel, methods=["POST"]),
            Route(prefix + "/{batch_id}/results", results, methods=["GET"]),
        ]

    def _admin_extra_routes(self) -> list[tuple[str, str]]:
        return [
            ("/_fake/batches", "create"),
            ("/_fake/batches/{batch_id}/end", "end"),
            ("/_fake/batches/{batch_id}/cancel", "cancel"),
        ]

    def _admin_action(self, action: str, batch_id: str | None, data: dict[str, Any]) -> Response | None:
        if action == "create":
            return JSONResponse({"id": self.create_batch(**data)}, status_code=201)
        if batch_id is None:
            raise KeyError(action)
        if action == "end":
            self.end_batch(batch_id)
        elif action == "cancel":
            finished = data.get("finished")
            self.cancel_batch(batch_id, finished=None if finished is None else int(finished))
        with self._lock:
            return JSONResponse(self._batch_json(self._batches[batch_id]))


def main() -> None:
    serve_main(FakeAnthropic, FAKE_API_KEY, __doc__.splitlines()[0] if __doc__ else None)


if __name__ == "__main__":
    main()
