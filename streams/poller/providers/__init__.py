"""Batch providers the poller can talk to, and how to build them from settings."""

from __future__ import annotations

from streams.poller.providers.anthropic import AnthropicBatchProvider
from streams.poller.providers.base import BatchProvider, ProviderBatch, ProviderItemResult
from streams.poller.providers.http import HttpBatchProvider
from streams.poller.providers.openai import OpenAIBatchProvider
from streams.settings import PollerSettings

# Every provider the poller knows: a new one is its module and one line here (plus its key and base
# URL in streams/settings/poller.py).
PROVIDERS: tuple[type[HttpBatchProvider], ...] = (
    AnthropicBatchProvider,
    OpenAIBatchProvider,
)

__all__ = [
    "AnthropicBatchProvider",
    "BatchProvider",
    "OpenAIBatchProvider",
    "ProviderBatch",
    "ProviderItemResult",
    "build_providers",
]


def build_providers(settings: PollerSettings) -> dict[str, BatchProvider]:
    """Every provider the settings configure, by name; a provider without credentials is left out.

    The caller owns the returned providers and closes them (`await provider.aclose()`).
    """
    providers: dict[str, BatchProvider] = {}
    for cls in PROVIDERS:
        if cls.configured(settings):
            providers[cls.name] = cls.from_settings(settings)
    return providers
