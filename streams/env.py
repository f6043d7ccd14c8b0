"""Typed settings from the environment, with errors that name the variable and the bad value."""

from __future__ import annotations

import math
from collections.abc import Mapping


class ConfigError(ValueError):
    """A setting holds a value the service cannot use; the message says which and why."""


def env_int(
    environ: Mapping[str, str], name: str, default: int, error: type[ValueError] = ConfigError
) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise error(f"{name} must be an integer, got {raw!r}") from exc


def env_float(
    environ: Mapping[str, str], name: str, default: float, error: type[ValueError] = ConfigError
) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise error(f"{name} must be a number, got {raw!r}") from exc
    if not math.isfinite(value):
        raise error(f"{name} must be finite, got {raw!r}")
    return value
