"""Typed values from the environment: one error type, and every message says which variable, what it
must be and what it holds ("NAME must be …, got 'raw'"), so a bad setting is one line to fix."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any


class ConfigError(ValueError):
    """A setting holds a value the service cannot use; the message says which and why."""


def invalid(name: str, must: str, got: object, *, secret: bool = False) -> ConfigError:
    """The one message shape; a secret's value is never echoed, only its length."""
    shown = f"a value of {len(str(got))} characters (not shown)" if secret else repr(str(got))
    return ConfigError(f"{name} must be {must}, got {shown}")


def raw(environ: Mapping[str, str], name: str) -> str | None:
    """The value without surrounding blanks; unset and blank both mean "use the default"."""
    value = environ.get(name, "").strip()
    return value or None


def env_str(environ: Mapping[str, str], name: str, default: str) -> str:
    return raw(environ, name) or default


def env_int(
    environ: Mapping[str, str],
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    text = raw(environ, name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise invalid(name, "an integer", text) from None
    check_range(name, value, minimum=minimum, maximum=maximum, got=text)
    return value


def env_float(
    environ: Mapping[str, str],
    name: str,
    default: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
) -> float:
    text = raw(environ, name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise invalid(name, "a number", text) from None
    check_range(name, value, minimum=minimum, maximum=maximum, positive=positive, got=text)
    return value


def env_port(environ: Mapping[str, str], name: str, default: int) -> int:
    return env_int(environ, name, default, minimum=1, maximum=65535)


def env_list(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated entries, blanks dropped: "a, b,," is ("a", "b")."""
    return tuple(entry.strip() for entry in (raw(environ, name) or "").split(",") if entry.strip())


def env_choices(
    environ: Mapping[str, str], name: str, choices: Collection[str], default: Collection[str]
) -> frozenset[str]:
    """A non-empty comma-separated subset of `choices`."""
    text = raw(environ, name)
    if text is None:
        return frozenset(default)
    chosen = frozenset(env_list(environ, name))
    if not chosen or not chosen <= set(choices):
        raise invalid(name, f"one or more of {', '.join(sorted(choices))} (comma-separated)", text)
    return chosen


def check_range(
    name: str,
    value: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
    got: object = None,
) -> None:
    """Bounds shared by the parsers (`got`: the raw text) and the settings' checks of values from code."""
    got = value if got is None else got
    if not math.isfinite(value):
        raise invalid(name, "finite", got)
    if positive and not value > 0:
        raise invalid(name, "positive", got)
    if minimum is not None and value < minimum:
        raise invalid(name, f"at least {minimum}", got)
    if maximum is not None and value > maximum:
        raise invalid(name, f"at most {maximum}", got)


# A settings class's numeric knobs read from the environment: field name -> (variable, its bounds, as
# `check_range` takes them). One table, so a bound is stated once for both ways settings are made.
Knobs = Mapping[str, tuple[str, Mapping[str, Any]]]


def knobs_from_env(environ: Mapping[str, str], knobs: Knobs, defaults: object) -> dict[str, float]:
    """Each knob parsed from its variable (an int where the default is one) and bounded, echoing the
    text the user gave; unset, the default of `defaults` (the settings class)."""
    values: dict[str, float] = {}
    for field_name, (name, bounds) in knobs.items():
        default = getattr(defaults, field_name)
        parse = env_int if type(default) is int else env_float
        values[field_name] = parse(environ, name, default, **bounds)
    return values


def check_knobs(settings: object, knobs: Knobs) -> None:
    """The same bounds for settings built in code (tests, tools)."""
    for field_name, (name, bounds) in knobs.items():
        check_range(name, getattr(settings, field_name), **bounds)
