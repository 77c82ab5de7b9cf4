"""BM25 (Lucene variant, via bm25s): the lexical reference ranker and the first stage.

The Wu et al. robustness paper compares every neural ranker against BM25, so it is always
present. bm25s retrieves the candidate lists; pair scoring (needed because attacks rewrite
documents that are not in the index) applies the same formula with the same corpus
statistics, so a pair score equals the retrieval score of the unchanged document.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import Counter
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from robustness.errors import RankerError



def _bm25s():
    """Import bm25s, keeping its index-building debug lines out of our output."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def _stemmer():
    import Stemmer  # PyStemmer: the Snowball English stemmer, as in BEIR's Elasticsearch BM25

    return Stemmer.Stemmer("english")


@dataclass
class _CorpusIndex:
    """Statistics and bm25s index of one corpus."""

    key: str
    doc_ids: list[str]
    df: dict[str, int]
    avgdl: float
    retriever: object

    @classmethod
    def build(cls, key: str, doc_ids: list[str], tokens: list[list[str]], k1: float, b: float) -> "_CorpusIndex":
        bm25s = _bm25s()
        df: Counter[str] = Counter()
        for doc_tokens in tokens:
            df.update(set(doc_tokens))
        retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
        retriever.index(tokens, show_progress=False)
        avgdl = sum(len(t) for t in tokens) / max(len(tokens), 1)
        return cls(key, doc_ids, dict(df), avgdl, retriever)

    def idf(self, term: str) -> float:
        """Lucene idf: log(1 + (N - df + 0.5) / (df + 0.5))."""
        df = self.df[term]
        return math.log(1.0 + (len(self.doc_ids) - df + 0.5) / (df + 0.5))


class BM25Ranker:
    """BM25 with corpus statistics from `prepare(corpus)` (k1=1.5, b=0.75, Lucene idf)."""

    name = "bm25"
    max_length = 100_000  # lexical: no token limit for the engine's batch packing

    def __init__(self, k1: float = 1.5, b: float = 0.75, name: str = "bm25"):
        self.name = name
        self.k1 = k1
        self.b = b
        self._stem = _stemmer()
        self._indexes: dict[str, _CorpusIndex] = {}
        self._active: _CorpusIndex | None = None
        self._keys: dict[int, tuple[Mapping[str, str], int, str]] = {}  # id(corpus) -> (corpus, size, key)

    # -- statistics ---------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str]) -> list[list[str]]:
        """Lower-case, English stopwords removed, Snowball-stemmed (bm25s' tokenizer)."""
        return _bm25s().tokenize(
            list(texts), stopwords="en", stemmer=self._stem, return_ids=False, show_progress=False
        )

    def prepare(self, corpus: Mapping[str, str]) -> None:
        """Make `corpus` (ids -> text) the active one for retrieval and pair scoring.

        Indexes are kept per corpus, so switching between collections (in-domain and OOD
        tasks) never re-indexes, and the fingerprint always names the active corpus.
        """
        key = self._corpus_key(corpus)
        if key not in self._indexes:
            self._indexes[key] = _CorpusIndex.build(key, list(corpus), self.tokenize(list(corpus.values())), self.k1, self.b)
        self._active = self._indexes[key]

    def _corpus_key(self, corpus: Mapping[str, str]) -> str:
        """Content hash of a corpus, computed once per corpus object: tasks switch corpora often,
        and hashing SciFact's 5k abstracts on every switch costs more than the switch. The
        corpus object is kept referenced so its id cannot be reused by another one."""
        known = self._keys.get(id(corpus))
        if known is not None and known[0] is corpus and known[1] == len(corpus):
            return known[2]
        digest = hashlib.sha256()
        for n, (doc_id, text) in enumerate(corpus.items()):
            digest.update(f"{chr(0) if n else ''}{doc_id}\x01{text}".encode())
        key = digest.hexdigest()[:16]
        self._keys[id(corpus)] = (corpus, len(corpus), key)
        return key

    def _require_prepared(self) -> _CorpusIndex:
        if self._active is None:
            raise RankerError(f"ranker {self.name!r} needs prepare(corpus) before scoring")
        return self._active

    # -- Ranker interface ---------------------------------------------------------------
    def score(self, queries: Sequence[str], docs: Sequence[str]) -> np.ndarray:
        """BM25 of each pair; query terms absent from the corpus are ignored, as in retrieval."""
        index = self._require_prepared()
        query_tokens = self.tokenize(queries)
        doc_tokens = self.tokenize(docs)
        out = np.zeros(len(docs), dtype=np.float64)
        for i, (q_terms, d_terms) in enumerate(zip(query_tokens, doc_tokens)):
            tf = Counter(d_terms)
            norm = self.k1 * (1 - self.b + self.b * len(d_terms) / index.avgdl)
            out[i] = sum(index.idf(t) * tf[t] / (tf[t] + norm) for t in q_terms if t in index.df and tf[t])
        return out

    def fingerprint(self) -> str:
        return f"bm25-k1={self.k1}-b={self.b}-corpus={self._require_prepared().key}"

    # -- first stage --------------------------------------------------------------------
    def retrieve(self, queries: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        """Top-k (doc id, score) per query over the prepared corpus."""
        index = self._require_prepared()
        k = min(k, len(index.doc_ids))
        tokens = self.tokenize(queries)
        # bm25s drops query tokens outside its vocabulary; an all-OOV query gets an empty list.
        results: list[list[tuple[str, float]]] = []
        for q_tokens in tokens:
            known = [t for t in q_tokens if t in index.df]
            if not known:
                results.append([])
                continue
            idx, scores = index.retriever.retrieve([known], k=k, show_progress=False)
            results.append([(index.doc_ids[j], float(s)) for j, s in zip(idx[0], scores[0]) if s > 0])
        return results
