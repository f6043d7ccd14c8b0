"""Poller configuration: the env names of contract §8 plus code-level tuning defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from streams.env import env_float, env_int

DEFAULT_ANTHROPIC_BASE_URL = "https://api.anthropic.com"


@dataclass(frozen=True)
class PollerSettings:
    """How often and how hard to poll providers.

    Only the contract's env names are read from the environment; the remaining fields are
    tuning knobs with defaults that suit the real API (tests pass smaller values directly).
    """

    anthropic_api_key: str | None = field(default=None, repr=False)
    anthropic_base_url: str = DEFAULT_ANTHROPIC_BASE_URL
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

    def __post_init__(self) -> None:
        if self.poll_interval_s <= 0:
            raise ValueError("JOBSTREAM_POLL_INTERVAL_S must be positive")
        if self.poll_concurrency < 1:
            raise ValueError("JOBSTREAM_POLL_CONCURRENCY must be at least 1")
        if self.request_timeout_s <= 0 or self.retry_attempts < 1:
            raise ValueError("request_timeout_s must be positive and retry_attempts at least 1")
        if self.retry_backoff_s < 0 or self.retry_backoff_max_s < self.retry_backoff_s:
            raise ValueError("retry backoff must be non-negative and at most retry_backoff_max_s")
        if self.chunk_max_items < 1 or self.chunk_max_bytes < 1:
            raise ValueError("chunk limits must be positive")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PollerSettings:
        """Read the contract's env names; a missing `ANTHROPIC_API_KEY` just leaves that provider off.

        `ANTHROPIC_API_KEY`, `JOBSTREAM_ANTHROPIC_BASE_URL` (default `https://api.anthropic.com`),
        `JOBSTREAM_POLL_INTERVAL_S` (default 30), `JOBSTREAM_POLL_CONCURRENCY` (default 8).
        """
        env = os.environ if environ is None else environ
        base_url = env.get("JOBSTREAM_ANTHROPIC_BASE_URL") or DEFAULT_ANTHROPIC_BASE_URL
        return cls(
            anthropic_api_key=env.get("ANTHROPIC_API_KEY") or None,
            anthropic_base_url=base_url.rstrip("/"),
            poll_interval_s=env_float(env, "JOBSTREAM_POLL_INTERVAL_S", 30.0),
            poll_concurrency=int(env_int(env, "JOBSTREAM_POLL_CONCURRENCY", 8)),
        )
