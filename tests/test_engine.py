"""ScoringEngine: de-duplication, text-keyed caching, the resumable on-disk store, batch packing
and validation of what rankers return."""

from __future__ import annotations

import math
import os
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from robustness.cache import CacheError, cache_dir
from robustness.engine import ScoreStore, ScoringEngine
from robustness.errors import RankerError, RobustnessError
from robustness.rankers.callable import CallableRanker


def overlap(queries, docs):
    """Word overlap between query and document (a deterministic, per-pair score)."""
    return [len(set(q.lower().split()) & set(d.lower().split())) + len(d) / 1e4 for q, d in zip(queries, docs)]


class Killed(Exception):
    """Stands in for the process dying in the middle of a run."""


class Recorder:
    """A score function that records every batch it receives; optionally fails after k batches."""

    def __init__(self, fail_after: int | None = None):
        self.batches: list[list[tuple[str, str]]] = []
        self.fail_after = fail_after

    def __call__(self, queries, docs):
        if self.fail_after is not None and len(self.batches) >= self.fail_after:
            raise Killed(f"killed after {len(self.batches)} batches")
        self.batches.append(list(zip(queries, docs)))
        return overlap(queries, docs)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return [p for b in self.batches for p in b]


def recording_ranker(recorder: Recorder, name: str = "recorder", version: str = "v1") -> CallableRanker:
    return CallableRanker(recorder, name=name, version=version)


# -- de-duplication and text keys ------------------------------------------------------------
def test_duplicate_pairs_are_scored_once(cranfield_slice) -> None:
    q1, q2 = list(cranfield_slice.queries.values())[:2]
    d1, d2, d3 = list(cranfield_slice.docs.values())[:3]
    queries = [q1, q1, q2, q1, q2, q1]
    docs = [d1, d2, d1, d1, d1, d3]
    recorder = Recorder()
    engine = ScoringEngine(recording_ranker(recorder), progress=False)

    scores = engine.score(queries, docs)

    unique = set(zip(queries, docs))
    assert sorted(recorder.pairs) == sorted(unique)  # each distinct pair exactly once
    np.testing.assert_allclose(scores, overlap(queries, docs))  # and results map back in order
    assert engine.stats.pairs_requested == 6
    assert engine.stats.pairs_unique == 4
    assert engine.stats.pairs_scored == 4

    # A second call with the same pairs reaches the ranker zero times (memory cache).
    again = engine.score(list(reversed(queries)), list(reversed(docs)))
    assert len(recorder.pairs) == 4
    np.testing.assert_allclose(again, scores[::-1])
    assert engine.stats.memory_hits == 4


def test_changed_text_under_the_same_id_is_rescored(cranfield_slice) -> None:
    query = next(iter(cranfield_slice.queries.values()))
    doc_id, text = next(iter(cranfield_slice.docs.items()))
    attacked = query + " " + text  # what keyword stuffing would do to document `doc_id`
    recorder = Recorder()
    engine = ScoringEngine(recording_ranker(recorder), progress=False)

    before = engine.score([query], [text])[0]
    after = engine.score([query], [attacked])[0]

    assert recorder.pairs == [(query, text), (query, attacked)]
    assert after > before  # the stuffed copy shares more words with the query
    assert engine.score([query], [text])[0] == before  # the original is still cached
    assert len(recorder.pairs) == 2


def test_fingerprint_separates_cache_entries(tmp_path) -> None:
    store = ScoreStore(tmp_path / "scores.sqlite")
    one = ScoringEngine(CallableRanker(lambda q, d: [1.0] * len(q), name="r", version="1"), store=store, progress=False)
    two = ScoringEngine(CallableRanker(lambda q, d: [2.0] * len(q), name="r", version="2"), store=store, progress=False)
    assert one.score(["q"], ["d"])[0] == 1.0
    assert two.score(["q"], ["d"])[0] == 2.0  # a different fingerprint never reads the other's scores
    assert len(store) == 2


# -- the resumable store -----------------------------------------------------------------------
def test_killed_run_resumes_from_the_store(tmp_path, cranfield_slice) -> None:
    query_list = list(cranfield_slice.queries.values())[:2]
    doc_list = list(cranfield_slice.docs.values())[:10]
    queries = [q for q in query_list for _ in doc_list]
    docs = [d for _ in query_list for d in doc_list]  # 20 distinct pairs
    path = tmp_path / "store" / "scores.sqlite"

    crashing = Recorder(fail_after=2)
    engine = ScoringEngine(recording_ranker(crashing), store=ScoreStore(path), max_batch=4, token_budget=10**9, progress=False)
    with pytest.raises(Killed):
        engine.score(queries, docs)
    assert len(crashing.batches) == 2
    done = set(crashing.pairs)
    assert len(done) == 8
    engine.store.close()

    # A new process: new engine, new store object on the same file, same ranker fingerprint.
    resumed = Recorder()
    store = ScoreStore(path)
    assert len(store) == 8
    fresh = ScoringEngine(recording_ranker(resumed), store=store, max_batch=4, token_budget=10**9, progress=False)
    scores = fresh.score(queries, docs)

    assert len(resumed.pairs) == 12
    assert set(resumed.pairs) == set(zip(queries, docs)) - done
    assert fresh.stats.store_hits == 8
    assert fresh.stats.pairs_scored == 12
    np.testing.assert_allclose(scores, overlap(queries, docs))
    assert len(store) == 20

    # A third run finds everything on disk and never calls the ranker.
    idle = Recorder(fail_after=0)
    third = ScoringEngine(recording_ranker(idle), store=ScoreStore(path), progress=False)
    np.testing.assert_allclose(third.score(queries, docs), scores)


# -- batch packing -------------------------------------------------------------------------
def _estimate(query: str, doc: str, max_length: int) -> int:
    """The engine's documented length estimate: ~4 characters a token, capped at max_length."""
    return min(max_length, (len(query) + len(doc)) // 4 + 3)


@pytest.mark.parametrize("token_budget, max_batch", [(600, 64), (2_000, 5), (100_000, 7), (50, 64)])
def test_token_budget_packing_respects_budget_and_max_batch(cranfield, token_budget, max_batch) -> None:
    queries_all, _ = cranfield.split("test")
    query_list = [queries_all[q] for q in sorted(queries_all)[:3]]
    doc_list = [cranfield.docs[d] for d in sorted(cranfield.docs)[:15]]
    queries = [q for q in query_list for _ in doc_list]
    docs = [d for _ in query_list for d in doc_list]
    recorder = Recorder()
    ranker = recording_ranker(recorder)
    ranker.max_length = 256
    engine = ScoringEngine(ranker, token_budget=token_budget, max_batch=max_batch, progress=False)
    engine.score(queries, docs)

    assert sorted(recorder.pairs) == sorted(zip(queries, docs))
    for batch in recorder.batches:
        assert len(batch) <= max_batch
        longest = max(_estimate(q, d, 256) for q, d in batch)
        if len(batch) > 1:  # a single over-long pair still has to go through alone
            assert len(batch) * longest <= token_budget
    assert engine.stats.batches == len(recorder.batches)


def test_equal_length_pairs_fill_each_batch_to_the_budget() -> None:
    # 40 pairs of identical estimated length 53 tokens (200 characters): 53 * 7 = 371 <= 400 < 424.
    docs = [f"{i:03d}" + "x" * 196 for i in range(40)]
    queries = ["q" * 3] * 40
    length = _estimate(queries[0], docs[0], 512)
    assert length == 53
    recorder = Recorder()
    engine = ScoringEngine(recording_ranker(recorder), token_budget=400, max_batch=128, progress=False)
    engine.score(queries, docs)
    assert [len(b) for b in recorder.batches] == [7, 7, 7, 7, 7, 5]


def test_scores_come_back_aligned_with_their_pairs_whatever_the_packing(cranfield_slice) -> None:
    """The engine sorts pairs by length and cuts them into batches; whatever the packing, each
    score must return to its own pair. (Whether a model's scores depend on its batch is
    `test_neural_scores_do_not_depend_on_batch_packing`'s question.)"""
    query_list = list(cranfield_slice.queries.values())
    doc_list = list(cranfield_slice.docs.values())[:12]
    queries = [q for q in query_list for _ in doc_list]
    docs = [d for _ in query_list for d in doc_list]
    results, batch_counts = [], []
    for budget, max_batch in [(10**9, 1000), (700, 128), (1, 128)]:
        recorder = Recorder()
        engine = ScoringEngine(recording_ranker(recorder), token_budget=budget, max_batch=max_batch, progress=False)
        results.append(engine.score(queries, docs))
        batch_counts.append(len(recorder.batches))
    assert batch_counts[0] == 1 and batch_counts[2] == len(queries)  # the packings really differ
    assert batch_counts[0] < batch_counts[1] < batch_counts[2]
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])
    np.testing.assert_allclose(results[0], overlap(queries, docs))


def test_neural_scores_do_not_depend_on_batch_packing(minilm_cross_encoder, cranfield_slice) -> None:
    """Padding differs between one big batch and single pairs; scores must agree to float noise."""
    query = next(iter(cranfield_slice.queries.values()))
    docs = [text[: 60 + 40 * i] for i, text in enumerate(list(cranfield_slice.docs.values())[:8])]
    big = ScoringEngine(minilm_cross_encoder, token_budget=10**9, progress=False).score([query] * 8, docs)
    single = ScoringEngine(minilm_cross_encoder, token_budget=1, progress=False)
    one_by_one = single.score([query] * 8, docs)
    assert single.stats.batches == 8
    np.testing.assert_allclose(one_by_one, big, rtol=0, atol=1e-4)
    assert np.ptp(big) > 1e-4  # the documents really get different scores


# -- validation --------------------------------------------------------------------------------
class ReturnsStrings:
    name = "stringy"

    def score(self, queries, docs):
        return ["high"] * len(queries)

    def fingerprint(self):
        return "stringy-1"


@pytest.mark.parametrize(
    "name, fn, fragment",
    [
        ("nanny", lambda q, d: [math.nan] + [1.0] * (len(q) - 1), "non-finite"),
        ("infinite", lambda q, d: [math.inf] * len(q), "non-finite"),
        ("short", lambda q, d: [1.0] * (len(q) - 1), "shape"),
        ("matrix", lambda q, d: np.ones((len(q), 2)), "shape"),
        ("scalar", lambda q, d: 1.0, "shape"),
    ],
)
def test_bad_scores_raise_a_one_line_ranker_error(name, fn, fragment) -> None:
    engine = ScoringEngine(CallableRanker(fn, name=name, version="1"), progress=False)
    with pytest.raises(RankerError) as info:
        engine.score(["q1", "q2", "q3"], ["a", "b", "c"])
    message = str(info.value)
    assert "\n" not in message
    assert repr(name) in message
    assert fragment in message


def test_non_numeric_scores_from_a_ranker_class_raise_ranker_error() -> None:
    engine = ScoringEngine(ReturnsStrings(), progress=False)
    with pytest.raises(RankerError, match=r"ranker 'stringy' returned non-numeric scores") as info:
        engine.score(["q1", "q2"], ["a", "b"])
    assert "\n" not in str(info.value)


def test_non_numeric_scores_from_a_callable_raise_ranker_error() -> None:
    engine = ScoringEngine(CallableRanker(lambda q, d: ["high"] * len(q), name="words", version="1"), progress=False)
    with pytest.raises(RankerError, match="'words'"):
        engine.score(["q1", "q2"], ["a", "b"])


def test_column_vector_scores_are_accepted() -> None:
    engine = ScoringEngine(CallableRanker(lambda q, d: np.arange(len(q), dtype=float)[:, None], name="col", version="1"), progress=False)
    np.testing.assert_array_equal(engine.score(["a", "b", "c"], ["x", "y", "z"]), [0.0, 1.0, 2.0])


def test_misaligned_pairs_are_rejected() -> None:
    engine = ScoringEngine(CallableRanker(overlap, name="o", version="1"), progress=False)
    with pytest.raises(ValueError, match="2 queries but 1 documents"):
        engine.score(["a", "b"], ["x"])


def test_failed_batch_is_not_cached(tmp_path) -> None:
    calls = {"n": 0}

    def flaky(queries, docs):
        calls["n"] += 1
        return [math.nan] * len(queries) if calls["n"] == 1 else [0.5] * len(queries)

    store = ScoreStore(tmp_path / "s.sqlite")
    engine = ScoringEngine(CallableRanker(flaky, name="flaky", version="1"), store=store, progress=False)
    with pytest.raises(RankerError):
        engine.score(["q"], ["d"])
    assert len(store) == 0
    assert engine.score(["q"], ["d"])[0] == 0.5
    assert calls["n"] == 2


# -- store faults: one line or move aside, never a raw sqlite3 traceback -------------------------
WAYS_OUT = ("--set cache=false", "ROBUSTNESS_CACHE_DIR")


def _filled_store(path, n: int = 3_000) -> list[tuple[str, float]]:
    rows = [(f"{i:032x}", i / 7) for i in range(n)]
    store = ScoreStore(path)
    store.put_many(rows)
    store.close()
    return rows


def _assert_one_line_naming(exc: BaseException, path, *fragments: str) -> None:
    message = str(exc)
    assert isinstance(exc, RobustnessError)
    assert "\n" not in message
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message


def _moved_aside(path) -> list:
    """The moved-aside store files (not their -wal/-shm companions)."""
    return sorted(
        p for p in path.parent.iterdir() if p.name.startswith(path.name + ".corrupt-") and not p.name.endswith(("-wal", "-shm"))
    )


def _engine_works(store: ScoreStore) -> None:
    engine = ScoringEngine(CallableRanker(overlap, name="o", version="1"), store=store, progress=False)
    np.testing.assert_allclose(engine.score(["a b", "c"], ["a x", "d"]), overlap(["a b", "c"], ["a x", "d"]))
    assert len(store) == 2


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda path: path.write_bytes(b"not a database at all " * 300), id="garbage"),
        pytest.param(lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]), id="truncated"),
        pytest.param(lambda path: path.write_bytes(path.read_bytes()[:100]), id="header-only"),
    ],
)
def test_a_corrupt_store_is_moved_aside_and_replaced(tmp_path, caplog, damage) -> None:
    path = tmp_path / "scores.sqlite"
    _filled_store(path)
    damage(path)
    damaged = path.read_bytes()
    (tmp_path / "scores.sqlite-wal").write_bytes(b"stale wal")  # companions go with it
    (tmp_path / "scores.sqlite-shm").write_bytes(b"stale shm")

    with caplog.at_level("WARNING", logger="robustness.engine"):
        store = ScoreStore(path)

    assert len(store) == 0  # never trusted: a fresh, empty store in its place
    moved = _moved_aside(path)
    assert len(moved) == 1
    assert moved[0].read_bytes() == damaged  # kept for inspection, not deleted
    assert Path(f"{moved[0]}-wal").read_bytes() == b"stale wal"  # with its companions
    assert Path(f"{moved[0]}-shm").exists()  # (SQLite rewrites the shared-memory index itself)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert str(path) in warnings[0] and str(moved[0]) in warnings[0]
    _engine_works(store)
    store.close()
    assert len(ScoreStore(path)) == 2  # the fresh store is a real, reopenable store


def test_a_store_damaged_inside_is_caught_on_open(tmp_path, caplog) -> None:
    """Header intact, pages in the middle overwritten: found by the check on open, not trusted."""
    path = tmp_path / "scores.sqlite"
    _filled_store(path, 20_000)
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 20_000] = b"\xff" * 20_000
    path.write_bytes(bytes(data))
    with caplog.at_level("WARNING", logger="robustness.engine"):
        store = ScoreStore(path)
    assert len(store) == 0
    assert len(_moved_aside(path)) == 1
    assert any("corrupt" in r.getMessage() for r in caplog.records)


class FaultyConnection:
    """A sqlite3 connection whose statements raise `error` (a fault found mid-run); with
    `writes_only`, reads still work and only the writes fail."""

    def __init__(self, real, error: sqlite3.Error, writes_only: bool = False):
        self.real, self.error, self.writes_only = real, error, writes_only

    def execute(self, sql, *args):
        if self.writes_only and sql.lstrip().upper().startswith("SELECT"):
            return self.real.execute(sql, *args)
        raise self.error

    executemany = execute

    def __getattr__(self, name):
        return getattr(self.real, name)


def _sqlite_error(cls, message: str, code: int) -> sqlite3.Error:
    error = cls(message)
    error.sqlite_errorcode = code
    return error


CORRUPT = ("database disk image is malformed", 11)


@pytest.mark.parametrize("operation", ["read", "write"])
def test_corruption_found_mid_run_moves_the_store_aside_and_the_run_goes_on(tmp_path, caplog, operation) -> None:
    path = tmp_path / "scores.sqlite"
    store = ScoreStore(path)
    recorder = Recorder()
    engine = ScoringEngine(recording_ranker(recorder), store=store, progress=False)
    engine.score(["q one"], ["d one"])
    assert len(store) == 1
    # "read": the lookup of the new pair fails; "write": the lookup works, the batch write fails.
    store._db = FaultyConnection(store._db, _sqlite_error(sqlite3.DatabaseError, *CORRUPT), writes_only=operation == "write")

    with caplog.at_level("WARNING", logger="robustness.engine"):
        scores = engine.score(["q one", "q two"], ["d one", "d two"])

    np.testing.assert_allclose(scores, overlap(["q one", "q two"], ["d one", "d two"]))
    assert len(recorder.pairs) == 2  # the pair in memory was not re-scored, the new one once
    assert len(_moved_aside(path)) == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and str(path) in warnings[0] and "\n" not in warnings[0]
    assert len(store) == 1  # the fresh store holds what was scored after the move
    store.close()
    assert len(ScoreStore(path)) == 1


def test_a_store_that_stays_unusable_after_moving_aside_is_one_line(tmp_path, monkeypatch) -> None:
    path = tmp_path / "scores.sqlite"
    path.write_bytes(b"garbage" * 500)

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied", str(src))

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(CacheError) as info:
        ScoreStore(path)
    _assert_one_line_naming(info.value, path, "corrupt", *WAYS_OUT)
    assert path.exists()  # still there, for the user to move


# read-only and permission faults
def _read_only_connect(self):
    return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=0.1)


def test_a_read_only_store_file_is_one_line_error(tmp_path, monkeypatch) -> None:
    path = tmp_path / "scores.sqlite"
    _filled_store(path, 10)
    monkeypatch.setattr(ScoreStore, "_connect", _read_only_connect)  # what a chmod 444 file gives (root ignores chmod)
    with pytest.raises(CacheError) as info:
        ScoreStore(path)
    _assert_one_line_naming(info.value, path, "not writable", "move it aside", *WAYS_OUT)
    assert path.exists() and not _moved_aside(path)  # a read-only store is not corrupt: left alone


@pytest.mark.parametrize(
    "message, code, fragment",
    [
        ("attempt to write a readonly database", 8 | (6 << 8), "not writable"),  # SQLITE_READONLY_DIRECTORY
        ("unable to open database file", 14, "cannot be opened"),  # SQLITE_CANTOPEN
        ("database or disk is full", 13, "disk is full"),
        ("disk I/O error", 10, "cannot be used"),
    ],
)
def test_store_environment_faults_are_one_line_errors(tmp_path, monkeypatch, message, code, fragment) -> None:
    path = tmp_path / "scores.sqlite"

    def failing_connect(self):
        raise _sqlite_error(sqlite3.OperationalError, message, code)

    monkeypatch.setattr(ScoreStore, "_connect", failing_connect)
    with pytest.raises(CacheError) as info:
        ScoreStore(path)
    _assert_one_line_naming(info.value, path, fragment, *WAYS_OUT)
    assert not _moved_aside(path)


def test_a_write_fault_mid_run_is_a_one_line_error_and_nothing_is_moved(tmp_path) -> None:
    path = tmp_path / "scores.sqlite"
    store = ScoreStore(path)
    store._db = FaultyConnection(store._db, _sqlite_error(sqlite3.OperationalError, "attempt to write a readonly database", 8))
    engine = ScoringEngine(CallableRanker(overlap, name="o", version="1"), store=store, progress=False)
    with pytest.raises(CacheError) as info:
        engine.score(["q"], ["d"])
    _assert_one_line_naming(info.value, path, "not writable", *WAYS_OUT)
    assert not _moved_aside(path)


def test_a_store_locked_by_another_process_is_one_line_error(tmp_path) -> None:
    path = tmp_path / "scores.sqlite"
    _filled_store(path, 10)
    other = sqlite3.connect(path)
    other.execute("BEGIN IMMEDIATE")  # another run holds the write lock
    try:
        with pytest.raises(CacheError) as info:
            ScoreStore(path, timeout=0.2)
        _assert_one_line_naming(info.value, path, "locked", *WAYS_OUT)
    finally:
        other.rollback()
        other.close()
    assert len(ScoreStore(path)) == 10  # and once it is released, the store opens as before


def test_a_store_path_that_is_a_directory_or_under_a_file_is_one_line_error(tmp_path) -> None:
    directory = tmp_path / "scores.sqlite"
    directory.mkdir()
    with pytest.raises(CacheError) as info:
        ScoreStore(directory)
    _assert_one_line_naming(info.value, directory, *WAYS_OUT)

    a_file = tmp_path / "cache"
    a_file.write_text("not a directory")
    with pytest.raises(CacheError) as info:
        ScoreStore(a_file / "scores.sqlite")
    _assert_one_line_naming(info.value, a_file, "not a directory", *WAYS_OUT)


needs_non_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores file permissions")


@needs_non_root
def test_a_chmod_read_only_store_file_is_one_line_error(tmp_path) -> None:
    path = tmp_path / "scores.sqlite"
    _filled_store(path, 10)
    path.chmod(0o444)
    with pytest.raises(CacheError) as info:
        ScoreStore(path)
    _assert_one_line_naming(info.value, path, *WAYS_OUT)


@needs_non_root
def test_a_chmod_read_only_cache_directory_is_one_line_error(tmp_path) -> None:
    directory = tmp_path / "cache"
    directory.mkdir()
    _filled_store(directory / "scores.sqlite", 10)
    directory.chmod(0o555)
    try:
        for path in (directory / "scores.sqlite", directory / "other.sqlite"):
            with pytest.raises(CacheError) as info:
                ScoreStore(path)
            _assert_one_line_naming(info.value, path, *WAYS_OUT)
    finally:
        directory.chmod(0o755)


# the cache directory itself
def test_a_cache_dir_that_is_a_file_is_one_line_error(tmp_path, monkeypatch) -> None:
    a_file = tmp_path / "cache"
    a_file.write_text("x")
    for target in (a_file, a_file / "below"):
        monkeypatch.setenv("ROBUSTNESS_CACHE_DIR", str(target))
        with pytest.raises(CacheError) as info:
            cache_dir()
        _assert_one_line_naming(info.value, target, "ROBUSTNESS_CACHE_DIR", "--set cache=false")


def test_a_cache_dir_that_cannot_be_created_is_one_line_error(tmp_path, monkeypatch) -> None:
    target = tmp_path / "denied" / "cache"
    monkeypatch.setenv("ROBUSTNESS_CACHE_DIR", str(target))

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(type(target), "mkdir", denied)
    with pytest.raises(CacheError) as info:
        cache_dir()
    _assert_one_line_naming(info.value, target, "permission denied", *WAYS_OUT)


def test_cache_dir_still_creates_and_returns_the_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ROBUSTNESS_CACHE_DIR", str(tmp_path / "a" / "b"))
    assert cache_dir() == tmp_path / "a" / "b" and (tmp_path / "a" / "b").is_dir()


# -- progress: by elapsed time, not by pair count ----------------------------------------------
def _sleepy(seconds: float):
    def score(queries, docs):
        time.sleep(seconds)
        return overlap(queries, docs)

    return CallableRanker(score, name="sleepy", version="1")


def test_progress_bar_appears_for_few_pairs_once_scoring_is_slow(capsys) -> None:
    engine = ScoringEngine(_sleepy(1.0), progress=True, progress_delay=0.2, token_budget=10**9)
    engine.score(["q"] * 3, ["a", "b", "c"], desc="slow scoring")  # one batch, one second
    err = capsys.readouterr().err
    assert "slow scoring" in err
    assert "0/3" in err  # shown while the only batch was still running


def test_progress_bar_stays_hidden_when_scoring_is_quick(capsys) -> None:
    engine = ScoringEngine(CallableRanker(overlap, name="quick", version="1"), progress=True)
    engine.score(["q"] * 600, [f"doc {i}" for i in range(600)], desc="quick scoring")
    assert capsys.readouterr().err == ""


def test_progress_false_is_silent_even_when_slow(capsys) -> None:
    engine = ScoringEngine(_sleepy(0.5), progress=False, progress_delay=0.0)
    engine.score(["q"] * 2, ["a", "b"], desc="silent")
    assert capsys.readouterr().err == ""


# -- resumed runs serve exactly what a cold run serves ------------------------------------------
class PaddingSensitive:
    """Like a neural ranker on CPU: a pair's score moves in the last bits with its batch's padded
    width (the longest pair of the batch) and with the batch size."""

    name = "padding-sensitive"
    max_length = 512

    def __init__(self, fail_after: int | None = None):
        self.batches: list[int] = []
        self.fail_after = fail_after

    def fingerprint(self) -> str:
        return "padding-sensitive-1"

    def score(self, queries, docs):
        if self.fail_after is not None and len(self.batches) >= self.fail_after:
            raise Killed("killed")
        self.batches.append(len(queries))
        width = max(len(q) + len(d) for q, d in zip(queries, docs))
        return [s + 1e-9 * width + 1e-11 * len(queries) for s in overlap(queries, docs)]


def test_a_killed_call_resumes_with_the_cold_runs_batches_bit_for_bit(tmp_path, cranfield_slice) -> None:
    """The remaining pairs of a killed call are packed exactly as the cold run packed them, so
    even a ranker whose scores depend on batch composition serves identical scores."""
    query_list = list(cranfield_slice.queries.values())[:3]
    doc_list = list(cranfield_slice.docs.values())[:12]
    queries = [q for q in query_list for _ in doc_list]
    docs = [d for _ in query_list for d in doc_list]
    settings = dict(max_batch=5, token_budget=4_000, progress=False)

    cold = ScoringEngine(PaddingSensitive(), store=ScoreStore(tmp_path / "cold.sqlite"), **settings).score(queries, docs)
    assert np.ptp(cold - np.array(overlap(queries, docs))) > 0  # the fake really is batch-sensitive

    for killed_after in (1, 3, 5):
        path = tmp_path / f"killed-{killed_after}.sqlite"
        with pytest.raises(Killed):
            ScoringEngine(PaddingSensitive(fail_after=killed_after), store=ScoreStore(path), **settings).score(queries, docs)
        resumed = ScoringEngine(PaddingSensitive(), store=ScoreStore(path), **settings)
        np.testing.assert_array_equal(resumed.score(queries, docs), cold)
        assert resumed.stats.store_hits > 0


def test_a_store_damaged_under_a_running_engine_is_moved_aside_on_the_next_read(tmp_path, caplog) -> None:
    """Real damage, not a simulated error: another process overwrites pages of an open store."""
    path = tmp_path / "scores.sqlite"
    rows = _filled_store(path, 100_000)  # larger than SQLite's page cache, so pages are re-read
    store = ScoreStore(path)  # opened and checked while healthy
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.seek(size // 2)
        handle.write(b"\xff" * 200_000)
    with caplog.at_level("WARNING", logger="robustness.engine"):
        found = store.get_many([key for key, _ in rows])
    assert found == {}  # nothing read from the damaged file is served
    assert store.moved_to == _moved_aside(path) and len(store.moved_to) == 1
    assert any(str(store.moved_to[0]) in r.getMessage() for r in caplog.records)
    store.put_many([("k" * 32, 1.0)])
    assert len(store) == 1


# On CPU a neural ranker's score moves in the last float32 bits with its batch companions, so a
# pair first scored in another run's batch (a store filled by a different history) could differ
# from a cold run's score by ~1e-8 and flip the 6th decimal of a TREC run. Measured causes: the
# padded width (the body's attention and the bi-encoder's mean pooling read the padding), and, in
# the cross-encoder's head (pooler and classifier GEMMs with one row per pair), rows outside full
# 4-row tiles take another BLAS kernel. The transformer body at a fixed width is bit-identical for
# any batch size. The bi-encoder now pads every text to its own 16-token bucket, which makes it
# exact; the cross-encoder's head-tile effect is specific to the CPU's BLAS and stays a known gap.
_RANKER_NUMERICS = "the cross-encoder head's BLAS kernel differs for rows outside full 4-row tiles (CPU-specific, ~1e-8)"


def _history_pairs(cranfield_slice) -> tuple[list[str], list[str]]:
    short, other = list(cranfield_slice.queries.values())[:2]
    queries = [short, f"{short} {other} {other}"]  # a short and a long query: one is padded to the other
    texts = list(cranfield_slice.docs.values())[:6]
    docs = [text[: 60 + 45 * i] for i, text in enumerate(texts)]  # varied lengths: varied padding
    return [q for q in queries for _ in docs], [d for _ in queries for d in docs]


@pytest.mark.xfail(reason=_RANKER_NUMERICS, strict=False)
def test_cross_encoder_scores_do_not_depend_on_what_was_cached_before(minilm_cross_encoder, cranfield_slice, tmp_path) -> None:
    queries, docs = _history_pairs(cranfield_slice)
    cold = ScoringEngine(minilm_cross_encoder, store=ScoreStore(tmp_path / "cold.sqlite"), progress=False).score(queries, docs)
    store = ScoreStore(tmp_path / "warm.sqlite")
    first = list(range(0, len(queries), 3))  # an earlier run scored a third of the pairs, in other batches
    ScoringEngine(minilm_cross_encoder, store=store, progress=False).score([queries[i] for i in first], [docs[i] for i in first])
    resumed = ScoringEngine(minilm_cross_encoder, store=store, progress=False).score(queries, docs)
    np.testing.assert_array_equal(resumed, cold)


def test_bi_encoder_scores_do_not_depend_on_what_was_cached_before(minilm_path, cranfield_slice, tmp_path) -> None:
    from robustness.rankers.bi_encoder import BiEncoderRanker

    def process() -> BiEncoderRanker:  # a new process: the bi-encoder's own text cache starts empty
        return BiEncoderRanker("minilm", max_length=128, device="cpu")

    queries, docs = _history_pairs(cranfield_slice)
    cold = ScoringEngine(process(), store=ScoreStore(tmp_path / "cold.sqlite"), progress=False).score(queries, docs)
    store = ScoreStore(tmp_path / "warm.sqlite")
    half = len(queries) // 2  # an earlier run scored the short query's pairs only (no query padding)
    ScoringEngine(process(), store=store, progress=False).score(queries[:half], docs[:half])
    resumed = ScoringEngine(process(), store=store, progress=False).score(queries, docs)
    np.testing.assert_array_equal(resumed, cold)
