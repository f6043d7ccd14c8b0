"""Anthropic's Message Batches API as a `BatchProvider`, over httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from schemas.batch_results import ITEM_RESULT_TYPES, ItemResultType, ProviderStatus, RequestCounts
from streams.poller.exceptions import ProviderError
from streams.poller.providers.base import ProviderBatch, ProviderItemResult
from streams.poller.providers.http import HttpBatchProvider
from streams.poller.providers.jsonl import MAX_LINE_BYTES, Line, bounded_lines, read_row
from streams.settings import DEFAULT_ANTHROPIC_BASE_URL, PollerSettings

log = structlog.get_logger(__name__)

API_VERSION = "2023-06-01"
_PROCESSING_STATUSES: tuple[ProviderStatus, ...] = ("in_progress", "canceling", "ended")


def _batch_path(provider_batch_id: str) -> str:
    return f"/v1/messages/batches/{quote(provider_batch_id, safe='')}"


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _parse_time(raw: Any) -> datetime | None:
    return datetime.fromisoformat(raw) if isinstance(raw, str) and raw else None


def _parse_batch(body: Any, provider_batch_id: str) -> tuple[ProviderBatch, str | None]:
    """The batch and its `results_url`; a body that breaks the documented shape is not retried."""
    if not isinstance(body, dict) or body.get("type") != "message_batch":
        raise ProviderError(f"anthropic batch {provider_batch_id}: not a message_batch", retriable=False)
    status = body.get("processing_status")
    if status not in _PROCESSING_STATUSES:
        raise ProviderError(
            f"anthropic batch {provider_batch_id}: unknown processing_status {status!r}", retriable=False
        )
    try:
        batch = ProviderBatch(
            provider_batch_id=str(body["id"]),
            status=status,
            cancel_initiated=body.get("cancel_initiated_at") is not None,
            request_counts=RequestCounts.model_validate(body.get("request_counts") or {}),
            ended_at=_parse_time(body.get("ended_at")),
        )
    except (KeyError, ValueError) as exc:
        message = f"anthropic batch {provider_batch_id}: malformed body: {exc}"
        raise ProviderError(message, retriable=False) from exc
    results_url = body.get("results_url")
    return batch, results_url if isinstance(results_url, str) and results_url else None


def _parse_result_line(line: Line, provider_batch_id: str) -> ProviderItemResult | None:
    """One JSONL line as an item result; None when no item can be named (see `read_row`).

    A line whose `result` is not one of the documented kinds is recorded `errored` with the reason:
    asking again cannot change the answer, and the item must not keep the batch from concluding.
    """
    row = read_row(line, "anthropic", provider_batch_id)
    if row is None:
        return None
    if isinstance(row, str):
        return _errored(row, "result_too_large", f"the result is over {len(line.data)} bytes")
    result = row.fields.get("result")
    result_type = result.get("type") if isinstance(result, dict) else None
    if not isinstance(result, dict) or result_type not in ITEM_RESULT_TYPES:
        return _errored(
            row.custom_id, "invalid_result", f"result type {str(result_type)[:64]!r} is not known"
        )
    kind: ItemResultType = result_type
    return ProviderItemResult(custom_id=row.custom_id, result_type=kind, result=result)


def _errored(custom_id: str, kind: str, message: str) -> ProviderItemResult:
    """In the shape of Anthropic's own `errored` results."""
    error = {"type": "error", "error": {"type": kind, "message": message}}
    return ProviderItemResult(custom_id, "errored", {"type": "errored", "error": error})


class AnthropicBatchProvider(HttpBatchProvider):
    """Message Batches: `GET /v1/messages/batches/{id}`, its JSONL `results_url`, and `POST .../cancel`."""

    name = "anthropic"
    request_id_header = "request-id"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # results_url from the last retrieve of each ended batch; the docs say to use it rather
        # than assume the path. Popped on use so it cannot grow beyond the batches in flight.
        self._results_urls: dict[str, str] = {}

    @classmethod
    def settings_of(cls, settings: PollerSettings) -> tuple[str | None, str]:
        return settings.anthropic_api_key, settings.anthropic_base_url

    @classmethod
    def default_base_url(cls) -> str:
        return DEFAULT_ANTHROPIC_BASE_URL

    def _auth(self, api_key: str) -> dict[str, str]:
        return {"x-api-key": api_key, "anthropic-version": API_VERSION}

    def _batch_path(self, provider_batch_id: str) -> str:
        return _batch_path(provider_batch_id)

    def _read_batch(self, body: Any, provider_batch_id: str) -> ProviderBatch:
        batch, results_url = _parse_batch(body, provider_batch_id)
        if batch.ended and results_url:
            self._results_urls[provider_batch_id] = results_url
        return batch

    async def results(self, provider_batch_id: str) -> AsyncIterator[ProviderItemResult]:
        """Stream the JSONL results line by line (each within `MAX_LINE_BYTES`), so a 100k-item batch
        never sits in memory."""
        url = await self._results_url(provider_batch_id)
        what = f"results {provider_batch_id}"
        with self._errors(what):
            async with self._client.stream("GET", url, headers={"accept": "application/binary"}) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise self._error(response, what)
                async for line in bounded_lines(response.aiter_bytes(), MAX_LINE_BYTES):
                    item = _parse_result_line(line, provider_batch_id)
                    if item is not None:
                        yield item

    async def _results_url(self, provider_batch_id: str) -> httpx.URL | str:
        """Where the results are: the batch's `results_url` when it is on our base URL's origin.

        Another origin would receive our API key, and a configured base URL (a proxy, the test
        server) must be honoured, so such a URL is replaced by the documented path.
        """
        raw = self._results_urls.pop(provider_batch_id, None)
        if raw is None:
            batch = await self.retrieve(provider_batch_id)
            if not batch.ended:
                message = f"anthropic batch {provider_batch_id} has no results yet ({batch.status})"
                raise ProviderError(message, retriable=False)
            raw = self._results_urls.pop(provider_batch_id, None)
        fallback = _batch_path(provider_batch_id) + "/results"  # relative: the client prefixes the base URL
        if raw is None:
            return fallback
        url = httpx.URL(raw)
        if _origin(url) != _origin(self._base_url):
            log.warning("batches.anthropic_results_url_foreign_origin", results_url=raw, used=fallback)
            return fallback
        return url
