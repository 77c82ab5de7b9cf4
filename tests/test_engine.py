"""ScoringEngine: de-duplication, text-keyed caching, the resumable on-disk store, batch packing
and validation of what rankers return."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robustness.engine import ScoreStore, ScoringEngine
from robustness.errors import RankerError
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


def test_scores_do_not_depend_on_batch_packing(cranfield_slice) -> None:
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
