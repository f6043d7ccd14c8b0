"""Anthropic's Message Batches API as a `BatchProvider`, over httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import structlog

from schemas.batch_results import ITEM_RESULT_TYPES, ItemResultType, ProviderStatus, RequestCounts
from streams.poller.exceptions import ProviderError
from streams.poller.providers.base import ProviderBatch, ProviderItemResult
from streams.retry import parse_retry_after
from streams.settings import DEFAULT_ANTHROPIC_BASE_URL, PollerSettings

log = structlog.get_logger(__name__)

API_VERSION = "2023-06-01"
_PROCESSING_STATUSES: tuple[ProviderStatus, ...] = ("in_progress", "canceling", "ended")
# 408/409 are documented as transient, 429 is a rate limit; every 5xx (incl. 529 overloaded) is theirs.
_RETRIABLE_4XX = frozenset({408, 409, 429})


def _batch_path(provider_batch_id: str) -> str:
    return f"/v1/messages/batches/{quote(provider_batch_id, safe='')}"


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _error_from_response(response: httpx.Response, what: str) -> ProviderError:
    """Classify an error response; the body's `error.type`/`message` only make the log readable."""
    detail = response.reason_phrase
    try:
        body = orjson.loads(response.content)
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            detail = f"{error.get('type')}: {error.get('message')}"
    except orjson.JSONDecodeError:
        pass
    status = response.status_code
    return ProviderError(
        f"anthropic {what} answered {status} ({detail}), request-id {response.headers.get('request-id')}",
        retriable=status >= 500 or status in _RETRIABLE_4XX,
        status_code=status,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )


@contextmanager
def _transport_errors(what: str) -> Iterator[None]:
    """Turn httpx's exceptions into ProviderErrors: anything on the wire is worth another try."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise ProviderError(f"anthropic {what} timed out ({type(exc).__name__})", retriable=True) from exc
    except (httpx.TransportError, httpx.DecodingError) as exc:
        raise ProviderError(f"anthropic {what} failed on the wire: {exc!r}", retriable=True) from exc
    except httpx.RequestError as exc:
        raise ProviderError(f"anthropic {what} could not be sent: {exc!r}", retriable=False) from exc


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


def _parse_result_line(line: str, provider_batch_id: str) -> ProviderItemResult:
    """One JSONL line, checked.

    Invalid JSON is retriable (a cut transfer looks like that); an unknown result type is not,
    since asking again cannot change the answer.
    """
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ProviderError(
            f"anthropic batch {provider_batch_id}: results line is not JSON: {line[:200]!r}", retriable=True
        ) from exc
    result = row.get("result") if isinstance(row, dict) else None
    custom_id = row.get("custom_id") if isinstance(row, dict) else None
    if not isinstance(custom_id, str) or not isinstance(result, dict):
        raise ProviderError(
            f"anthropic batch {provider_batch_id}: results line lacks custom_id/result: {line[:200]!r}",
            retriable=False,
        )
    result_type = result.get("type")
    if result_type not in ITEM_RESULT_TYPES:
        raise ProviderError(
            f"anthropic batch {provider_batch_id}: item {custom_id} has unknown result type {result_type!r}",
            retriable=False,
        )
    kind: ItemResultType = result_type
    return ProviderItemResult(custom_id=custom_id, result_type=kind, result=result)


class AnthropicBatchProvider:
    """Message Batches: `GET /v1/messages/batches/{id}`, its JSONL `results_url`, and `POST .../cancel`.

    Owns one pooled `httpx.AsyncClient`; close it with `aclose()` or `async with`.
    """

    name = "anthropic"

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_ANTHROPIC_BASE_URL,
        *,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base_url = httpx.URL(base_url.rstrip("/"))
        self._client = httpx.AsyncClient(
            base_url=self._base_url,
            headers={
                "x-api-key": api_key,
                "anthropic-version": API_VERSION,
                "accept": "application/json",
                "user-agent": "jobstream-poller",
            },
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
        )
        # results_url from the last retrieve of each ended batch; the docs say to use it rather
        # than assume the path. Popped on use so it cannot grow beyond the batches in flight.
        self._results_urls: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: PollerSettings) -> AnthropicBatchProvider:
        if not settings.anthropic_api_key:
            raise ValueError("ANTHROPIC_API_KEY is not set")
        return cls(
            settings.anthropic_api_key, settings.anthropic_base_url, timeout_s=settings.request_timeout_s
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> AnthropicBatchProvider:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def retrieve(self, provider_batch_id: str) -> ProviderBatch:
        return await self._batch_call("GET", provider_batch_id, "")

    async def cancel(self, provider_batch_id: str) -> ProviderBatch:
        """`POST .../cancel`: the answer is the batch, `canceling` (or `ended` if it just finished)."""
        return await self._batch_call("POST", provider_batch_id, "/cancel")

    async def _batch_call(self, method: str, provider_batch_id: str, suffix: str) -> ProviderBatch:
        """A call answered with the batch object (retrieve, cancel)."""
        what = f"{'cancel' if suffix else 'retrieve'} {provider_batch_id}"
        with _transport_errors(what):
            response = await self._client.request(method, _batch_path(provider_batch_id) + suffix)
        if response.status_code != 200:
            raise _error_from_response(response, what)
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise ProviderError(f"anthropic {what}: body is not JSON", retriable=True) from exc
        batch, results_url = _parse_batch(body, provider_batch_id)
        if batch.ended and results_url:
            self._results_urls[provider_batch_id] = results_url
        return batch

    async def results(self, provider_batch_id: str) -> AsyncIterator[ProviderItemResult]:
        """Stream the JSONL results line by line, so a 100k-item batch never sits in memory."""
        url = await self._results_url(provider_batch_id)
        what = f"results {provider_batch_id}"
        with _transport_errors(what):
            async with self._client.stream("GET", url, headers={"accept": "application/binary"}) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise _error_from_response(response, what)
                async for line in response.aiter_lines():
                    if line.strip():
                        yield _parse_result_line(line, provider_batch_id)

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
