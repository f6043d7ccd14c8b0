"""Two batches in flight keep their order: the later one commits after the earlier one's commit and
publishes after the earlier one is settled, also when the earlier one's publishing fails and is retried."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from streams.kafka.settlement import Settlement, settle
from streams.kafka.turns import Turn


class Steps:
    """A handler honouring its turn, recording what it did, whose first publish of `flaky` fails."""

    def __init__(self, flaky: str | None = None) -> None:
        self.done: list[str] = []
        self.flaky = flaky

    async def handle(self, events: Sequence[Any], turn: Turn) -> None:
        name = events[0].message
        await turn.may_commit()
        await asyncio.sleep(0)
        self.done.append(f"commit {name}")
        turn.committed()
        await turn.may_publish()
        await asyncio.sleep(0.01 if name == "a" else 0)  # the earlier batch's sends take longer
        if name == self.flaky:
            self.flaky = None
            raise ConnectionError("broker went away")  # an outage: the whole batch is retried
        self.done.append(f"publish {name}")


def batch(name: str) -> list[Any]:
    return [SimpleNamespace(message=name)]


async def run_two(steps: Steps) -> None:
    async def last_resort(event: Any, error: Exception) -> None:
        raise error

    settlement = Settlement(steps.handle, None, last_resort)
    first = Turn()
    second = Turn(first)

    async def settled(events: list[Any], turn: Turn) -> None:
        await settle(events, settlement, "test", turn)
        turn.settled()

    await asyncio.gather(settled(batch("a"), first), settled(batch("b"), second))


async def test_the_later_batch_commits_while_the_earlier_publishes_and_publishes_after_it() -> None:
    steps = Steps()
    await run_two(steps)
    assert steps.done == ["commit a", "commit b", "publish a", "publish b"]


async def test_a_retried_earlier_batch_still_publishes_first() -> None:
    steps = Steps(flaky="a")
    await run_two(steps)
    assert steps.done == ["commit a", "commit b", "commit a", "publish a", "publish b"]


async def test_a_settled_batch_lets_the_next_one_commit_even_if_it_never_committed() -> None:
    first = Turn()
    second = Turn(first)
    waiting = asyncio.ensure_future(second.may_commit())
    await asyncio.sleep(0)
    assert not waiting.done()
    first.settled()  # e.g. every record dead-lettered: nothing was written
    await asyncio.wait_for(waiting, 1)
    await asyncio.wait_for(second.may_publish(), 1)
