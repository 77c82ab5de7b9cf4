"""Where the suite keeps what is expensive to recompute: scores, trained models, resources.

`ROBUSTNESS_CACHE_DIR` overrides the user cache directory (tests point it at a temp dir).
Nothing here is ever committed to the repository.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Generic, TypeVar

from robustness.errors import RobustnessError

WAYS_OUT = "run with --set cache=false, or set ROBUSTNESS_CACHE_DIR to a writable directory"
"""The ways around an unusable cache, named by every CacheError."""


class CacheError(RobustnessError):
    """The cache directory or the score store in it cannot be created, opened or written."""


def cache_dir() -> Path:
    """The cache directory, created if needed; a CacheError line if it cannot be."""
    override = os.environ.get("ROBUSTNESS_CACHE_DIR")
    if override:
        return ensure_directory(Path(override).expanduser(), "cache directory (ROBUSTNESS_CACHE_DIR)")
    from platformdirs import user_cache_dir

    return ensure_directory(Path(user_cache_dir("ranking-robustness")), "cache directory (the user cache; ROBUSTNESS_CACHE_DIR overrides it)")


def ensure_directory(path: Path, subject: str) -> Path:
    """Create `path` with its parents; if it cannot be, one CacheError line: `subject`, the
    path, the reason and the ways out."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise CacheError(f"{subject}: {path} is a file, not a directory; move it aside, {WAYS_OUT}") from None
    except NotADirectoryError:
        raise CacheError(f"{subject}: part of {path} is a file, not a directory; move that file aside, {WAYS_OUT}") from None
    except OSError as exc:
        raise CacheError(f"{subject}: {path} cannot be created ({describe_os_error(exc)}); {WAYS_OUT}") from None
    return path


def describe_os_error(exc: OSError) -> str:
    """`[Errno 13] Permission denied: '/x'` -> `permission denied`: the path is named by the caller."""
    text = exc.strerror or str(exc) or type(exc).__name__
    return " ".join(text.split()).lower()


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
