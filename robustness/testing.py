"""Conformance check for ranker plug-in authors: one call tells whether a ranker fits the suite.

    from robustness.testing import check_ranker
    check_ranker(MyRanker())          # raises AssertionError naming the first problem

It checks what the engine and tasks rely on: a stable string fingerprint; scores of shape
(n,), numeric and finite; the same scores when called again (determinism) and when the pairs
arrive in different batches (batch-size invariance — the engine packs batches by length).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from robustness.rankers.base import Ranker, prepare_ranker

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


def check_ranker(ranker: Ranker, queries: Sequence[str] = SAMPLE_QUERIES, docs: Sequence[str] = SAMPLE_DOCS, atol: float = 1e-4) -> None:
    """Assert that `ranker` satisfies the Ranker contract on every (query, doc) pair of the samples."""
    for attribute in ("name", "score", "fingerprint"):
        assert hasattr(ranker, attribute), f"ranker lacks {attribute!r}"
    assert isinstance(ranker.name, str) and ranker.name, "ranker.name must be a non-empty string"
    prepare_ranker(ranker, {f"d{i}": d for i, d in enumerate(docs)})
    fingerprint = ranker.fingerprint()
    assert isinstance(fingerprint, str) and fingerprint, "fingerprint() must return a non-empty string"
    pairs_q = [q for q in queries for _ in docs]
    pairs_d = [d for _ in queries for d in docs]
    scores = np.asarray(ranker.score(pairs_q, pairs_d))
    assert scores.shape == (len(pairs_q),), f"score() returned shape {scores.shape}, expected ({len(pairs_q)},)"
    assert np.issubdtype(scores.dtype, np.number), f"score() returned dtype {scores.dtype}, expected numbers"
    assert np.isfinite(scores).all(), "score() returned NaN or inf"
    again = np.asarray(ranker.score(pairs_q, pairs_d), dtype=np.float64)
    assert np.allclose(scores, again, atol=atol), "score() is not deterministic: a second call differs"
    one_by_one = np.array([float(np.asarray(ranker.score([q], [d])).reshape(-1)[0]) for q, d in zip(pairs_q, pairs_d)])
    assert np.allclose(scores, one_by_one, atol=atol), (
        f"scores depend on batching (max difference {np.abs(scores - one_by_one).max():.2e}): "
        "pairs scored alone differ from the same pairs scored together"
    )
    assert ranker.fingerprint() == fingerprint, "fingerprint() changed between calls"
