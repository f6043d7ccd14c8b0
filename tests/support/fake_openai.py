"""A real local HTTP server speaking OpenAI's Batch API (batches and their files), with state tests control.

In a test::

    with FakeOpenAI() as fake:                       # 127.0.0.1, a free port, background thread
        batch_id = fake.create_batch(count=100, result_types=("succeeded", "errored"))
        env = {"OPENAI_API_KEY": fake.api_key, "JOBSTREAM_OPENAI_BASE_URL": fake.base_url}
        fake.finish_items(batch_id, 40)              # the first 40 are done (kept by a cancel or expiry)
        fake.end_batch(batch_id)                     # -> completed (or cancelled after a cancel)
        fake.expire_batch(batch_id)                  # -> expired: unfinished items `batch_expired`

API (`/v1/...`, needs `Authorization: Bearer <key>`): `POST /v1/files` (multipart, purpose `batch`),
`GET /v1/files/{id}`, `GET /v1/files/{id}/content`, `POST /v1/batches`, `GET /v1/batches/{id}`,
`POST /v1/batches/{id}/cancel` (409 once the batch has ended). Item outcomes are given in the poller's
vocabulary (`succeeded`, `errored`; `expired`, `canceled` come from expiry and cancellation): succeeded
requests are in the output file, the rest in the error file. Faults as every provider fake
(tests/support/fake_server.py); admin: `POST /_fake/reset`, `POST /_fake/faults`, `GET /_fake/requests`.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, Literal

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.fake_server import FakeProviderServer, serve_main

Outcome = Literal["succeeded", "errored", "canceled", "expired"]
Status = Literal[
    "validating", "in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled"
]
FAKE_API_KEY = "sk-openai-fake-key"
_ENDED = frozenset({"completed", "failed", "expired", "cancelled"})
_WINDOW_S = 24 * 3600


def _now() -> int:
    return int(datetime.now(UTC).timestamp())


@dataclass
class _Batch:
    id: str
    outcomes: dict[str, Outcome]  # planned result per custom_id, in submission order
    input_file_id: str
    created_at: int = field(default_factory=_now)
    status: Status = "in_progress"
    finished: int = 0  # the first items already done: a cancel or an expiry keeps their outcomes
    times: dict[str, int] = field(default_factory=dict)  # in_progress_at, cancelling_at, completed_at, …
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    text_padding: int = 0


@dataclass
class _File:
    id: str
    purpose: str
    content: bytes
    created_at: int = field(default_factory=_now)


def _line(custom_id: str, kind: Outcome, padding: int = 0) -> dict[str, Any]:
    """One output/error file line, shaped as the Batch API documents them."""
    line: dict[str, Any] = {"id": f"batch_req_{uuid.uuid4().hex[:24]}", "custom_id": custom_id}
    if kind == "succeeded":
        body = {
            "id": f"chatcmpl-{custom_id}",
            "object": "chat.completion",
            "created": _now(),
            "model": "gpt-fake",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": f"result for {custom_id}" + "." * padding,
                        "refusal": None,
                    },
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }
        return line | {
            "response": {"status_code": 200, "request_id": f"req_{custom_id}", "body": body},
            "error": None,
        }
    if kind == "errored":
        error = {
            "message": f"fake error for {custom_id}",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
        return line | {
            "response": {"status_code": 400, "request_id": f"req_{custom_id}", "body": {"error": error}},
            "error": None,
        }
    code, message = {
        "expired": (
            "batch_expired",
            "This request could not be executed before the completion window expired.",
        ),
        "canceled": ("batch_cancelled", "This request was not executed because the batch was cancelled."),
    }[kind]
    return line | {"response": None, "error": {"code": code, "message": message}}


class FakeOpenAI(FakeProviderServer):
    """The server and its batches and files; thread-safe, like every provider fake."""

    label = "fake-openai"
    results_path = "/content"
    provider = "openai"
    key_env = "OPENAI_API_KEY"
    base_url_env = "JOBSTREAM_OPENAI_BASE_URL"

    def __init__(self, api_key: str = FAKE_API_KEY, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.submit_result_types: Sequence[Outcome] = ("succeeded",)
        self._batches: dict[str, _Batch] = {}
        self._files: dict[str, _File] = {}
        super().__init__(api_key, host=host, port=port)

    @property
    def base_url(self) -> str:
        """What `JOBSTREAM_OPENAI_BASE_URL` (and the SDK's `base_url`) should be: `/v1` included."""
        return super().base_url + "/v1"

    def _reset_state(self) -> None:
        self._batches.clear()
        self._files.clear()
        self.submit_result_types = ("succeeded",)

    # -- state control -----------------------------------------------------------------------

    def create_batch(
        self,
        custom_ids: Sequence[str] | None = None,
        *,
        count: int = 10,
        result_types: Sequence[Outcome] = ("succeeded",),
        batch_id: str | None = None,
        status: Status = "in_progress",
        text_padding: int = 0,
    ) -> str:
        """A batch (with its input file) whose items end with `result_types` in turn once it completes;
        `text_padding` lengthens every succeeded answer by that many bytes."""
        ids = list(custom_ids) if custom_ids is not None else [f"item-{n:04d}" for n in range(count)]
        if len(set(ids)) != len(ids) or not ids:
            raise ValueError("custom_ids must be unique within a batch, and there must be some")
        lines = [orjson.dumps({"custom_id": c, "method": "POST", "url": "/v1/chat/completions"}) for c in ids]
        with self._lock:
            input_file = self._add_file("batch", b"\n".join(lines) + b"\n")
            batch = _Batch(
                id=batch_id or f"batch_{uuid.uuid4().hex[:24]}",
                outcomes=dict(zip(ids, itertools.cycle(result_types), strict=False)),
                input_file_id=input_file.id,
                status=status,
                text_padding=text_padding,
            )
            if batch.id in self._batches:
                raise ValueError(f"batch {batch.id} exists")
            if status != "validating":
                batch.times["in_progress_at"] = batch.created_at
            self._batches[batch.id] = batch
        return batch.id

    def finish_items(self, batch_id: str, count: int) -> None:
        """The first `count` items are done: a cancel or an expiry keeps their outcomes."""
        with self._lock:
            self._batches[batch_id].finished = count

    def finalize(self, batch_id: str) -> None:
        """`in_progress` -> `finalizing`: every request has run, the files are being written."""
        self._move(batch_id, "finalizing", "finalizing_at")

    def cancel_batch(self, batch_id: str) -> bool:
        """-> `cancelling`; False (and nothing changes) once the batch has ended."""
        with self._lock:
            batch = self._batches[batch_id]
            if batch.status in _ENDED:
                return False
            if batch.status != "cancelling":
                batch.status, batch.times["cancelling_at"] = "cancelling", _now()
                for custom_id in list(batch.outcomes)[batch.finished :]:
                    batch.outcomes[custom_id] = "canceled"
            return True

    def end_batch(self, batch_id: str) -> None:
        """-> `completed`, or `cancelled` after a cancel: the output and error files are written."""
        with self._lock:
            cancelling = self._batches[batch_id].status == "cancelling"
        self._end(batch_id, "cancelled" if cancelling else "completed")

    def expire_batch(self, batch_id: str) -> None:
        """-> `expired`: the items not finished by then come back `batch_expired`."""
        with self._lock:
            batch = self._batches[batch_id]
            for custom_id in list(batch.outcomes)[batch.finished :]:
                batch.outcomes[custom_id] = "expired"
        self._end(batch_id, "expired")

    def fail_batch(self, batch_id: str) -> None:
        """-> `failed`: the input did not validate; no request ran and there are no files."""
        with self._lock:
            batch = self._batches[batch_id]
            batch.errors = [
                {"code": "invalid_json_line", "line": 1, "message": "fake invalid line", "param": None}
            ]
            batch.status, batch.times["failed_at"] = "failed", _now()

    def status(self, batch_id: str) -> str:
        with self._lock:
            return self._batches[batch_id].status

    def outcomes(self, batch_id: str) -> dict[str, Outcome]:
        """The result each item has (or will have once the batch ends)."""
        with self._lock:
            return dict(self._batches[batch_id].outcomes)

    def _move(self, batch_id: str, status: Status, stamp: str) -> None:
        with self._lock:
            batch = self._batches[batch_id]
            batch.status, batch.times[stamp] = status, _now()

    def _end(self, batch_id: str, status: Status) -> None:
        with self._lock:
            batch = self._batches[batch_id]
            if batch.status in _ENDED:
                return
            done = [(c, k) for c, k in batch.outcomes.items() if k == "succeeded"]
            failed = [(c, k) for c, k in batch.outcomes.items() if k != "succeeded"]
            if done:
                batch.output_file_id = self._add_file(
                    "batch_output", self._jsonl(done, batch.text_padding)
                ).id
            if failed:
                batch.error_file_id = self._add_file("batch_output", self._jsonl(failed)).id
            batch.status, batch.times[f"{status}_at"] = status, _now()

    def _jsonl(self, items: list[tuple[str, Outcome]], padding: int = 0) -> bytes:
        return b"".join(orjson.dumps(_line(custom_id, kind, padding)) + b"\n" for custom_id, kind in items)

    def _add_file(self, purpose: str, content: bytes) -> _File:
        """Called with the lock held."""
        made = _File(f"file-{uuid.uuid4().hex[:24]}", purpose, content)
        self._files[made.id] = made
        return made

    # -- HTTP --------------------------------------------------------------------------------

    def _error(self, status: int, message: str, code: str | None = None) -> Response:
        kind = "server_error" if status >= 500 else "invalid_request_error"
        request_id = f"req_{uuid.uuid4().hex[:24]}"
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        return JSONResponse(body, status_code=status, headers={"x-request-id": request_id})

    def _refuse(self, request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return self._error(401, "Incorrect API key provided.", "invalid_api_key")
        return None

    def _batch_json(self, batch: _Batch) -> dict[str, Any]:
        ended = batch.status in _ENDED
        done = sum(1 for k in batch.outcomes.values() if k == "succeeded") if ended else 0
        failed = len(batch.outcomes) - done if ended else 0
        times = {
            f"{name}_at": batch.times.get(f"{name}_at")
            for name in (
                "in_progress",
                "finalizing",
                "completed",
                "failed",
                "expired",
                "cancelling",
                "cancelled",
            )
        }
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "errors": {"object": "list", "data": batch.errors} if batch.errors else None,
            "input_file_id": batch.input_file_id,
            "completion_window": "24h",
            "status": batch.status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "created_at": batch.created_at,
            "expires_at": batch.created_at + _WINDOW_S,
            **times,
            "request_counts": {"total": len(batch.outcomes), "completed": done, "failed": failed},
            "metadata": None,
        }

    def _file_json(self, made: _File) -> dict[str, Any]:
        return {
            "id": made.id,
            "object": "file",
            "bytes": len(made.content),
            "created_at": made.created_at,
            "filename": f"{made.id}.jsonl",
            "purpose": made.purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }

    def _batch_response(self, batch_id: str) -> Response:
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                return self._error(404, f"No batch found with id '{batch_id}'.")
            return JSONResponse(self._batch_json(batch))

    def _api_routes(self) -> list[Route]:
        async def upload(request: Request) -> Response:
            if (denied := await self._deny(request)) is not None:
                return denied
            head = f"Content-Type: {request.headers.get('content-type', '')}\r\n\r\n".encode()
            message = BytesParser(policy=HTTP).parsebytes(head + await request.body())
            parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
            if "file" not in parts or "purpose" not in parts:
                return self._error(400, "'file' and 'purpose' are required")
            content = parts["file"].get_payload(decode=True) or b""
            purpose = (parts["purpose"].get_payload(decode=True) or b"").decode()
            with self._lock:
                return JSONResponse(self._file_json(self._add_file(purpose, content)))

        async def file_info(request: Request) -> Response:
            if (denied := await self._deny(request)) is not None:
                return denied
            with self._lock:
                made = self._files.get(request.path_params["file_id"])
                if made is None:
                    return self._error(404, "No such File object")
                return JSONResponse(self._file_json(made))

        async def content(request: Request) -> Response:
            gate = await self._gate(request, results=True)
            if isinstance(gate, Response):
                return gate
            with self._lock:
                made = self._files.get(request.path_params["file_id"])
                if made is None:
                    return self._error(404, "No such File object")
                lines = made.content.splitlines(keepends=True)
            return self._stream(lines, gate)

        async def create(request: Request) -> Response:
            if (denied := await self._deny(request)) is not None:
                return denied
            try:
                body = orjson.loads(await request.body())
                with self._lock:
                    source = self._files[body["input_file_id"]].content
                ids = [orjson.loads(line)["custom_id"] for line in source.splitlines() if line.strip()]
                batch_id = self.create_batch(ids, result_types=self.submit_result_types, status="validating")
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                return self._error(400, f"bad batch request: {exc!r}")
            return self._batch_response(batch_id)

        async def retrieve(request: Request) -> Response:
            if (denied := await self._deny(request)) is not None:
                return denied
            return self._batch_response(request.path_params["batch_id"])

        async def cancel(request: Request) -> Response:
            gate = await self._gate(request)
            if isinstance(gate, Response):
                return gate
            batch_id = request.path_params["batch_id"]
            try:
                accepted = self.cancel_batch(batch_id)
            except KeyError:
                return self._error(404, f"No batch found with id '{batch_id}'.")
            if not accepted:
                return self._error(409, f"Cannot cancel a batch with status '{self.status(batch_id)}'.")
            return await self._answer(gate, lambda: self._batch_response(batch_id))

        return [
            Route("/v1/files", upload, methods=["POST"]),
            Route("/v1/files/{file_id}", file_info, methods=["GET"]),
            Route("/v1/files/{file_id}/content", content, methods=["GET"]),
            Route("/v1/batches", create, methods=["POST"]),
            Route("/v1/batches/{batch_id}", retrieve, methods=["GET"]),
            Route("/v1/batches/{batch_id}/cancel", cancel, methods=["POST"]),
        ]


def main() -> None:
    serve_main(FakeOpenAI, FAKE_API_KEY, __doc__.splitlines()[0] if __doc__ else None)


if __name__ == "__main__":
    main()
