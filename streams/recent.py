"""A bounded memory of keys handled lately, for dropping repeats that arrive soon after the original."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class RecentlySeen(Generic[K]):
    """The last `capacity` distinct keys added; the oldest added is forgotten first.

    Only a fast path: a repeat older than the window gets through again, so whatever it guards must
    still be idempotent. A repeat does not refresh a key's place (the window is by first sighting).
    """

    def __init__(self, capacity: int) -> None:
        """`capacity` 0 remembers nothing: every key is new."""
        self.capacity = capacity
        self._keys: OrderedDict[K, None] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: K) -> bool:
        """Remember `key`; True if it was new (not within the window)."""
        if key in self._keys:
            return False
        self._keys[key] = None
        if len(self._keys) > self.capacity:
            self._keys.popitem(last=False)
        return True
