"""Batch providers the poller can talk to, and how to build them from settings."""

from __future__ import annotations

from streams.poller.providers.anthropic import AnthropicBatchProvider
from streams.poller.providers.base import BatchProvider, ProviderBatch, ProviderItemResult
from streams.settings import PollerSettings

__all__ = [
    "AnthropicBatchProvider",
    "BatchProvider",
    "ProviderBatch",
    "ProviderItemResult",
    "build_providers",
]


def build_providers(settings: PollerSettings) -> dict[str, BatchProvider]:
    """Every provider the settings configure, by name; a provider without credentials is left out.

    The caller owns the returned providers and closes them (`await provider.aclose()`).
    """
    providers: dict[str, BatchProvider] = {}
    if settings.anthropic_api_key:
        providers[AnthropicBatchProvider.name] = AnthropicBatchProvider.from_settings(settings)
    return providers
