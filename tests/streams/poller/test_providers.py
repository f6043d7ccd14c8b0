"""Which providers the settings build: each one whose key is set, under the name batch jobs give."""

from __future__ import annotations

import pytest

from streams.poller.providers import PROVIDERS, build_providers
from streams.poller.providers.openai import OpenAIBatchProvider
from streams.settings import PollerSettings


@pytest.mark.parametrize(
    ("keys", "names"),
    [
        ({}, []),
        ({"anthropic_api_key": "sk-ant"}, ["anthropic"]),
        ({"openai_api_key": "sk-oai"}, ["openai"]),
        ({"anthropic_api_key": "sk-ant", "openai_api_key": "sk-oai"}, ["anthropic", "openai"]),
    ],
)
async def test_a_provider_is_built_when_its_key_is_set(keys: dict[str, str], names: list[str]) -> None:
    providers = build_providers(PollerSettings(**keys))
    try:
        assert sorted(providers) == names
        assert all(provider.name == name for name, provider in providers.items())
    finally:
        for provider in providers.values():
            await provider.aclose()


def test_every_provider_has_its_own_name() -> None:
    assert sorted(cls.name for cls in PROVIDERS) == ["anthropic", "openai"]
    with pytest.raises(ValueError, match="no API key is set for openai"):
        OpenAIBatchProvider.from_settings(PollerSettings())
