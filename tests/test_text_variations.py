"""Tokenising helpers and the query-variation generators (Penha et al., ECIR 2022)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from robustness.errors import ConfigError
from robustness.registry import resolve
from robustness.text.query_variations import (
    MIN_TYPO_LENGTH,
    QWERTY_NEIGHBOURS,
    BUILTIN_VARIATIONS,
    Variation,
    keyword_only,
    make_synonym_replacement,
    stopword_removal,
    synonym_replacement,
    typo_delete,
    typo_insert,
    typo_keyboard,
    typo_swap,
    vary_queries,
    word_shuffle,
)
from robustness.text.tokenize import (
    STOPWORDS,
    inflection_key,
    is_stopword,
    is_word,
    join_kept,
    split_tokens,
    words,
)

QUERY = "What are the effects of vitamin D on bone density in older women?"
TYPOS = [typo_swap, typo_insert, typo_delete, typo_keyboard]


class FakeSynonyms:
    """A fixed synonym table, so synonym replacement is tested without loading vectors."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table

    def neighbours(self, word: str, k: int) -> list[tuple[str, float]]:
        return [(c, 1.0) for c in self.table.get(word.lower(), [])][:k]


SYNONYMS = FakeSynonyms(
    {
        "effects": ["consequences", "impacts"],
        "bone": ["skeletal"],
        "density": ["concentration", "compactness"],
        "older": ["elderly", "aged"],
        "women": ["females", "ladies"],
        "vitamin": ["nutrient"],
    }
)

# Every registered generator, with the parameters it needs.
GENERATORS = {
    **{name: resolve("query_variation", name) for name in BUILTIN_VARIATIONS},
    "synonym_replacement": make_synonym_replacement(SYNONYMS),
}
RANDOMISED = [
    "typo_swap",
    "typo_insert",
    "typo_delete",
    "typo_keyboard",
    "word_shuffle",
    "synonym_replacement",
]


# -- tokenize ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "  leading and trailing  ",
        "Hello, world!!",
        "tabs\tand\nnewlines",
        "café — naïve?",
        "covid-19 (SARS-CoV-2) isn't 'new'",
        "a_b 3.14 ...",
    ],
)
def test_split_tokens_is_reversible(text: str) -> None:
    tokens = split_tokens(text)
    assert "".join(tokens) == text
    assert all(t for t in tokens)


def test_words_keep_contractions_and_compounds_whole() -> None:
    assert words("Hello, world! It's covid-19, state-of-the-art.") == [
        "Hello",
        "world",
        "It's",
        "covid-19",
        "state-of-the-art",
    ]
    tokens = split_tokens("Hi, you!")
    assert [is_word(t) for t in tokens] == [True, False, False, True, False]


def test_stopwords_exclude_contraction_fragments() -> None:
    assert {"the", "of", "what", "don't", "a"} <= STOPWORDS
    assert not {"d", "t", "s", "don", "ll"} & STOPWORDS
    assert is_stopword("The") and is_stopword("don\u2019t") and not is_stopword("vitamin")


def test_join_kept_merges_the_gaps_removed_words_leave() -> None:
    tokens = split_tokens("the cat  sat on the mat.")
    keep = [t not in {"the", "on"} for t in tokens]
    assert join_kept(tokens, keep) == "cat  sat mat."
    assert join_kept(tokens, [False] * len(tokens)) == ""


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("increase", "increased"),
        ("increase", "increasing"),
        ("increase", "increases"),
        ("car", "cars"),
        ("study", "studies"),
        ("run", "running"),
        ("box", "boxes"),
        ("Patient", "patient's"),
    ],
)
def test_inflection_key_merges_regular_inflections(a: str, b: str) -> None:
    assert inflection_key(a) == inflection_key(b)


@pytest.mark.parametrize(("a", "b"), [("organ", "organization"), ("bus", "bu"), ("new", "newt")])
def test_inflection_key_keeps_distinct_words_apart(a: str, b: str) -> None:
    assert inflection_key(a) != inflection_key(b)


# -- every generator ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_deterministic_under_seed(name: str) -> None:
    f = GENERATORS[name]
    assert f(QUERY, random.Random(7)) == f(QUERY, random.Random(7))


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_variant_differs_for_a_normal_query(name: str) -> None:
    f = GENERATORS[name]
    for seed in range(30):
        assert f(QUERY, random.Random(seed)) != QUERY


@pytest.mark.parametrize("name", RANDOMISED)
def test_randomised_generators_depend_on_the_seed(name: str) -> None:
    f = GENERATORS[name]
    assert len({f(QUERY, random.Random(seed)) for seed in range(20)}) > 3


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_protected_words_are_kept(name: str) -> None:
    f = GENERATORS[name]
    protected = frozenset({"vitamin", "density", "the", "older"})
    original = split_tokens(QUERY)
    for seed in range(30):
        variant = split_tokens(f(QUERY, random.Random(seed), protected))
        for word in ("vitamin", "density", "the", "older"):
            assert word in variant
        if name == "word_shuffle":  # protected words do not move either
            for i, token in enumerate(original):
                if token.lower() in protected:
                    assert variant[i] == token


@pytest.mark.parametrize("name", sorted(GENERATORS))
@pytest.mark.parametrize("query", ["", "   ", "?!"])
def test_empty_query_is_returned_unchanged(name: str, query: str) -> None:
    assert GENERATORS[name](query, random.Random(0)) == query


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_fully_protected_query_is_returned_unchanged(name: str) -> None:
    protected = frozenset(w.lower() for w in words(QUERY))
    variant = GENERATORS[name](QUERY, random.Random(0), protected)
    # keyword_only still drops the punctuation, which no one protects.
    assert variant == (" ".join(words(QUERY)) if name == "keyword_only" else QUERY)


@pytest.mark.parametrize(
    ("name", "changes"),
    [
        ("typo_swap", True),
        ("typo_insert", True),
        ("typo_delete", True),
        ("typo_keyboard", True),
        ("word_shuffle", False),
        ("stopword_removal", False),
        ("keyword_only", False),
        ("synonym_replacement", True),
    ],
)
def test_one_word_query(name: str, changes: bool) -> None:
    variant = GENERATORS[name]("Women", random.Random(3))
    assert (variant != "Women") is changes


# -- typos -------------------------------------------------------------------------------------


def _changed(original: str, variant: str) -> list[tuple[str, str]]:
    a, b = words(original), words(variant)
    assert len(a) == len(b)
    return [(x, y) for x, y in zip(a, b, strict=True) if x != y]


@pytest.mark.parametrize("typo", TYPOS)
def test_typos_touch_one_long_word_by_default(typo: Variation) -> None:
    for seed in range(30):
        changed = _changed(QUERY, typo(QUERY, random.Random(seed)))
        assert len(changed) == 1
        assert len(changed[0][0]) >= MIN_TYPO_LENGTH


@pytest.mark.parametrize("typo", TYPOS)
def test_typos_respect_n_words(typo: Variation) -> None:
    assert len(_changed(QUERY, typo(QUERY, random.Random(1), n_words=3))) == 3
    # Fewer eligible words than asked for: all of them change.
    assert (
        len(_changed("bone density test", typo("bone density test", random.Random(1), n_words=5)))
        == 3
    )
    with pytest.raises(ValueError, match="n_words"):
        typo(QUERY, random.Random(1), n_words=0)


@pytest.mark.parametrize("typo", TYPOS)
def test_typos_skip_short_words(typo: Variation) -> None:
    assert typo("a cat is on the mat", random.Random(0)) == "a cat is on the mat"


def test_typo_swap_transposes_two_adjacent_characters() -> None:
    for seed in range(30):
        [(old, new)] = _changed(QUERY, typo_swap(QUERY, random.Random(seed)))
        diff = [i for i, (x, y) in enumerate(zip(old, new, strict=True)) if x != y]
        assert len(diff) == 2 and diff[1] == diff[0] + 1
        assert sorted(old) == sorted(new)
    # Only one position changes "aabb"; a word of one repeated letter cannot change.
    assert typo_swap("aabb", random.Random(0)) == "abab"
    assert typo_swap("aaaa", random.Random(0)) == "aaaa"


def test_typo_insert_and_delete_change_length_by_one() -> None:
    for seed in range(30):
        [(old, new)] = _changed(QUERY, typo_insert(QUERY, random.Random(seed)))
        assert len(new) == len(old) + 1 and any(
            new[:i] + new[i + 1 :] == old for i in range(len(new))
        )
        [(old, new)] = _changed(QUERY, typo_delete(QUERY, random.Random(seed)))
        assert len(new) == len(old) - 1 and any(
            old[:i] + old[i + 1 :] == new for i in range(len(old))
        )


def test_typo_keyboard_uses_a_neighbouring_key_and_keeps_case() -> None:
    for seed in range(30):
        [(old, new)] = _changed(QUERY, typo_keyboard(QUERY, random.Random(seed)))
        [(x, y)] = [(x, y) for x, y in zip(old, new, strict=True) if x != y]
        assert y.lower() in QWERTY_NEIGHBOURS[x.lower()]
        assert x.isupper() == y.isupper()


def test_qwerty_neighbours_are_symmetric_and_local() -> None:
    assert set(QWERTY_NEIGHBOURS["a"]) == set("qwsz")
    assert set(QWERTY_NEIGHBOURS["g"]) == set("tyfhvb")
    assert set(QWERTY_NEIGHBOURS) == set("abcdefghijklmnopqrstuvwxyz")
    for key, neighbours in QWERTY_NEIGHBOURS.items():
        assert key not in neighbours
        assert all(key in QWERTY_NEIGHBOURS[n] for n in neighbours)


# -- ordering and naturality -------------------------------------------------------------------


def test_word_shuffle_permutes_words_and_keeps_punctuation() -> None:
    for seed in range(30):
        variant = word_shuffle(QUERY, random.Random(seed))
        assert Counter(words(variant)) == Counter(words(QUERY))
        assert variant.endswith("?") and variant.count(" ") == QUERY.count(" ")


def test_word_shuffle_cannot_change_identical_words() -> None:
    assert word_shuffle("data data", random.Random(0)) == "data data"
    # Two distinct words: every seed must swap them (a shuffle back to the original is rotated).
    assert {word_shuffle("bone density", random.Random(s)) for s in range(10)} == {"density bone"}


def test_stopword_removal() -> None:
    expected = "effects vitamin D bone density older women?"
    assert stopword_removal(QUERY, random.Random(0)) == expected
    assert stopword_removal("To be or not to be", random.Random(0)) == "To be or not to be"
    assert (
        stopword_removal("effects of not smoking", random.Random(0), frozenset({"not"}))
        == "effects not smoking"
    )


def test_keyword_only() -> None:
    assert (
        keyword_only(
            "Find documents that discuss the effects of caffeine on sleep, and sleep quality.",
            random.Random(0),
        )
        == "effects caffeine sleep quality"
    )
    assert keyword_only("caffeine sleep", random.Random(0)) == "caffeine sleep"
    assert keyword_only("What is it?", random.Random(0)) == "What is it?"
    assert keyword_only("is it not so", random.Random(0), frozenset({"not"})) == "not"


# -- paraphrasing ------------------------------------------------------------------------------


def test_synonym_replacement_uses_the_source_and_keeps_case() -> None:
    source = FakeSynonyms({"effects": ["consequences"], "bone": ["skeletal"]})
    variants = {
        synonym_replacement("Effects on bone", random.Random(s), source=source) for s in range(20)
    }
    assert variants == {"Consequences on bone", "Effects on skeletal"}
    assert synonym_replacement("EFFECTS", random.Random(0), source=source) == "CONSEQUENCES"
    both = synonym_replacement("Effects on bone", random.Random(0), source=source, n_words=2)
    assert both == "Consequences on skeletal"


def test_synonym_replacement_skips_words_without_synonyms() -> None:
    source = FakeSynonyms({"women": ["females"]})
    for seed in range(20):
        assert synonym_replacement(QUERY, random.Random(seed), source=source) == QUERY.replace(
            "women", "females"
        )
    assert synonym_replacement("bone density", random.Random(0), source=source) == "bone density"


def test_synonym_replacement_never_returns_the_word_itself() -> None:
    # A source offering the word itself must not count as a replacement: "density" is next.
    source = FakeSynonyms({"bone": ["Bone", "bone"], "density": ["mass"]})
    for seed in range(20):
        assert synonym_replacement("bone density", random.Random(seed), source=source) == (
            "bone mass"
        )


# -- vary_queries ------------------------------------------------------------------------------

QUERIES = {
    "q1": "effects of vitamin D on bone density",
    "q2": "treatment of chronic kidney disease",
    "q3": "cancer",
}


def test_vary_queries_does_not_depend_on_iteration_order() -> None:
    forward = vary_queries(QUERIES, "typo_swap", seed=3)
    backward = vary_queries(dict(reversed(QUERIES.items())), "typo_swap", seed=3)
    alone = vary_queries({"q2": QUERIES["q2"]}, "typo_swap", seed=3)
    assert forward == backward
    assert alone["q2"] == forward["q2"]
    assert forward["q1"] != QUERIES["q1"] and forward["q3"] != QUERIES["q3"]


def test_vary_queries_seed_changes_the_variants() -> None:
    runs = [vary_queries(QUERIES, "typo_insert", seed=s) for s in range(5)]
    assert len({tuple(r.values()) for r in runs}) > 1
    assert vary_queries(QUERIES, "typo_insert", seed=2) == runs[2]


def test_vary_queries_passes_params_and_reports_unchanged_queries() -> None:
    out = vary_queries(QUERIES, "word_shuffle", seed=0)
    assert out["q3"] == "cancer" and out["q1"] != QUERIES["q1"]
    typos = vary_queries(QUERIES, "typo_delete", seed=0, n_words=2)
    assert len(_changed(QUERIES["q1"], typos["q1"])) == 2
    synonyms = vary_queries(QUERIES, "synonym_replacement", seed=0, source=SYNONYMS)
    assert synonyms["q1"] != QUERIES["q1"] and synonyms["q3"] == "cancer"
    protected = vary_queries(QUERIES, "keyword_only", seed=0, protected=frozenset({"of"}))
    assert protected["q2"] == "treatment of chronic kidney disease"


def test_vary_queries_errors() -> None:
    with pytest.raises(ConfigError, match=r"unknown query variation 'typo'.*typo_swap"):
        vary_queries(QUERIES, "typo", seed=0)
    with pytest.raises(ConfigError, match="synonym source"):
        vary_queries(QUERIES, "synonym_replacement", seed=0)


def test_vary_queries_is_independent_of_pythonhashseed() -> None:
    code = (
        "from robustness.text.query_variations import vary_queries;"
        "print(vary_queries({'a': 'effects of vitamin D on bone', 'b': 'kidney disease'},"
        " 'word_shuffle', seed=1))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parents[1],
        ).stdout
        for hash_seed in ("1", "2")
    }
    assert len(outputs) == 1
