"""The dedupe window every repeat-dropper shares: the client's events, resume notices, forwarded commands."""

from __future__ import annotations

from streams.recent import RecentlySeen


def test_add_says_whether_the_key_was_new() -> None:
    seen: RecentlySeen[str] = RecentlySeen(3)
    assert seen.add("a") and "a" in seen
    assert not seen.add("a"), "a repeat within the window"
    assert len(seen) == 1


def test_the_oldest_added_is_forgotten_first_and_a_repeat_does_not_refresh_it() -> None:
    seen: RecentlySeen[int] = RecentlySeen(2)
    seen.add(1)
    seen.add(2)
    assert not seen.add(1)
    seen.add(3)
    assert 1 not in seen and 2 in seen and 3 in seen
    assert seen.add(1), "older than the window: new again"


def test_a_window_of_zero_remembers_nothing() -> None:
    seen: RecentlySeen[str] = RecentlySeen(0)
    assert seen.add("a") and seen.add("a")
    assert len(seen) == 0
