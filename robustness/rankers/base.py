"""The one interface every ranker implements, and the checks applied to what it returns.

A ranker scores (query, document) text pairs, higher = more relevant. Everything else in the
suite (tasks, attacks, certification) reaches rankers only through the ScoringEngine, which
calls `score` on batches and validates the result with `validate_scores`.
"""

from __future__ import annotations

import hashlib
from typing import Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from robustness.errors import RankerError


@runtime_checkable
class Ranker(Protocol):
    """A (query, document) scorer.

    `fingerprint` identifies weights + configuration: the score cache is keyed by it, so two
    rankers that could score a pair differently must never share a fingerprint.

    Optional hooks the harness uses when present:
    - `prepare(corpus: Mapping[str, str]) -> None`: corpus statistics (BM25's idf) before scoring.
    - `max_length: int`: tokens per pair the model reads; the engine's batch packing caps at it.
    """

    name: str

    def score(self, queries: Sequence[str], docs: Sequence[str]) -> np.ndarray: ...

    def fingerprint(self) -> str: ...


def check_interface(obj: object, label: str) -> None:
    """Fail in one line when `obj` (a ranker instance or class) lacks what the suite calls."""
    for attribute in ("name", "score"):
        if not hasattr(obj, attribute):
            raise RankerError(f"{label} has no {attribute!r}: it does not implement the Ranker interface (name, score)")
    if not callable(getattr(obj, "score")):
        raise RankerError(f"{label}: 'score' is not callable")


def prepare_ranker(ranker: Ranker, corpus: Mapping[str, str]) -> None:
    """Give a corpus-dependent ranker its statistics; a no-op for the others."""
    prepare = getattr(ranker, "prepare", None)
    if callable(prepare):
        prepare(corpus)


def validate_scores(ranker_name: str, scores: object, expected: int) -> np.ndarray:
    """Return `scores` as float64 of shape (expected,), or raise one line naming the fault."""
    try:
        array = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise RankerError(f"ranker {ranker_name!r} returned non-numeric scores ({exc})") from None
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.shape != (expected,):
        raise RankerError(
            f"ranker {ranker_name!r} returned scores of shape {array.shape} for {expected} pairs "
            f"(expected ({expected},))"
        )
    bad = ~np.isfinite(array)
    if bad.any():
        raise RankerError(
            f"ranker {ranker_name!r} returned {int(bad.sum())} non-finite score(s) (NaN or inf) "
            f"out of {expected}"
        )
    return array


def text_hash(text: str) -> str:
    """Content key for caches: documents are keyed by text, never by id (attacks edit text)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()
