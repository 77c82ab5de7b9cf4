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

Bit-exactness. Packing is greedy over the length-sorted pairs and each batch is committed whole,
so the batches stored before a kill are a prefix and the rest of a resumed call is packed exactly
as the cold run packed it: a resumed run serves the cold run's scores bit for bit for any ranker
whose score depends only on its batch. What the engine cannot give is independence from batch
companions when the store was filled by a *different* history (another spec, a subset first):
on CPU a neural ranker's float32 scores move by ~1e-8 with the padded width and, in the
cross-encoder's head, with the row's place in 4-row GEMM tiles. Grouping pairs by exact token
length in the engine was measured: it does not remove the head effect and runs ~7x slower on CPU;
one pair per call is exact but ~3x slower. The cure is in the rankers (pad each text/pair to a
width bucket of its own, tile the head), measured exact with this engine unchanged; see the
xfail tests at the end of tests/test_engine.py.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence, TypeVar

import numpy as np

from robustness.cache import LRU, WAYS_OUT, CacheError, describe_os_error, ensure_directory
from robustness.errors import RankerError
from robustness.rankers.base import Ranker, text_hash, validate_scores

logger = logging.getLogger(__name__)

T = TypeVar("T")
RunDict = dict[str, dict[str, float]]
"""A ranx-style run: query id -> document id -> score."""


# SQLite result codes (the low byte of `sqlite3.Error.sqlite_errorcode`) the store tells apart.
_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 3, 5, 6, 8
_SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 11, 13, 14, 26
_COMPANIONS = ("-wal", "-shm", "-journal")


class _Corrupt(Exception):
    """The store file failed its integrity check (raised and caught inside ScoreStore)."""


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _sqlite_code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def _is_corrupt(exc: BaseException) -> bool:
    if isinstance(exc, _Corrupt):
        return True
    code = _sqlite_code(exc)
    if code is not None:
        return code in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


class ScoreStore:
    """Scores on disk (SQLite, one row per pair key): a killed run resumes from it.

    SQLite holds plain floats under hex keys — nothing is unpickled when a store is reopened.

    Faults never surface as raw sqlite3 tracebacks:
    - a corrupt file (garbage, truncated, failing SQLite's `quick_check` on open, or reported
      corrupt by SQLite later, mid-run, on a read or a write) is never trusted: it is moved aside
      with its -wal/-shm companions to `<name>.corrupt-<timestamp>`, one warning line names both
      paths, and a fresh store takes its place. Mid-run this is safe because the store is only a
      cache: every score this run has served is also in the engine's memory, and a pair missing
      from the fresh store is simply scored again. A file that cannot be moved is a CacheError.
    - anything else (read-only file or directory, a path that is a directory or lies under a
      file, permissions, disk full, locked by another run for `timeout` seconds, I/O errors) is
      one `CacheError` line naming the file and the ways out: move it aside,
      `--set cache=false`, or `ROBUSTNESS_CACHE_DIR`.
    """

    def __init__(self, path: Path | str, timeout: float = 30.0):
        self.path = Path(path)
        self.timeout = timeout
        self.moved_to: list[Path] = []  # where corrupt files went, in order (for callers and tests)
        ensure_directory(self.path.parent, f"score store {self.path}")
        self._db = self._open()

    # -- opening -----------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=self.timeout)

    def _open(self) -> sqlite3.Connection:
        """A checked connection; a corrupt file is moved aside once and a fresh store made."""
        for attempt in (1, 2):
            if self.path.is_dir():
                raise CacheError(f"score store {self.path} is a directory, not a file: move it aside, {WAYS_OUT}")
            db = None
            try:
                db = self._connect()
                self._prepare(db)
                return db
            except (sqlite3.Error, _Corrupt) as exc:
                if attempt == 2 or not _is_corrupt(exc):
                    self._close_quietly(db)
                    raise self._error(exc) from None
                # Moved while still open: SQLite deletes the -wal/-shm files when the last
                # connection closes, and they belong with the file that was moved.
                try:
                    self._move_aside(exc)
                finally:
                    self._close_quietly(db)
        raise AssertionError("unreachable")

    @staticmethod
    def _prepare(db: sqlite3.Connection) -> None:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS scores (k TEXT PRIMARY KEY, s REAL) WITHOUT ROWID")
        db.commit()
        # Every page, once per open (~0.5 s per million scores): a damaged store is caught here,
        # before any of its scores are served, not halfway through a run.
        problems = [row[0] for row in db.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise _Corrupt(f"integrity check: {problems[0]}")
        # Fail now, not after the first batch has been scored, if the store cannot be written.
        db.execute("INSERT OR REPLACE INTO scores VALUES ('', 0.0)")
        db.rollback()

    # -- faults --------------------------------------------------------------------------------
    def _error(self, exc: BaseException) -> CacheError:
        """The one CacheError line for a fault that moving the file aside does not cure."""
        if isinstance(exc, CacheError):
            return exc
        code, detail = _sqlite_code(exc), _one_line(exc)
        ways_out = f"move it aside, {WAYS_OUT}" if self.path.exists() else WAYS_OUT
        if code == _SQLITE_READONLY or (code is None and "readonly" in detail):
            problem = "is not writable: a read-only file or directory"
        elif code == _SQLITE_CANTOPEN:
            problem = "cannot be opened: no permission, or its directory is not writable"
        elif code == _SQLITE_PERM:
            problem = "cannot be used: permission denied"
        elif code == _SQLITE_FULL:
            problem, ways_out = "cannot be written: the disk is full", f"free some space, {WAYS_OUT}"
        elif code in (_SQLITE_BUSY, _SQLITE_LOCKED):
            problem = f"is locked by another process for over {self.timeout:g} s"
            ways_out = f"wait for that run to finish, {WAYS_OUT}"
        else:
            problem = "cannot be used"
        return CacheError(f"score store {self.path} {problem} (SQLite: {detail}); {ways_out}")

    def _move_aside(self, exc: BaseException) -> None:
        """Rename the corrupt file and its companions to `<name>.corrupt-<timestamp>[-n]`."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while any(Path(f"{target}{s}").exists() for s in ("", *_COMPANIONS)):
            n += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        try:
            for suffix in ("", *_COMPANIONS):
                source = Path(f"{self.path}{suffix}")
                if source.exists():
                    os.replace(source, Path(f"{target}{suffix}"))
        except OSError as move_error:
            raise CacheError(
                f"score store {self.path} is corrupt ({_one_line(exc)}) and cannot be moved aside "
                f"({describe_os_error(move_error)}): move it aside yourself, {WAYS_OUT}"
            ) from None
        self.moved_to.append(target)
        logger.warning(
            "score store %s is corrupt (%s): moved it to %s and started a fresh store; its scores will be computed again",
            self.path, _one_line(exc), target,
        )

    def _guarded(self, operation: Callable[[], T]) -> T:
        """Run `operation`; on corruption move the store aside, reopen fresh and run it again."""
        try:
            return operation()
        except sqlite3.Error as exc:
            self._quietly(self._db.rollback)
            if not _is_corrupt(exc):
                raise self._error(exc) from None
            try:
                self._move_aside(exc)  # before closing, as in _open
            finally:
                self._close_quietly(self._db)
            self._db = self._open()
        try:
            return operation()
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    @staticmethod
    def _quietly(action: Callable[[], object]) -> None:
        try:
            action()
        except sqlite3.Error:
            pass

    @classmethod
    def _close_quietly(cls, db: sqlite3.Connection | None) -> None:
        if db is not None:
            cls._quietly(db.close)

    # -- the interface -------------------------------------------------------------------------
    def get_many(self, keys: Sequence[str]) -> dict[str, float]:
        def read() -> dict[str, float]:
            found: dict[str, float] = {}
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(self._db.execute(f"SELECT k, s FROM scores WHERE k IN ({marks})", chunk))
            return found

        return self._guarded(read)

    def put_many(self, items: Iterable[tuple[str, float]]) -> None:
        rows = list(items)

        def write() -> None:
            self._db.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?)", rows)
            self._db.commit()

        self._guarded(write)

    def __len__(self) -> int:
        return self._guarded(lambda: self._db.execute("SELECT COUNT(*) FROM scores").fetchone()[0])

    def close(self) -> None:
        self._close_quietly(self._db)


class _Progress:
    """A progress bar shown by elapsed time, not by pair count.

    Once a call has been scoring for `delay` seconds the bar opens (a slow ranker on 10 pairs
    gets one too) and its clock is refreshed every second even while one long batch runs. Both
    are done by one shared daemon thread (`_Ticker`), so a quick call costs a set insertion, not
    a thread, and never creates a tqdm object or notebook widget. Disabled, nothing is printed.
    """

    def __init__(self, enabled: bool, total: int, desc: str, delay: float):
        self._enabled = enabled
        if not enabled:
            return
        self._total, self._desc, self._delay = total, desc, delay
        self._started = self._refreshed = time.monotonic()
        self._done = 0
        self._bar = None
        self._closed = False
        self._lock = threading.Lock()  # the ticker thread and the scoring thread both touch the bar
        _Ticker.add(self)

    def tick(self, now: float) -> None:
        """Called by the ticker thread about four times a second."""
        with self._lock:
            if self._closed or now - self._started < self._delay:
                return
            if self._bar is None:
                from tqdm.auto import tqdm

                self._bar = tqdm(total=self._total, initial=self._done, desc=self._desc, unit="pair", leave=False)
                self._refreshed = now
            elif now - self._refreshed >= 1.0:
                self._bar.refresh()
                self._refreshed = now

    def update(self, n: int) -> None:
        if self._enabled:
            with self._lock:
                self._done += n
                if self._bar is not None:
                    self._bar.update(n)

    def close(self) -> None:
        if self._enabled:
            _Ticker.remove(self)
            with self._lock:
                self._closed = True
                if self._bar is not None:
                    self._bar.close()


class _Ticker:
    """One daemon thread that ticks every open progress bar; it sleeps while there is none."""

    _bars: set[_Progress] = set()
    _condition = threading.Condition()
    _thread: threading.Thread | None = None

    @classmethod
    def add(cls, bar: _Progress) -> None:
        with cls._condition:
            cls._bars.add(bar)
            if cls._thread is None or not cls._thread.is_alive():
                cls._thread = threading.Thread(target=cls._run, name="scoring-progress", daemon=True)
                cls._thread.start()
            cls._condition.notify()

    @classmethod
    def remove(cls, bar: _Progress) -> None:
        with cls._condition:
            cls._bars.discard(bar)

    @classmethod
    def _run(cls) -> None:
        while True:
            with cls._condition:
                while not cls._bars:
                    cls._condition.wait()
            time.sleep(0.25)
            with cls._condition:
                bars = list(cls._bars)
            now = time.monotonic()
            for bar in bars:
                bar.tick(now)


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

    With `progress`, a bar appears once a call has been scoring for `progress_delay` seconds,
    however few its pairs; quicker calls print nothing.

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
        progress_delay: float = 2.0,
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
        self.progress_delay = progress_delay
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
        bar = _Progress(self.progress, len(missing), desc or f"scoring {self.ranker.name}", self.progress_delay)
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
                bar.update(len(batch))
        finally:
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
