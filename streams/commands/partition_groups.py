"""A large batch is processed as a few concurrent transactions, one per group of its partitions.

A batch runs serially: Python decides it, Postgres writes it (on the other core), Kafka acknowledges its
events, and the worker waits through each of those. At saturation batches are full and about a third of
the worker's time went to that waiting. Records of different partitions hold different jobs (a job's
commands are all on murmur2(job id)'s partition: misrouted records are forwarded there, and a key that is
not the job id is dead-lettered), so their transactions lock and write disjoint rows and can run at once:
one's Python runs while another's statements execute.

Small batches stay one transaction. Each transaction has a fixed cost (five round trips, a commit's WAL
flush, a produce request for its events and one for its states), and at low and medium load splitting
only multiplies that cost: one actor per partition (Faust's `isolated_partitions`) doubled the latency
at a tenth of capacity (docs/decisions.md). Only batches of `SPLIT_FROM` records or more, which form when
the worker falls behind, are split.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from streams.commands.processor import Record
from streams.failures import is_transient
from streams.kafka.runtime import COMMAND_POOL_SIZE

T = TypeVar("T")

SPLIT_FROM = 100  # records in a batch before it is split (a batch at half of capacity holds ~30)
GROUPS = COMMAND_POOL_SIZE  # concurrent transactions at most: a connection of the command engine's each


def partition_groups(records: Sequence[Record], groups: int = GROUPS) -> list[list[Record]]:
    """The records in at most `groups` groups (partition modulo `groups`), each in the order read."""
    by_group: dict[int, list[Record]] = {}
    for record in records:
        by_group.setdefault(record.partition % groups, []).append(record)
    return list(by_group.values())


async def process_in_groups(
    process: Callable[[Sequence[Record]], Awaitable[T]], records: Sequence[Record]
) -> list[T]:
    """`process` the batch whole, or, from `SPLIT_FROM` records on, each partition group at once.

    Every group finishes (committed and published, or failed) before this returns or raises, so the
    batch's acks and any retry come after all of them. A retry redoes the whole batch; the groups that
    were committed then come out as duplicates, their stored events re-emitted (rule 7). Of several
    errors the one that is not an outage is raised, so that the caller narrows it down to its record.
    """
    parts = partition_groups(records) if len(records) >= SPLIT_FROM else [list(records)]
    if len(parts) == 1:
        return [await process(records)]
    outcomes = await asyncio.gather(*(process(part) for part in parts), return_exceptions=True)
    errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if errors:
        raise next((error for error in errors if not is_transient(error)), errors[0])
    return [outcome for outcome in outcomes if not isinstance(outcome, BaseException)]
