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
import sqlite3
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from robustness.rankers.base import Ranker, text_hash, validate_scores


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
    """Scores pairs for one ranker with de-duplication, caching and length-packed batches."""

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
        self.store = store
        self.token_budget = token_budget
        self.max_batch = max_batch
        self.progress = progress
        self.stats = EngineStats()
        self._memory: OrderedDict[str, float] = OrderedDict()
        self._memory_size = memory_cache_size
        self._max_length = int(getattr(ranker, "max_length", 512))

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
        fingerprint = self.ranker.fingerprint()  # per call: a corpus-dependent ranker may be re-prepared
        query_hashes = {q: text_hash(q) for q in set(queries)}
        keys = [self._key(fingerprint, query_hashes[q], d) for q, d in zip(queries, docs)]
        first: dict[str, int] = {}
        for i, key in enumerate(keys):
            first.setdefault(key, i)
        self.stats.pairs_requested += len(keys)
        self.stats.pairs_unique += len(first)

        known: dict[str, float] = {}
        for key in first:
            if key in self._memory:
                known[key] = self._memory[key]
                self._memory.move_to_end(key)
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
            self._memory[key] = value
            self._memory.move_to_end(key)
        while len(self._memory) > self._memory_size:
            self._memory.popitem(last=False)
