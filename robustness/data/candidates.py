"""First-stage candidates: BM25 top-k lists that neural rankers re-rank (the papers' setting)."""

from __future__ import annotations

import functools

from robustness.data.collection import Collection
from robustness.rankers.bm25 import BM25Ranker

Candidates = dict[str, list[str]]  # query id -> document ids, best first


@functools.cache
def _first_stage() -> BM25Ranker:
    return BM25Ranker()


def bm25_candidates(
    collection: Collection, queries: dict[str, str], k: int = 100, bm25: BM25Ranker | None = None
) -> Candidates:
    """Top-k BM25 document ids per query over the whole corpus.

    Without `bm25`, one process-wide first-stage ranker is used; it keeps one index per corpus,
    so the runner, the query-variation and domain tasks and an attack's surrogate index each
    collection once (a few seconds for SciFact on a CPU). It is never a benchmarked ranker,
    whose active corpus must not be switched under it.
    """
    bm25 = bm25 or _first_stage()
    bm25.prepare(collection.docs)
    ids = list(queries)
    hits = bm25.retrieve([queries[q] for q in ids], k)
    return {qid: [did for did, _ in ranked] for qid, ranked in zip(ids, hits)}
