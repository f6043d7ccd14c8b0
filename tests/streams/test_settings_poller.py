"""PollerSettings: the contract's env names (plus JOBSTREAM_POLL_TIMEOUT_S), and checks of code-set knobs."""

from __future__ import annotations

import pytest

from streams.settings import DEFAULT_ANTHROPIC_BASE_URL, DEFAULT_OPENAI_BASE_URL, ConfigError, PollerSettings


def test_settings_from_env_defaults() -> None:
    settings = PollerSettings.from_env({})
    assert settings == PollerSettings()
    assert settings.anthropic_api_key is None
    assert settings.anthropic_base_url == DEFAULT_ANTHROPIC_BASE_URL == "https://api.anthropic.com"
    assert settings.openai_api_key is None
    assert settings.openai_base_url == DEFAULT_OPENAI_BASE_URL == "https://api.openai.com/v1"
    assert (settings.poll_interval_s, settings.poll_concurrency) == (30.0, 8)
    assert settings.request_timeout_s == 30.0


def test_settings_from_env_reads_the_contract_names() -> None:
    settings = PollerSettings.from_env(
        {
            "ANTHROPIC_API_KEY": "sk-ant-1",
            "JOBSTREAM_ANTHROPIC_BASE_URL": "http://127.0.0.1:9999/",
            "JOBSTREAM_POLL_INTERVAL_S": "0.5",
            "JOBSTREAM_POLL_CONCURRENCY": "2",
            "JOBSTREAM_POLL_TIMEOUT_S": "4",
            "OPENAI_API_KEY": "sk-openai-1",
            "JOBSTREAM_OPENAI_BASE_URL": "http://127.0.0.1:9998/v1/",
        }
    )
    assert settings.openai_api_key == "sk-openai-1" and "sk-openai-1" not in repr(settings)
    assert settings.openai_base_url == "http://127.0.0.1:9998/v1"
    assert settings.anthropic_api_key == "sk-ant-1"
    assert settings.anthropic_base_url == "http://127.0.0.1:9999"
    assert (settings.poll_interval_s, settings.poll_concurrency, settings.request_timeout_s) == (0.5, 2, 4.0)
    assert "sk-ant-1" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value", "must"),
    [
        ("JOBSTREAM_POLL_INTERVAL_S", "soon", "a number"),
        ("JOBSTREAM_POLL_INTERVAL_S", "-1", "positive"),
        ("JOBSTREAM_POLL_CONCURRENCY", "2.5", "an integer"),
        ("JOBSTREAM_POLL_CONCURRENCY", "0", "at least 1"),
        ("JOBSTREAM_POLL_TIMEOUT_S", "0", "positive"),
        ("JOBSTREAM_POLL_TIMEOUT_S", "nan", "finite"),
        ("JOBSTREAM_ANTHROPIC_BASE_URL", "ftp://example.com", "an http(s) URL"),
        ("JOBSTREAM_OPENAI_BASE_URL", "api.openai.com/v1", "an http(s) URL"),
    ],
)
def test_settings_from_env_rejects_bad_values(name: str, value: str, must: str) -> None:
    with pytest.raises(ConfigError) as caught:
        PollerSettings.from_env({name: value})
    assert str(caught.value) == f"{name} must be {must}, got {value!r}"


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"retry_attempts": 0}, "retry_attempts must be at least 1, got '0'"),
        ({"retry_backoff_s": 2.0, "retry_backoff_max_s": 1.0}, "retry_backoff_max_s must be at least 2.0"),
        ({"chunk_max_bytes": 0}, "chunk_max_bytes must be at least 1"),
        ({"request_timeout_s": 0.0}, "JOBSTREAM_POLL_TIMEOUT_S must be positive, got '0.0'"),
    ],
)
def test_knobs_set_in_code_are_checked(knobs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PollerSettings(**knobs)  # type: ignore[arg-type]
