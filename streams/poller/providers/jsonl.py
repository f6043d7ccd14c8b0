"""A provider's JSONL body read line by line within a bound, so no one line can exhaust memory."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass


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
