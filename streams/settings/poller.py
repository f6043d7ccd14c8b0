"""Batch poller settings: the env names of docs/contract.md §8 and README, plus code-level tuning knobs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from streams.settings.env import Knobs, check_knobs, check_range, invalid, knobs_from_env, raw

DEFAULT_ANTHROPIC_BASE_URL = "https://api.anthropic.com"
# As the openai SDK's `base_url`: the API's root, `/v1` included.
DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"

API_KEY_ENV = "ANTHROPIC_API_KEY"
BASE_URL_ENV = "JOBSTREAM_ANTHROPIC_BASE_URL"
OPENAI_API_KEY_ENV = "OPENAI_API_KEY"
OPENAI_BASE_URL_ENV = "JOBSTREAM_OPENAI_BASE_URL"
INTERVAL_ENV = "JOBSTREAM_POLL_INTERVAL_S"
CONCURRENCY_ENV = "JOBSTREAM_POLL_CONCURRENCY"
TIMEOUT_ENV = "JOBSTREAM_POLL_TIMEOUT_S"
KNOBS: Knobs = {
    "poll_interval_s": (INTERVAL_ENV, {"positive": True}),
    "poll_concurrency": (CONCURRENCY_ENV, {"minimum": 1}),
    "request_timeout_s": (TIMEOUT_ENV, {"positive": True}),
}


@dataclass(frozen=True)
class PollerSettings:
    """How often and how hard to poll providers.

    Fields with an env name are read from it; the rest are tuning knobs whose defaults suit the real
    API (tests pass smaller values directly). A missing API key just leaves that provider off.
    """

    anthropic_api_key: str | None = field(default=None, repr=False)
    anthropic_base_url: str = DEFAULT_ANTHROPIC_BASE_URL
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str = DEFAULT_OPENAI_BASE_URL
    poll_interval_s: float = 30.0
    poll_concurrency: int = 8
    #: Per HTTP operation (connect, each read); a results stream may take longer in total.
    request_timeout_s: float = 30.0
    #: Attempts per provider call within one poll; after that the batch waits for the next round.
    retry_attempts: int = 3
    retry_backoff_s: float = 0.5
    retry_backoff_max_s: float = 8.0
    #: Item results per `batches.results` message, and a soft byte budget per message so a
    #: chunk of long completions stays under the broker's message size limit (1 MiB by default).
    chunk_max_items: int = 200
    chunk_max_bytes: int = 512 * 1024

    @property
    def cancel_lease_s(self) -> float:
        """How long one poller holds a batch's cancel (docs/contract.md §8 "Cancel"): twice the longest a
        claim can take (every attempt a retrieve, a cancel and a retrieve, each up to the timeout, then
        the longest backoff), and at least a minute, so a live holder never loses it mid-request."""
        one_try = 3 * self.request_timeout_s + self.retry_backoff_max_s
        return max(60.0, 2 * self.retry_attempts * one_try)

    def __post_init__(self) -> None:
        """The same bounds as from_env, for settings built in code; knobs are named by field."""
        _check_url(BASE_URL_ENV, self.anthropic_base_url)
        _check_url(OPENAI_BASE_URL_ENV, self.openai_base_url)
        check_knobs(self, KNOBS)
        check_range("retry_attempts", self.retry_attempts, minimum=1)
        check_range("retry_backoff_s", self.retry_backoff_s, minimum=0)
        check_range(
            "retry_backoff_max_s",
            self.retry_backoff_max_s,
            minimum=self.retry_backoff_s,
        )
        check_range("chunk_max_items", self.chunk_max_items, minimum=1)
        check_range("chunk_max_bytes", self.chunk_max_bytes, minimum=1)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> PollerSettings:
        base_url = raw(environ, BASE_URL_ENV) or DEFAULT_ANTHROPIC_BASE_URL
        _check_url(BASE_URL_ENV, base_url)
        openai_base_url = raw(environ, OPENAI_BASE_URL_ENV) or DEFAULT_OPENAI_BASE_URL
        _check_url(OPENAI_BASE_URL_ENV, openai_base_url)
        return cls(
            anthropic_api_key=raw(environ, API_KEY_ENV),
            anthropic_base_url=base_url.rstrip("/"),
            openai_api_key=raw(environ, OPENAI_API_KEY_ENV),
            openai_base_url=openai_base_url.rstrip("/"),
            **knobs_from_env(environ, KNOBS, cls),  # type: ignore[arg-type]
        )


def _check_url(name: str, url: str) -> None:
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018  # a port that is not a number raises here
    except ValueError:
        ok = False
    if not ok:
        raise invalid(name, "an http(s) URL", url)
