"""Bounded JSONL lines: split across chunks, blank lines dropped, an over-long line cut at the bound."""

from __future__ import annotations

from collections.abc import AsyncIterator

from streams.poller.providers.jsonl import Line, bounded_lines


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def lines(*parts: bytes, limit: int = 8) -> list[Line]:
    return [line async for line in bounded_lines(chunks(*parts), limit)]


async def test_lines_are_split_at_newlines_across_chunks() -> None:
    assert await lines(b"ab", b"c\nde\r\n", b"\n  \n", b"f") == [Line(b"abc"), Line(b"de"), Line(b"f")]
    assert await lines() == [] and await lines(b"\n\n") == []


async def test_an_over_long_line_keeps_its_start_and_says_it_was_cut() -> None:
    found = await lines(b"0123456", b"789abc\nok\n", b"x" * 20, limit=8)
    assert found == [Line(b"01234567", cut=True), Line(b"ok"), Line(b"xxxxxxxx", cut=True)]
