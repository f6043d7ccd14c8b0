"""One callback delivery attempt over HTTP: sign, connect to the checked IP, report what happened."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from standardwebhooks import Webhook

from schemas.callbacks import encode_body
from streams.callbacks.exceptions import BlockedURL, ResolutionFailed
from streams.callbacks.outcome import AttemptOutcome
from streams.callbacks.ssrf import Target, resolve_public_target
from streams.retry import parse_retry_after
from streams.settings import CallbackSettings

USER_AGENT = "jobstream-callbacks/1"


@dataclass(frozen=True)
class CallbackRequest:
    """One callback to deliver; the same `event_id` (webhook-id) must be reused on every retry."""

    url: str
    event_id: str
    payload: Mapping[str, Any] = field(repr=False)
    organization_id: str | None = None
    traceparent: str | None = None  # W3C trace context, sent as the `traceparent` header


class CallbackSender(Protocol):
    """Makes one attempt and reports it; never raises for network errors or blocked URLs."""

    async def send(self, request: CallbackRequest) -> AttemptOutcome: ...


class HttpxCallbackSender:
    """CallbackSender over httpx, pinned to the address the SSRF check approved.

    A fresh client per attempt, without keep-alive or cookies: the pool is keyed by IP, so a
    shared one could reuse a TLS session verified for another tenant's host on the same IP.
    """

    def __init__(
        self,
        settings: CallbackSettings,
        *,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.time,
        user_agent: str = USER_AGENT,
    ) -> None:
        self._settings = settings
        self._ssl_context = ssl_context if ssl_context is not None else httpx.create_ssl_context()
        self._clock = clock
        self._user_agent = user_agent

    async def send(self, request: CallbackRequest) -> AttemptOutcome:
        """One attempt, resolution included, bounded by the per-attempt timeout as a whole."""
        started = time.monotonic()
        timeout_s = self._settings.timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                outcome = await self._attempt(request)
        except TimeoutError:
            outcome = AttemptOutcome(error=f"timed out after {timeout_s:g}s", timed_out=True)
        return replace(outcome, elapsed_s=time.monotonic() - started)

    async def _attempt(self, request: CallbackRequest) -> AttemptOutcome:
        try:
            target = await resolve_public_target(request.url, self._settings.allow_cidrs)
        except BlockedURL as exc:
            return AttemptOutcome(error=exc.reason, blocked=True)
        except ResolutionFailed as exc:
            return AttemptOutcome(error=exc.reason)

        body = encode_body(request.payload)
        timestamp = int(self._clock())
        headers = self._headers(request, target, body, timestamp)
        extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
        where = f"{target.ip}:{target.port}"
        async with httpx.AsyncClient(
            verify=self._ssl_context,
            trust_env=False,  # a proxy would resolve the host name again, unchecked
            follow_redirects=False,
            timeout=httpx.Timeout(self._settings.timeout_s),
            limits=httpx.Limits(max_keepalive_connections=0),
        ) as client:
            http_request = client.build_request(
                "POST", target.request_url, content=body, headers=headers, extensions=extensions
            )
            try:
                response = await client.send(http_request, stream=True, follow_redirects=False)
            except httpx.TimeoutException as exc:
                return AttemptOutcome(error=f"{_describe(exc)} ({where})", timed_out=True)
            except (httpx.HTTPError, OSError) as exc:
                return AttemptOutcome(error=f"{_describe(exc)} ({where})")
            try:
                return self._outcome(response)
            finally:
                await response.aclose()  # the body is never read: receivers may send anything

    def _headers(
        self, request: CallbackRequest, target: Target, body: bytes, timestamp: int
    ) -> dict[str, str]:
        headers = {
            "host": target.host_header,
            "content-type": "application/json",
            "user-agent": self._user_agent,
            "webhook-id": request.event_id,
            "webhook-timestamp": str(timestamp),
        }
        if request.traceparent:
            headers["traceparent"] = request.traceparent
        secret = self._settings.secret_for(request.organization_id)
        if secret is not None:
            signed_at = datetime.fromtimestamp(timestamp, tz=UTC)
            headers["webhook-signature"] = Webhook(secret).sign(request.event_id, signed_at, body.decode())
        return headers

    def _outcome(self, response: httpx.Response) -> AttemptOutcome:
        status = response.status_code
        now = datetime.fromtimestamp(self._clock(), tz=UTC)
        retry_after = parse_retry_after(response.headers.get("retry-after"), now)
        if 200 <= status < 300:
            return AttemptOutcome(status_code=status)
        error = f"HTTP {status}"
        if 300 <= status < 400:
            location = response.headers.get("location", "")[:200]
            error = f"HTTP {status}: redirect to {location!r} not followed"
        return AttemptOutcome(status_code=status, error=error, retry_after_s=retry_after)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
