"""ScoringEngine: the single path from the suite to a ranker's `score`.

Tasks, attacks and certification hand it (query, document) text pairs; it
1. de-duplicates the pairs of a call,
2. answers what it has seen from an in-memory LRU and an optional on-disk store, keyed by
   (ranker fingerprint, hash(query text), hash(document text)) — text, never document id,
   because attacks change the text under the same id,
3. sorts the rest by estimated length and packs batches by a token budget (little padding),
4. validates every batch (shape, finiteness) and writes it to the store at once, so a killed
   run resumes without re-scoring what was done.
Device placement and autocast live in the neural rankers (see robustness.device).
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from robustness.cache import LRU
from robustness.errors import RankerError
from robustness.rankers.base import Ranker, text_hash, validate_scores

logger = logging.getLogger(__name__)

RunDict = dict[str, dict[str, float]]
"""A ranx-style run: query id -> document id -> score."""


class ScoreStore:
    """Scores on disk (SQLite, one row per pair key): a killed run resumes from it.

    SQLite holds plain floats under hex keys — nothing is unpickled when a store is reopened.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS scores (k TEXT PRIMARY KEY, s REAL) WITHOUT ROWID")
        self._db.commit()

    def get_many(self, keys: Sequence[str]) -> dict[str, float]:
        found: dict[str, float] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(self._db.execute(f"SELECT k, s FROM scores WHERE k IN ({marks})", chunk))
        return found

    def put_many(self, items: Iterable[tuple[str, float]]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?)", items)
        self._db.commit()

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]

    def close(self) -> None:
        self._db.close()


@dataclass
class EngineStats:
    """What the engine did: how many pairs were asked for, and how many reached the model."""

    pairs_requested: int = 0
    pairs_unique: int = 0
    memory_hits: int = 0
    store_hits: int = 0
    pairs_scored: int = 0
    batches: int = 0


class ScoringEngine:
    """Scores pairs for one ranker with de-duplication, caching and length-packed batches.

    A ranker without `fingerprint()` is still scored, cached in memory for this engine only:
    without a fingerprint its scores cannot be told apart from another ranker's on disk, so
    it gets no on-disk store (no resume) and one warning line says so.
    """

    def __init__(
        self,
        ranker: Ranker,
        store: ScoreStore | None = None,
        token_budget: int = 16_384,
        max_batch: int = 128,
        memory_cache_size: int = 2_000_000,
        progress: bool = True,
    ):
        self.ranker = ranker
        if not callable(getattr(ranker, "fingerprint", None)):
            if store is not None:
                logger.warning("ranker %r has no fingerprint(): its scores are cached in memory for this run only (no on-disk cache, no resume)", ranker.name)
            store = None
        self.store = store
        self.token_budget = token_budget
        self.max_batch = max_batch
        self.progress = progress
        self.stats = EngineStats()
        self._memory: LRU[str, float] = LRU(memory_cache_size)
        self._max_length = int(getattr(ranker, "max_length", 512))

    def _fingerprint(self) -> str:
        """The ranker's fingerprint, checked; an engine-private key for a ranker without one."""
        method = getattr(self.ranker, "fingerprint", None)
        if not callable(method):
            return f"unfingerprinted-{id(self)}"
        value = method()
        if not isinstance(value, str) or not value:
            raise RankerError(f"ranker {self.ranker.name!r}: fingerprint() returned {value!r}; it must return a non-empty string identifying weights and configuration")
        return value

    def _key(self, fingerprint: str, query_hash: str, doc_text: str) -> str:
        raw = f"{fingerprint}\x00{query_hash}\x00{text_hash(doc_text)}"
        return hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()

    def _length(self, query: str, doc: str) -> int:
        """Token estimate (~4 characters a token) capped at what the model reads."""
        return min(self._max_length, (len(query) + len(doc)) // 4 + 3)

    def score(self, queries: Sequence[str], docs: Sequence[str], desc: str | None = None) -> np.ndarray:
        """Scores of pairs (queries[i], docs[i]) as float64, each distinct pair scored at most once."""
        if len(queries) != len(docs):
            raise ValueError(f"{len(queries)} queries but {len(docs)} documents: pairs must align")
        fingerprint = self._fingerprint()  # per call: a corpus-dependent ranker may be re-prepared
        query_hashes = {q: text_hash(q) for q in set(queries)}
        keys = [self._key(fingerprint, query_hashes[q], d) for q, d in zip(queries, docs)]
        first: dict[str, int] = {}
        for i, key in enumerate(keys):
            first.setdefault(key, i)
        self.stats.pairs_requested += len(keys)
        self.stats.pairs_unique += len(first)

        known: dict[str, float] = {}
        for key in first:
            value = self._memory.get(key)
            if value is not None:
                known[key] = value
        self.stats.memory_hits += len(known)
        if self.store is not None:
            from_store = self.store.get_many([k for k in first if k not in known])
            self.stats.store_hits += len(from_store)
            self._remember(from_store.items())
            known.update(from_store)

        missing = [first[k] for k in first if k not in known]
        if missing:
            known.update(self._score_missing(missing, queries, docs, keys, desc))
        return np.array([known[k] for k in keys], dtype=np.float64)

    def _batches(self, order: list[int], lengths: dict[int, int]) -> list[list[int]]:
        """Pack length-sorted pairs so that (pairs x longest pair) stays within the token budget."""
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:
            if current and ((len(current) + 1) * lengths[i] > self.token_budget or len(current) >= self.max_batch):
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches

    def _score_missing(
        self, missing: list[int], queries: Sequence[str], docs: Sequence[str], keys: list[str], desc: str | None
    ) -> dict[str, float]:
        lengths = {i: self._length(queries[i], docs[i]) for i in missing}
        order = sorted(missing, key=lengths.__getitem__)
        bar = None
        if self.progress and len(missing) >= 256:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(missing), desc=desc or f"scoring {self.ranker.name}", unit="pair", leave=False)
        scored: dict[str, float] = {}
        try:
            for batch in self._batches(order, lengths):
                raw = self.ranker.score([queries[i] for i in batch], [docs[i] for i in batch])
                values = validate_scores(self.ranker.name, raw, len(batch))
                items = [(keys[i], float(v)) for i, v in zip(batch, values)]
                if self.store is not None:
                    self.store.put_many(items)
                self._remember(items)
                scored.update(items)
                self.stats.pairs_scored += len(batch)
                self.stats.batches += 1
                if bar is not None:
                    bar.update(len(batch))
        finally:
            if bar is not None:
                bar.close()
        return scored

    def _remember(self, items: Iterable[tuple[str, float]]) -> None:
        for key, value in items:
            self._memory.put(key, value)

    def rerank(
        self, queries: Mapping[str, str], candidates: Mapping[str, Sequence[str]], docs: Mapping[str, str], desc: str | None = None
    ) -> RunDict:
        """Score every (query, candidate) pair in one call; returns a run over `queries`."""
        pairs = [(qid, did) for qid in queries for did in candidates.get(qid, [])]
        scores = self.score([queries[q] for q, _ in pairs], [docs[d] for _, d in pairs], desc=desc)
        run: RunDict = {qid: {} for qid in queries}
        for (qid, did), value in zip(pairs, scores):
            run[qid][did] = float(value)
        return run
