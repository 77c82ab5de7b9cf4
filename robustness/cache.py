"""Where the suite keeps what is expensive to recompute: scores, trained models, resources.

`ROBUSTNESS_CACHE_DIR` overrides the user cache directory (tests point it at a temp dir).
Nothing here is ever committed to the repository.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Generic, TypeVar


def cache_dir() -> Path:
    override = os.environ.get("ROBUSTNESS_CACHE_DIR")
    if override:
        path = Path(override)
    else:
        from platformdirs import user_cache_dir

        path = Path(user_cache_dir("ranking-robustness"))
    path.mkdir(parents=True, exist_ok=True)
    return path


K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A bounded mapping that forgets the least recently used entry first (in-memory caches)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"LRU capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value (marked as recently used), or None."""
        if key not in self._items:
            return None
        self._items.move_to_end(key)
        return self._items[key]

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)
