"""Rankers: BM25 against bm25s, the bi-encoder's embedding cache, the cross-encoder's seeded head,
and the registry (built-ins, `module:Class`, `file.py:Class`, errors)."""

from __future__ import annotations

import importlib
import sys
import uuid

import numpy as np
import pytest

from robustness.config import RankerSpec
from robustness.errors import ConfigError, RankerError
from robustness.runner import build_ranker


def make_ranker(kind: str, name: str | None = None, **params):
    return build_ranker(RankerSpec(type=kind, name=name, params=params))
from robustness.rankers.base import Ranker
from robustness.rankers.bm25 import BM25Ranker


# -- BM25 ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bm25_cranfield(cranfield) -> BM25Ranker:
    ranker = BM25Ranker()
    ranker.prepare(cranfield.docs)
    return ranker


def test_bm25_pair_scores_equal_bm25s_retrieval_scores(cranfield, bm25_cranfield) -> None:
    queries, _ = cranfield.split("test")
    ids = sorted(queries)[:8]
    hits = bm25_cranfield.retrieve([queries[q] for q in ids], k=25)
    compared = 0
    for qid, ranked in zip(ids, hits):
        assert len(ranked) == 25
        retrieved = np.array([s for _, s in ranked])
        assert np.all(np.diff(retrieved) <= 1e-9)  # best first
        pair = bm25_cranfield.score([queries[qid]] * len(ranked), [cranfield.docs[d] for d, _ in ranked])
        np.testing.assert_allclose(pair, retrieved, rtol=0, atol=1e-4)
        compared += len(ranked)
    assert compared == 200


def test_bm25_pair_score_by_hand(cranfield, bm25_cranfield) -> None:
    """One query term: idf * tf / (tf + k1 * (1 - b + b * dl / avgdl)), from the tokenised corpus."""
    import math

    tokens = bm25_cranfield.tokenize(list(cranfield.docs.values()))
    term = bm25_cranfield.tokenize(["supersonic"])[0][0]
    n_docs = len(tokens)
    df = sum(term in set(t) for t in tokens)
    avgdl = sum(len(t) for t in tokens) / n_docs
    idf = math.log(1 + (n_docs - df + 0.5) / (df + 0.5))
    doc = next(text for text, toks in zip(cranfield.docs.values(), tokens) if toks.count(term) >= 2)
    doc_tokens = bm25_cranfield.tokenize([doc])[0]
    tf, dl = doc_tokens.count(term), len(doc_tokens)
    expected = idf * tf / (tf + 1.5 * (1 - 0.75 + 0.75 * dl / avgdl))
    assert bm25_cranfield.score(["supersonic"], [doc])[0] == pytest.approx(expected, rel=1e-9)
    assert bm25_cranfield.score(["supersonic"], ["nothing relevant here"])[0] == 0.0


def test_bm25_fingerprint_follows_the_corpus(cranfield) -> None:
    from robustness.data import load_collection

    vaswani = load_collection("vaswani")
    ranker = BM25Ranker()
    with pytest.raises(RankerError, match="prepare"):
        ranker.fingerprint()
    ranker.prepare(cranfield.docs)
    on_cranfield = ranker.fingerprint()
    query, doc = "boundary layer", cranfield.docs[sorted(cranfield.docs)[0]]
    score_cranfield = ranker.score([query], [doc])[0]

    ranker.prepare(vaswani.docs)
    assert ranker.fingerprint() != on_cranfield
    assert ranker.score([query], [doc])[0] != score_cranfield  # other idf, other avgdl

    ranker.prepare(dict(cranfield.docs))  # an equal corpus (a copy) is recognised
    assert ranker.fingerprint() == on_cranfield
    assert ranker.score([query], [doc])[0] == score_cranfield

    other = BM25Ranker(k1=1.2)
    other.prepare(cranfield.docs)
    assert other.fingerprint() != on_cranfield  # parameters are part of the identity


def test_bm25_ignores_unknown_query_terms(bm25_cranfield, cranfield) -> None:
    doc = cranfield.docs[sorted(cranfield.docs)[0]]
    base = bm25_cranfield.score(["boundary layer"], [doc])[0]
    assert base > 0
    assert bm25_cranfield.score(["boundary layer zzqxvw"], [doc])[0] == base
    assert bm25_cranfield.retrieve(["zzqxvw qqqzzz"], k=10) == [[]]


# -- bi-encoder ----------------------------------------------------------------------------
def test_bi_encoder_scores_are_cosines(minilm_bi_encoder, cranfield_slice) -> None:
    query = next(iter(cranfield_slice.queries.values()))
    docs = list(cranfield_slice.docs.values())[:4]
    scores = minilm_bi_encoder.score([query] * 4, docs)
    assert scores.shape == (4,) and scores.dtype == np.float64
    q = minilm_bi_encoder.encode([query])[0]
    d = minilm_bi_encoder.encode(docs)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-5)  # normalised
    np.testing.assert_allclose(scores, d @ q, atol=1e-6)
    assert np.all(np.abs(scores) <= 1 + 1e-6)


def test_bi_encoder_embedding_cache(minilm_bi_encoder, cranfield_slice, monkeypatch) -> None:
    model = minilm_bi_encoder
    forwarded: list[list[str]] = []
    original = model._forward

    def counting_forward(texts):
        forwarded.append(list(texts))
        return original(texts)

    monkeypatch.setattr(model, "_forward", counting_forward)
    query = "shock wave interaction cache test " + uuid.uuid4().hex  # never seen before
    docs = [text[:200] for text in list(cranfield_slice.docs.values())[5:8]]
    docs = [f"{uuid.uuid4().hex} {d}" for d in docs]

    first = model.score([query] * 3, docs)
    seen = [t for batch in forwarded for t in batch]
    assert sorted(seen) == sorted([query, *docs])  # each new text encoded exactly once

    forwarded.clear()
    again = model.score([query] * 3, docs)
    assert forwarded == []  # everything already cached: no forward pass at all
    np.testing.assert_array_equal(again, first)

    attacked = docs[1] + " supersonic"
    model.score([query, query], [docs[0], attacked])
    assert forwarded == [[attacked]]  # a perturbed document re-encodes only itself


def test_bi_encoder_encode_more_texts_than_the_cache_holds(minilm_bi_encoder, monkeypatch) -> None:
    from robustness.cache import LRU

    monkeypatch.setattr(minilm_bi_encoder, "_cache", LRU(2))  # a fresh, tiny cache (restored after)
    texts = [f"eviction test {uuid.uuid4().hex}" for _ in range(3)]
    assert minilm_bi_encoder.encode(texts).shape == (3, 384)


# -- cross-encoder -------------------------------------------------------------------------
def test_cross_encoder_fresh_head_is_seeded(minilm_cross_encoder, cranfield_slice) -> None:
    from robustness.rankers.cross_encoder import CrossEncoderRanker

    query = next(iter(cranfield_slice.queries.values()))
    docs = [text[:300] for text in list(cranfield_slice.docs.values())[:4]]
    scores = minilm_cross_encoder.score([query] * 4, docs)
    assert isinstance(scores, np.ndarray)
    assert scores.shape == (4,) and scores.dtype == np.float64
    assert np.all(np.isfinite(scores))

    same_seed = CrossEncoderRanker("minilm", max_length=128, device="cpu", seed=0)
    np.testing.assert_allclose(same_seed.score([query] * 4, docs), scores, atol=1e-5)
    assert same_seed.fingerprint() == minilm_cross_encoder.fingerprint()

    other_seed = CrossEncoderRanker("minilm", max_length=128, device="cpu", seed=1)
    assert other_seed.fingerprint() != minilm_cross_encoder.fingerprint()
    assert not np.allclose(other_seed.score([query] * 4, docs), scores, atol=1e-4)
    assert minilm_cross_encoder.fingerprint().startswith("ce-")


# -- registry --------------------------------------------------------------------------------
def test_make_ranker_builtin_bm25() -> None:
    ranker = make_ranker("bm25", name="lexical", k1=0.9)
    assert isinstance(ranker, BM25Ranker)
    assert ranker.name == "lexical" and ranker.k1 == 0.9
    assert isinstance(ranker, Ranker)


def test_make_ranker_builtin_minilm_matches_the_shipped_weights(minilm_bi_encoder) -> None:
    ranker = make_ranker("minilm", max_length=128, device="cpu")
    assert ranker.name == "minilm"
    assert ranker.fingerprint() == minilm_bi_encoder.fingerprint()


def test_make_ranker_cross_encoder_needs_a_model() -> None:
    with pytest.raises(ConfigError, match="model: Field required"):
        make_ranker("cross-encoder")


def test_make_ranker_unknown_name() -> None:
    with pytest.raises(ConfigError) as info:
        make_ranker("no-such-ranker-xyz")
    message = str(info.value)
    assert "'no-such-ranker-xyz'" in message and "bm25" in message and "\n" not in message


def test_make_ranker_bad_params_name_the_ranker_and_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) bogus for ranker 'bm25' \(valid: k1, b, name\)"):
        make_ranker("bm25", bogus=1)
    with pytest.raises(ConfigError, match=r"k1: Input should be a valid number"):
        make_ranker("bm25", k1="[1")


PLUGIN_SOURCE = '''
import numpy as np


class Overlap:
    """A user's ranker: query words found in the document."""

    def __init__(self, bonus=0.0, name="overlap"):
        self.name = name
        self.bonus = bonus

    def score(self, queries, docs):
        return np.array([len(set(q.split()) & set(d.split())) + self.bonus for q, d in zip(queries, docs)], dtype=float)

    def fingerprint(self):
        return f"overlap-{self.bonus}"


class NoScore:
    name = "broken"

    def fingerprint(self):
        return "broken"
'''


@pytest.fixture
def plugin_module(tmp_path, monkeypatch) -> str:
    """A user module in a fresh directory (unique name, so sys.modules never serves a stale copy)."""
    module = f"user_rankers_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(PLUGIN_SOURCE)
    monkeypatch.setattr(sys, "path", list(sys.path))  # undo whatever the registry inserts
    monkeypatch.chdir(tmp_path)
    importlib.invalidate_caches()
    yield module
    sys.modules.pop(module, None)


def test_make_ranker_module_class_from_the_working_directory(plugin_module) -> None:
    ranker = make_ranker(f"{plugin_module}:Overlap", bonus=0.5)
    assert ranker.name == "overlap"
    np.testing.assert_array_equal(ranker.score(["a b c"], ["b c d"]), [2.5])
    renamed = make_ranker(f"{plugin_module}:Overlap", name="mine")
    assert renamed.name == "mine"


def test_make_ranker_file_path_class(tmp_path, monkeypatch) -> None:
    stem = f"file_ranker_{uuid.uuid4().hex[:8]}"
    path = tmp_path / "plugins" / f"{stem}.py"
    path.parent.mkdir()
    path.write_text(PLUGIN_SOURCE)
    try:
        ranker = make_ranker(f"{path}:Overlap")
        np.testing.assert_array_equal(ranker.score(["x y"], ["y z"]), [1.0])
        monkeypatch.chdir(tmp_path)  # relative to the working directory, as in a spec
        relative = make_ranker(f"plugins/{stem}.py:Overlap", bonus=1.0)
        np.testing.assert_array_equal(relative.score(["x y"], ["y z"]), [2.0])
    finally:
        sys.modules.pop(stem, None)
    with pytest.raises(ConfigError, match="does not exist"):
        make_ranker(f"{tmp_path / 'missing.py'}:Overlap")


def test_make_ranker_class_without_score(plugin_module) -> None:
    with pytest.raises(RankerError, match=r"has no 'score'"):
        make_ranker(f"{plugin_module}:NoScore")


def test_make_ranker_missing_attribute_or_module(plugin_module) -> None:
    with pytest.raises(ConfigError, match=r"has no attribute 'Missing'"):
        make_ranker(f"{plugin_module}:Missing")
    with pytest.raises(ConfigError, match=r"cannot import ranker module 'no_such_module_xyz'"):
        make_ranker("no_such_module_xyz:Thing")


def test_missing_local_model_folder(tmp_path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(RankerError, match="does not exist") as info:
        make_ranker("bi-encoder", model=str(missing))
    assert str(missing) in str(info.value)
    with pytest.raises(RankerError, match="does not exist"):
        make_ranker("cross-encoder", model=str(missing))


def test_empty_local_model_folder(tmp_path) -> None:
    empty = tmp_path / "empty-model"
    empty.mkdir()
    with pytest.raises(RankerError) as info:
        make_ranker("bi-encoder", model=str(empty))
    assert "local folder" in str(info.value) and "\n" not in str(info.value)
