"""The worker's start-up heap is frozen: full collections no longer walk it."""

from __future__ import annotations

import gc

from streams.worker.heap import freeze_startup_heap


def test_the_startup_heap_is_frozen_and_later_objects_are_still_collected() -> None:
    try:
        frozen = freeze_startup_heap()
        assert frozen > 1_000 and gc.get_freeze_count() == frozen
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1  # a cycle made after the freeze is still found
    finally:
        gc.unfreeze()
