"""Conformance checks for ranker plug-in authors: does a ranker fit the suite?

Two ways to use them:

    from robustness.testing import check_ranker
    check_ranker(MyRanker())          # raises RankerCheckError naming the first problem

    from robustness.testing import RankerConformance

    class TestMyRanker(RankerConformance):      # pytest collects one test per requirement
        def make_ranker(self):
            return MyRanker()

They check what the engine and tasks rely on: a name; scores of shape (n,), numeric and finite;
the same scores when called again (determinism) and when the pairs arrive in other batches
(batch-size invariance — the engine packs batches by length); and, when the ranker has one, a
stable, non-empty string fingerprint. `RankerCheckError` is a real exception (not `assert`, which
`python -O` removes), so the checks also run in production code paths.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from robustness.errors import RankerError
from robustness.rankers.base import Ranker, check_interface, prepare_ranker

SAMPLE_QUERIES = (
    "what causes ocean tides",
    "effects of vitamin d on bone density",
    "how do vaccines train the immune system",
)
SAMPLE_DOCS = (
    "Tides are caused by the gravitational pull of the moon and the sun on the oceans.",
    "Vitamin D increases calcium absorption, and deficiency is linked to lower bone mineral density.",
    "Vaccines expose the immune system to antigens so that memory cells respond faster to infection.",
    "The stock market fell sharply after the announcement of new tariffs.",
)


class RankerCheckError(RankerError, AssertionError):
    """A ranker breaks the contract the suite relies on (also an AssertionError, for test runners)."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise RankerCheckError(message)


def _pairs(queries: Sequence[str], docs: Sequence[str]) -> tuple[list[str], list[str]]:
    return [q for q in queries for _ in docs], [d for _ in queries for d in docs]


def check_interface_and_name(ranker: Any) -> None:
    try:
        check_interface(ranker, "ranker")
    except RankerError as exc:
        raise RankerCheckError(str(exc)) from None
    _require(isinstance(ranker.name, str) and bool(ranker.name), "ranker.name must be a non-empty string")


def check_fingerprint(ranker: Any) -> None:
    """Optional, but when present: a non-empty string, stable across calls."""
    if not callable(getattr(ranker, "fingerprint", None)):
        return
    fingerprint = ranker.fingerprint()
    _require(isinstance(fingerprint, str) and bool(fingerprint), f"fingerprint() must return a non-empty string, got {fingerprint!r}")
    _require(ranker.fingerprint() == fingerprint, "fingerprint() changed between calls")


def check_scores(ranker: Any, queries: Sequence[str] = SAMPLE_QUERIES, docs: Sequence[str] = SAMPLE_DOCS) -> np.ndarray:
    """Shape (n,), numeric dtype, finite; returns the scores as float64."""
    pairs_q, pairs_d = _pairs(queries, docs)
    scores = np.asarray(ranker.score(pairs_q, pairs_d))
    _require(scores.shape == (len(pairs_q),), f"score() returned shape {scores.shape}, expected ({len(pairs_q)},)")
    _require(np.issubdtype(scores.dtype, np.number), f"score() returned dtype {scores.dtype}, expected numbers")
    _require(bool(np.isfinite(scores).all()), "score() returned NaN or inf")
    return scores.astype(np.float64)


def check_determinism(ranker: Any, queries: Sequence[str] = SAMPLE_QUERIES, docs: Sequence[str] = SAMPLE_DOCS, atol: float = 1e-4) -> None:
    pairs_q, pairs_d = _pairs(queries, docs)
    first = check_scores(ranker, queries, docs)
    again = np.asarray(ranker.score(pairs_q, pairs_d), dtype=np.float64)
    _require(bool(np.allclose(first, again, atol=atol)), "score() is not deterministic: a second call differs")


def check_batch_invariance(ranker: Any, queries: Sequence[str] = SAMPLE_QUERIES, docs: Sequence[str] = SAMPLE_DOCS, atol: float = 1e-4) -> None:
    pairs_q, pairs_d = _pairs(queries, docs)
    together = check_scores(ranker, queries, docs)
    alone = np.array([float(np.asarray(ranker.score([q], [d])).reshape(-1)[0]) for q, d in zip(pairs_q, pairs_d)])
    _require(
        bool(np.allclose(together, alone, atol=atol)),
        f"scores depend on batching (max difference {np.abs(together - alone).max():.2e}): "
        "pairs scored alone differ from the same pairs scored together",
    )


def check_ranker(ranker: Ranker, queries: Sequence[str] = SAMPLE_QUERIES, docs: Sequence[str] = SAMPLE_DOCS, atol: float = 1e-4) -> None:
    """Raise `RankerCheckError` naming the first way `ranker` breaks the contract."""
    check_interface_and_name(ranker)
    prepare_ranker(ranker, {f"d{i}": d for i, d in enumerate(docs)})
    check_fingerprint(ranker)
    check_scores(ranker, queries, docs)
    check_determinism(ranker, queries, docs, atol)
    check_batch_invariance(ranker, queries, docs, atol)


class RankerConformance:
    """A pytest test class for plug-in authors (as PyTerrier ships one): subclass it, override
    `make_ranker`, and pytest runs one test per requirement, each naming what is wrong.

    Override `queries` / `docs` to check the ranker on your own domain's text."""

    queries: Sequence[str] = SAMPLE_QUERIES
    docs: Sequence[str] = SAMPLE_DOCS
    atol: float = 1e-4

    def make_ranker(self) -> Ranker:
        raise NotImplementedError("override make_ranker() to return the ranker under test")

    def _ranker(self) -> Any:
        ranker = self.make_ranker()
        check_interface_and_name(ranker)
        prepare_ranker(ranker, {f"d{i}": d for i, d in enumerate(self.docs)})
        return ranker

    def test_interface_and_name(self) -> None:
        check_interface_and_name(self.make_ranker())

    def test_fingerprint(self) -> None:
        check_fingerprint(self._ranker())

    def test_scores_shape_dtype_finite(self) -> None:
        check_scores(self._ranker(), self.queries, self.docs)

    def test_determinism(self) -> None:
        check_determinism(self._ranker(), self.queries, self.docs, self.atol)

    def test_batch_invariance(self) -> None:
        check_batch_invariance(self._ranker(), self.queries, self.docs, self.atol)
