"""The API's bearer tokens (JOBSTREAM_API_TOKENS plus JOBSTREAM_API_TOKENS_FILE), parsed at startup.

Errors name the variable and the entry but never echo a token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType

from streams.settings.env import ConfigError, invalid, raw

TOKENS_ENV = "JOBSTREAM_API_TOKENS"
TOKENS_FILE_ENV = "JOBSTREAM_API_TOKENS_FILE"


def read_api_tokens(environ: Mapping[str, str]) -> Mapping[str, str]:
    """token -> organization id: the comma-separated variable, then the file's lines (which win)."""
    pairs = dict(parse_pairs((raw(environ, TOKENS_ENV) or "").split(","), TOKENS_ENV))
    path = raw(environ, TOKENS_FILE_ENV)
    if path:
        try:
            lines = Path(path).read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise invalid(TOKENS_FILE_ENV, f"a readable file of token lines ({reason})", path) from None
        pairs.update(parse_pairs(lines, TOKENS_FILE_ENV, f" of {path!r}", unit="line"))
    return MappingProxyType(pairs)


def parse_pairs(
    entries: Iterable[str], name: str, where: str = "", *, unit: str = "entry"
) -> list[tuple[str, str]]:
    """`token:organization_id` entries; blanks and `#` comments skipped; ids may contain ':'."""
    pairs = []
    for number, entry in enumerate(entries, 1):
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        token, sep, organization = entry.partition(":")
        if not sep or not token.strip() or not organization.strip():
            raise ConfigError(
                f"{name} must be token:organization_id pairs, got {unit} {number}{where}, which is not one"
                " (not shown: it may hold a token)"
            )
        pairs.append((token.strip(), organization.strip()))
    return pairs
