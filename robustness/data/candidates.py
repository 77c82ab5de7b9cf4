"""First-stage candidates: BM25 top-k lists that neural rankers re-rank (the papers' setting)."""

from __future__ import annotations

from robustness.data.collection import Collection
from robustness.rankers.bm25 import BM25Ranker

Candidates = dict[str, list[str]]  # query id -> document ids, best first


def bm25_candidates(
    collection: Collection, queries: dict[str, str], k: int = 100, bm25: BM25Ranker | None = None
) -> Candidates:
    """Top-k BM25 document ids per query over the whole corpus."""
    bm25 = bm25 or BM25Ranker()
    bm25.prepare(collection.docs)
    ids = list(queries)
    hits = bm25.retrieve([queries[q] for q in ids], k)
    return {qid: [did for did, _ in ranked] for qid, ranked in zip(ids, hits)}
