"""A provider's JSONL results read line by line within a bound, and each line checked on its own."""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import structlog

from schemas.bounds import MAX_CUSTOM_ID_LENGTH

log = structlog.get_logger(__name__)

# One result line at most: the poller's chunk budget, so every item fits one `batches.results` message.
MAX_LINE_BYTES = 512 * 1024
_CUSTOM_ID = re.compile(rb'"custom_id"\s*:\s*"([^"\\]{1,64})"')


@dataclass(frozen=True)
class Line:
    """One non-blank line; past `limit` bytes only its start is kept, and `cut` says so."""

    data: bytes
    cut: bool = False


async def bounded_lines(chunks: AsyncIterable[bytes], limit: int) -> AsyncIterator[Line]:
    """Split a byte stream at newlines, keeping at most `limit` bytes of each line."""
    buffer, cut = bytearray(), False
    async for chunk in chunks:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if not cut:
                room = limit - len(buffer)
                cut = len(piece) > room
                buffer += piece[:room] if cut else piece
            if end < 0:
                break
            if cut or buffer.strip():
                yield Line(bytes(buffer).rstrip(b"\r"), cut)
            buffer, cut, start = bytearray(), False, end + 1
    if cut or buffer.strip():
        yield Line(bytes(buffer).rstrip(b"\r"), cut)


@dataclass(frozen=True)
class Row:
    """A line's JSON object and its checked `custom_id`."""

    custom_id: str
    fields: dict[str, Any]


def read_row(line: Line, provider: str, provider_batch_id: str) -> Row | str | None:
    """The line's object; for a line cut at the bound, the `custom_id` its start names (the item is then
    recorded `result_too_large`); None, logged, when no item can be named (it then ends unanswered).

    Never an error: asking again returns the same file, so a bad line must not fail the poll.
    """
    if line.cut:
        found = _CUSTOM_ID.search(line.data)
        if found is not None:
            return found.group(1).decode()
        return _skipped(provider, provider_batch_id, "an over-long line", line)
    try:
        row = orjson.loads(line.data)
    except orjson.JSONDecodeError:
        return _skipped(provider, provider_batch_id, "a line that is not JSON", line)
    custom_id = row.get("custom_id") if isinstance(row, dict) else None
    if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= MAX_CUSTOM_ID_LENGTH:
        return _skipped(provider, provider_batch_id, "a line without a usable custom_id", line)
    return Row(custom_id, row)


def _skipped(provider: str, provider_batch_id: str, what: str, line: Line) -> Row | str | None:
    """Nothing to record under an item: logged, and None."""
    log.warning(
        "batches.result_line_skipped",
        provider=provider,
        provider_batch_id=provider_batch_id,
        what=what,
        start=line.data[:200],
    )
    return None
