"""What every HTTP provider shares: its client, its batch calls, and which failures are worth another try."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Any, Self

import httpx
import orjson

from streams.poller.exceptions import ProviderError
from streams.poller.providers.base import ProviderBatch, ProviderItemResult
from streams.retry import parse_retry_after
from streams.settings import PollerSettings

# 408/409 are documented as transient (both SDKs retry them), 429 is a rate limit; every 5xx is theirs.
RETRIABLE_4XX = frozenset({408, 409, 429})


def error_from_response(response: httpx.Response, provider: str, what: str, request_id: str) -> ProviderError:
    """Classify an error answer; the body's `error.type`/`message` only make the log readable.

    `request_id` names the header the provider puts its request id in, for support tickets.
    """
    detail = response.reason_phrase
    try:
        body = orjson.loads(response.content)
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            detail = f"{error.get('type')}: {str(error.get('message'))[:500]}"
    except orjson.JSONDecodeError:
        pass
    status = response.status_code
    return ProviderError(
        f"{provider} {what} answered {status} ({detail}), request-id {response.headers.get(request_id)}",
        retriable=status >= 500 or status in RETRIABLE_4XX,
        status_code=status,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )


@contextmanager
def transport_errors(provider: str, what: str) -> Iterator[None]:
    """Turn httpx's exceptions into ProviderErrors: anything on the wire is worth another try."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise ProviderError(f"{provider} {what} timed out ({type(exc).__name__})", retriable=True) from exc
    except (httpx.TransportError, httpx.DecodingError) as exc:
        raise ProviderError(f"{provider} {what} failed on the wire: {exc!r}", retriable=True) from exc
    except httpx.RequestError as exc:
        raise ProviderError(f"{provider} {what} could not be sent: {exc!r}", retriable=False) from exc


class HttpBatchProvider:
    """What every HTTP provider shares: one pooled client, and retrieve and cancel answered with the batch.

    A subclass names itself, its request-id header, where its settings are, how it authenticates and
    its batch path, and reads the batch body (`_read_batch`); close it with `aclose()` or `async with`.
    """

    name: str
    request_id_header: str

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        *,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base_url = httpx.URL((base_url or self.default_base_url()).rstrip("/"))
        self._client = httpx.AsyncClient(
            base_url=self._base_url,
            headers={"accept": "application/json", "user-agent": "jobstream-poller", **self._auth(api_key)},
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
        )

    @classmethod
    def settings_of(cls, settings: PollerSettings) -> tuple[str | None, str]:
        """(API key, base URL) for this provider; no key means it is not configured."""
        raise NotImplementedError

    @classmethod
    def default_base_url(cls) -> str:
        raise NotImplementedError

    @classmethod
    def configured(cls, settings: PollerSettings) -> bool:
        return bool(cls.settings_of(settings)[0])

    @classmethod
    def from_settings(cls, settings: PollerSettings) -> Self:
        api_key, base_url = cls.settings_of(settings)
        if not api_key:
            raise ValueError(f"no API key is set for {cls.name}")
        return cls(api_key, base_url, timeout_s=settings.request_timeout_s)

    def results(self, provider_batch_id: str) -> AsyncIterator[ProviderItemResult]:
        """Every item's result, streamed; only valid once the batch has ended."""
        raise NotImplementedError

    def _auth(self, api_key: str) -> dict[str, str]:
        """The headers that authenticate (and version) every request."""
        raise NotImplementedError

    def _batch_path(self, provider_batch_id: str) -> str:
        raise NotImplementedError

    def _read_batch(self, body: Any, provider_batch_id: str) -> ProviderBatch:
        raise NotImplementedError

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def retrieve(self, provider_batch_id: str) -> ProviderBatch:
        return await self._batch_call("GET", provider_batch_id, "")

    async def cancel(self, provider_batch_id: str) -> ProviderBatch:
        """`POST …/cancel`: the answer is the batch, canceling (or ended if it just did)."""
        return await self._batch_call("POST", provider_batch_id, "/cancel")

    def _errors(self, what: str) -> AbstractContextManager[None]:
        return transport_errors(self.name, what)

    def _error(self, response: httpx.Response, what: str) -> ProviderError:
        return error_from_response(response, self.name, what, self.request_id_header)

    async def _batch_call(self, method: str, provider_batch_id: str, suffix: str) -> ProviderBatch:
        what = f"{'cancel' if suffix else 'retrieve'} {provider_batch_id}"
        with self._errors(what):
            response = await self._client.request(method, self._batch_path(provider_batch_id) + suffix)
        if response.status_code != 200:
            raise self._error(response, what)
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise ProviderError(f"{self.name} {what}: body is not JSON", retriable=True) from exc
        return self._read_batch(body, provider_batch_id)
