"""OpenAI's Batch API as a `BatchProvider`, over httpx: the batch, its output and error files, its cancel.

Everything the API returns is checked before it is believed: the batch body against a model of the
fields read, and each JSONL line on its own. A line that cannot be read is never retried (asking again
returns the same file): an item whose `custom_id` is readable is recorded `errored` with the reason,
and a line without one is logged and left out (the batch then records that item as unanswered).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.batch_results import BatchOutcome, ItemResultType, ProviderStatus, RequestCounts
from streams.poller.exceptions import ProviderError
from streams.poller.providers.base import ProviderBatch, ProviderItemResult
from streams.poller.providers.http import HttpBatchProvider
from streams.poller.providers.jsonl import MAX_LINE_BYTES, Line, bounded_lines, read_row
from streams.settings import DEFAULT_OPENAI_BASE_URL, PollerSettings

log = structlog.get_logger(__name__)

OpenAIStatus = Literal[
    "validating", "in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled"
]
# OpenAI's status -> the poller's (in_progress / canceling / ended) and, once ended, how it ended.
STATUSES: dict[OpenAIStatus, tuple[ProviderStatus, BatchOutcome | None]] = {
    "validating": ("in_progress", None),
    "in_progress": ("in_progress", None),
    "finalizing": ("in_progress", None),
    "cancelling": ("canceling", None),
    "completed": ("ended", "completed"),
    "cancelled": ("ended", "cancelled"),
    "expired": ("ended", "expired"),
    "failed": ("ended", "failed"),
}
# The error codes the API gives requests a batch never ran: the window ran out, or it was cancelled.
_ERROR_CODES: dict[str, ItemResultType] = {"batch_expired": "expired", "batch_cancelled": "canceled"}
_MAX_ID = 256
_MAX_COUNT = 10**9


class _Counts(BaseModel):
    total: int = Field(default=0, ge=0, le=_MAX_COUNT)
    completed: int = Field(default=0, ge=0, le=_MAX_COUNT)
    failed: int = Field(default=0, ge=0, le=_MAX_COUNT)


class _Batch(BaseModel):
    """The fields of the `batch` object this provider reads; the rest is ignored."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=_MAX_ID)
    object: Literal["batch"]
    status: OpenAIStatus
    output_file_id: str | None = Field(default=None, min_length=1, max_length=_MAX_ID)
    error_file_id: str | None = Field(default=None, min_length=1, max_length=_MAX_ID)
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    completed_at: int | None = None
    expired_at: int | None = None
    failed_at: int | None = None
    request_counts: _Counts | None = None


def _timestamp(seconds: int | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None
    except (OverflowError, OSError, ValueError):
        return None  # a time no calendar holds: only informative, so left out


def parse_batch(body: Any, provider_batch_id: str) -> tuple[ProviderBatch, _Batch]:
    """The poller's view of the batch, and the body it came from (for the file ids)."""
    try:
        batch = _Batch.model_validate(body)
    except ValidationError as exc:
        message = f"openai batch {provider_batch_id}: not a batch object ({exc.errors()[0]['msg']})"
        raise ProviderError(message, retriable=False) from exc
    status, outcome = STATUSES[batch.status]
    counts = batch.request_counts or _Counts()
    finished = counts.completed + counts.failed
    view = ProviderBatch(
        provider_batch_id=batch.id,
        status=status,
        cancel_initiated=batch.cancelling_at is not None or batch.status in ("cancelling", "cancelled"),
        # OpenAI counts requests done (`completed`) and failed; the rest are still being processed.
        request_counts=RequestCounts(
            processing=max(0, counts.total - finished), succeeded=counts.completed, errored=counts.failed
        ),
        ended_at=_timestamp(batch.completed_at or batch.cancelled_at or batch.expired_at or batch.failed_at),
        end_state=outcome,
    )
    return view, batch


def parse_line(line: Line, provider_batch_id: str) -> ProviderItemResult | None:
    """One output or error file line as an item result; None when no item can be named."""
    row = read_row(line, "openai", provider_batch_id)
    if row is None:
        return None
    if isinstance(row, str):
        return _errored(row, "result_too_large", f"the result is over {len(line.data)} bytes")
    response, error = row.fields.get("response"), row.fields.get("error")
    kind: ItemResultType
    if isinstance(error, dict):
        kind = _ERROR_CODES.get(str(error.get("code")), "errored")
    elif isinstance(response, dict) and isinstance(response.get("status_code"), int):
        kind = "succeeded" if 200 <= response["status_code"] < 300 else "errored"
    else:
        return _errored(row.custom_id, "invalid_result", "neither a response with a status_code nor an error")
    result = {"type": kind, "id": row.fields.get("id"), "response": response, "error": error}
    return ProviderItemResult(custom_id=row.custom_id, result_type=kind, result=result)


def _errored(custom_id: str, code: str, message: str) -> ProviderItemResult:
    error = {"code": code, "message": message}
    return ProviderItemResult(custom_id, "errored", {"type": "errored", "response": None, "error": error})


class OpenAIBatchProvider(HttpBatchProvider):
    """Batches: `GET /batches/{id}`, `POST /batches/{id}/cancel`, and `GET /files/{id}/content` for the
    output file (answered requests) and the error file (failed, expired and cancelled ones)."""

    name = "openai"
    request_id_header = "x-request-id"

    def __init__(self, *args: Any, max_line_bytes: int = MAX_LINE_BYTES, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_line_bytes = max_line_bytes
        # The file ids from the last retrieve of each ended batch; popped on use, so bounded by the
        # batches in flight.
        self._files: dict[str, tuple[str, ...]] = {}

    @classmethod
    def settings_of(cls, settings: PollerSettings) -> tuple[str | None, str]:
        return settings.openai_api_key, settings.openai_base_url

    @classmethod
    def default_base_url(cls) -> str:
        return DEFAULT_OPENAI_BASE_URL

    def _auth(self, api_key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {api_key}"}

    def _batch_path(self, provider_batch_id: str) -> str:
        return f"/batches/{quote(provider_batch_id, safe='')}"

    def _read_batch(self, body: Any, provider_batch_id: str) -> ProviderBatch:
        batch, raw = parse_batch(body, provider_batch_id)
        if batch.ended:
            self._files[provider_batch_id] = tuple(f for f in (raw.output_file_id, raw.error_file_id) if f)
        return batch

    async def results(self, provider_batch_id: str) -> AsyncIterator[ProviderItemResult]:
        """The output file's lines, then the error file's, streamed within `max_line_bytes` per line."""
        files = self._files.pop(provider_batch_id, None)
        if files is None:
            batch = await self.retrieve(provider_batch_id)
            if not batch.ended:
                message = f"openai batch {provider_batch_id} has no results yet ({batch.status})"
                raise ProviderError(message, retriable=False)
            files = self._files.pop(provider_batch_id, ())
        for file_id in files:
            async for item in self._file_items(provider_batch_id, file_id):
                yield item

    async def _file_items(self, provider_batch_id: str, file_id: str) -> AsyncIterator[ProviderItemResult]:
        what = f"file {file_id} of {provider_batch_id}"
        path = f"/files/{quote(file_id, safe='')}/content"
        with self._errors(what):
            async with self._client.stream("GET", path, headers={"accept": "application/binary"}) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise self._error(response, what)
                async for line in bounded_lines(response.aiter_bytes(), self._max_line_bytes):
                    item = parse_line(line, provider_batch_id)
                    if item is not None:
                        yield item
