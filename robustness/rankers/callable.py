"""Wrap a plain Python function as a ranker, for quick experiments and tests."""

from __future__ import annotations

import hashlib
import inspect
from typing import Callable, Sequence

import numpy as np

ScoreFn = Callable[[Sequence[str], Sequence[str]], "np.ndarray | Sequence[float]"]


class CallableRanker:
    """A ranker backed by `fn(queries, docs) -> scores`.

    Pass `version` whenever the function's behaviour can change without its source changing
    (it reads a file, a global, a model): the cache key is derived from it.
    """

    def __init__(self, fn: ScoreFn, name: str | None = None, version: str | None = None):
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "callable")
        self._version = version

    def score(self, queries: Sequence[str], docs: Sequence[str]) -> np.ndarray:
        """The function's output as is: the engine validates it and names this ranker on faults."""
        return self.fn(list(queries), list(docs))

    def fingerprint(self) -> str:
        if self._version is not None:
            basis = self._version
        else:
            try:
                basis = inspect.getsource(self.fn)
            except (OSError, TypeError):
                basis = getattr(self.fn, "__qualname__", repr(self.fn))
        return "callable-" + hashlib.sha256(f"{self.name}\n{basis}".encode()).hexdigest()[:16]
