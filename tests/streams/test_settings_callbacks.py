"""CallbackSettings (JOBSTREAM_CALLBACK_*): defaults, parsing, per-organization secrets, fail-fast errors."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from streams.settings import CallbackSettings, ConfigError, parse_cidrs

GLOBAL = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ORG = "whsec_c2VjcmV0LWZvci1hY21lLWNvcnA="


def test_defaults_from_an_empty_environment() -> None:
    settings = CallbackSettings.from_env({})
    assert settings == CallbackSettings()
    assert (settings.timeout_s, settings.max_attempts) == (10.0, 8)
    assert (settings.backoff_base_s, settings.backoff_cap_s) == (1.0, 300.0)
    assert settings.allow_cidrs == ()
    assert settings.secret_for("acme") is None
    assert (settings.breaker_failures, settings.breaker_open_s, settings.disable_after_s) == (
        5,
        30.0,
        432000.0,
    )


def test_every_variable_is_read() -> None:
    settings = CallbackSettings.from_env(
        {
            "JOBSTREAM_CALLBACK_SECRET": GLOBAL,
            "JOBSTREAM_CALLBACK_SECRETS": f" acme:{ORG} , ,",
            "JOBSTREAM_CALLBACK_ALLOW_CIDRS": "127.0.0.1/8, ::1/128",
            "JOBSTREAM_CALLBACK_TIMEOUT_S": "2.5",
            "JOBSTREAM_CALLBACK_MAX_ATTEMPTS": "3",
            "JOBSTREAM_CALLBACK_BACKOFF_BASE_S": "0.5",
            "JOBSTREAM_CALLBACK_BACKOFF_CAP_S": "60",
            "JOBSTREAM_CALLBACK_BREAKER_FAILURES": "3",
            "JOBSTREAM_CALLBACK_BREAKER_OPEN_S": "12.5",
            "JOBSTREAM_CALLBACK_DISABLE_AFTER_S": "86400",
        }
    )
    assert (settings.breaker_failures, settings.breaker_open_s, settings.disable_after_s) == (
        3,
        12.5,
        86400.0,
    )
    assert settings.allow_cidrs == (ip_network("127.0.0.0/8"), ip_network("::1/128"))
    assert (settings.timeout_s, settings.max_attempts) == (2.5, 3)
    assert (settings.backoff_base_s, settings.backoff_cap_s) == (0.5, 60.0)
    assert settings.secret_for("acme") == ORG
    assert settings.secret_for("globex") == GLOBAL
    assert settings.secret_for(None) == GLOBAL


def test_organization_ids_may_contain_colons() -> None:
    settings = CallbackSettings.from_env({"JOBSTREAM_CALLBACK_SECRETS": f"tenant:eu:acme:{ORG}"})
    assert settings.secret_for("tenant:eu:acme") == ORG


def test_secrets_stay_out_of_repr() -> None:
    settings = CallbackSettings.from_env(
        {"JOBSTREAM_CALLBACK_SECRET": GLOBAL, "JOBSTREAM_CALLBACK_SECRETS": f"acme:{ORG}"}
    )
    assert GLOBAL not in repr(settings)
    assert ORG not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("JOBSTREAM_CALLBACK_TIMEOUT_S", "soon", "JOBSTREAM_CALLBACK_TIMEOUT_S must be a number, got 'soon'"),
        ("JOBSTREAM_CALLBACK_TIMEOUT_S", "0", "JOBSTREAM_CALLBACK_TIMEOUT_S must be positive, got '0'"),
        ("JOBSTREAM_CALLBACK_TIMEOUT_S", "inf", "must be finite, got 'inf'"),
        ("JOBSTREAM_CALLBACK_MAX_ATTEMPTS", "0", "_MAX_ATTEMPTS must be at least 1, got '0'"),
        ("JOBSTREAM_CALLBACK_MAX_ATTEMPTS", "2.5", "JOBSTREAM_CALLBACK_MAX_ATTEMPTS must be an integer"),
        ("JOBSTREAM_CALLBACK_BACKOFF_CAP_S", "-1", "JOBSTREAM_CALLBACK_BACKOFF_CAP_S must be at least 0"),
        ("JOBSTREAM_CALLBACK_ALLOW_CIDRS", "127.0.0.0/8,localhost", "not a CIDR: 'localhost'"),
        ("JOBSTREAM_CALLBACK_SECRETS", ORG, "org_id:whsec_"),
        ("JOBSTREAM_CALLBACK_SECRETS", f"acme:{ORG},acme:{ORG}", "per organization, got 'acme' twice"),
        ("JOBSTREAM_CALLBACK_SECRETS", "acme:x", "got one for organization 'acme' of 1 characters"),
        ("JOBSTREAM_CALLBACK_SECRET", "whsec_", "_SECRET must be a Standard Webhooks secret"),
        ("JOBSTREAM_CALLBACK_BREAKER_FAILURES", "0", "_BREAKER_FAILURES must be at least 1, got '0'"),
        ("JOBSTREAM_CALLBACK_BREAKER_FAILURES", "5x", "_BREAKER_FAILURES must be an integer, got '5x'"),
        ("JOBSTREAM_CALLBACK_BREAKER_OPEN_S", "0", "_BREAKER_OPEN_S must be positive, got '0'"),
        ("JOBSTREAM_CALLBACK_BREAKER_OPEN_S", "nan", "_BREAKER_OPEN_S must be finite, got 'nan'"),
        ("JOBSTREAM_CALLBACK_DISABLE_AFTER_S", "-5", "_DISABLE_AFTER_S must be positive, got '-5'"),
        (
            "JOBSTREAM_CALLBACK_DISABLE_AFTER_S",
            "1e300",
            "_AFTER_S must be at most 31622400.0, got '1e300'",
        ),
    ],
)
def test_malformed_values_fail_fast_naming_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as caught:
        CallbackSettings.from_env({name: value})
    assert str(caught.value).startswith(f"{name} must be ")


def test_settings_built_in_code_are_checked_too() -> None:
    with pytest.raises(ConfigError, match="JOBSTREAM_CALLBACK_TIMEOUT_S must be positive, got '0'"):
        CallbackSettings(timeout_s=0)
    with pytest.raises(ConfigError, match="JOBSTREAM_CALLBACK_SECRETS must be"):
        CallbackSettings(org_secrets={"acme": "x"})


def test_parse_cidrs() -> None:
    assert parse_cidrs("") == ()
    assert parse_cidrs(" 10.1.2.3/8 ,, fd00::/8 ") == (ip_network("10.0.0.0/8"), ip_network("fd00::/8"))
    with pytest.raises(ValueError, match="not a CIDR"):
        parse_cidrs("10.0.0.0/33")
