"""Shared word-substitution pieces (attacks.components) and the RandomSubstitution baseline."""

from __future__ import annotations

import random

import numpy as np
import pytest

from robustness.registry import make
from robustness.attacks.baselines import RandomSubstitution
from robustness.attacks.components import (
    SynonymSubstitution,
    WordConstraints,
    WordSequence,
    substitution_options,
)
from robustness.protocols.attack import BudgetExhausted, Target, Victim, apply_edits
from robustness.engine import ScoringEngine
from robustness.errors import ConfigError
from robustness.metrics import perturbation_fraction
from robustness.rankers.callable import CallableRanker
from robustness.text.tokenize import is_stopword

SAME_TEXT_OFF = dict(protect_numbers=False, protect_identifiers=False, max_senses=None, same_pos=False, same_inflection=False, window_similarity=None)
"""The "same text" constraints (tests/test_constraints.py) off: these tests check the others."""


def test_word_sequence_replaces_words_and_keeps_the_rest() -> None:
    text = "Rapid increase (COVID-19) in patients' risk, don't ignore it."
    doc = WordSequence(text)
    assert [doc.word(p) for p in range(len(doc))] == [
        "Rapid", "increase", "COVID-19", "in", "patients", "risk", "don't", "ignore", "it"
    ]
    assert doc.replaced({}) == text
    start, end = doc.span(2)
    assert text[start:end] == "COVID-19"
    assert doc.position_at(start + 3) == 2 and doc.position_at(start - 1) is None  # "(" is no word
    assert doc.replaced({0: "Quick", 5: "danger"}) == "Quick increase (COVID-19) in patients' danger, don't ignore it."


def test_match_case() -> None:
    from robustness.text.tokenize import match_case

    assert match_case("growth", "Increase") == "Growth"
    assert match_case("acid", "DNA") == "ACID"
    assert match_case("danger", "risk") == "danger"
    assert match_case("one", "A") == "One"


def test_constraints_protect_stopwords_and_optionally_query_terms() -> None:
    loose = WordConstraints()
    assert not loose.modifiable("The", loose.protected_keys("risk"))
    assert loose.modifiable("risks", loose.protected_keys("risk of disease"))  # query terms are fair game by default
    strict = WordConstraints(protect_query_terms=True)
    assert not strict.modifiable("Risks", strict.protected_keys("risk of disease"))
    assert strict.modifiable("danger", strict.protected_keys("risk of disease"))
    assert WordConstraints(min_similarity=0.8).admits(0.8) and not WordConstraints(min_similarity=0.8).admits(0.79)
    for bad in ({"budget": 0}, {"budget": 2.5}, {"min_similarity": 1.5}):
        with pytest.raises(ConfigError):
            WordConstraints(**bad)


def test_substitution_options_follow_the_constraints() -> None:
    doc = WordSequence("The study shows a large increase in risk.")
    synonyms = SynonymSubstitution()  # combined WordNet + GloVe, cosine >= 0.5
    options = substitution_options(doc, "risk", WordConstraints(**SAME_TEXT_OFF), synonyms)
    assert options and all(not is_stopword(doc.word(p)) for p in options)
    assert options[5][0][0].islower() and "increase" not in options[5]
    strict = substitution_options(doc, "risk", WordConstraints(protect_query_terms=True, min_similarity=0.75, **SAME_TEXT_OFF), synonyms)
    assert 7 not in strict  # "risk" is a query term
    for position, replacements in strict.items():
        allowed = {c for c, s in synonyms.candidates(doc.word(position)) if s >= 0.75}
        assert set(replacements) <= allowed
    assert options[1] == [c for c, _ in synonyms.candidates("study")]  # best first, as the source ranks them
    assert substitution_options(doc, "risk", WordConstraints(**SAME_TEXT_OFF), synonyms, positions=[0, 1]).keys() <= {1}


def test_bad_synonym_settings_fail_in_one_line() -> None:
    with pytest.raises(ConfigError, match="threshold"):
        SynonymSubstitution(threshold=0)
    with pytest.raises(ConfigError, match="unknown synonym source 'thesaurus'"):
        SynonymSubstitution("thesaurus")
    with pytest.raises(ConfigError, match="word vectors"):
        RandomSubstitution(synonym_source="wordnet", min_similarity=0.5)


def _refusing_victim() -> Victim:
    """A victim with a zero query budget: any query raises, proving the attack never asks."""
    ranker = CallableRanker(lambda q, d: [0.0] * len(d), name="zero", version="1")
    return Victim(ScoringEngine(ranker, progress=False), ["q"], [np.zeros(99)], budget=0)


@pytest.fixture(scope="module")
def targets(cranfield) -> list[Target]:
    """Five long Cranfield abstracts as targets of their first test query."""
    queries, _ = cranfield.split("test")
    query = queries[sorted(queries, key=int)[0]]
    docs = sorted(cranfield.docs, key=lambda d: (-len(cranfield.docs[d]), d))[:5]
    return [Target.single("1", query, d, cranfield.docs[d], 90, "hard") for d in docs]


def test_random_substitution_is_deterministic_static_and_within_budget(targets) -> None:
    attack = RandomSubstitution(budget=7, window_similarity=None)  # the windowed check is slow on CPU
    for target in targets:
        first = attack.attack(target, _refusing_victim(), random.Random("seed|1"))
        again = attack.attack(target, _refusing_victim(), random.Random("seed|1"))
        other = attack.attack(target, _refusing_victim(), random.Random("seed|2"))
        assert (first.text, first.edits) == (again.text, again.edits)
        assert other.text != first.text
        doc = WordSequence(target.text)
        assert len(first.edits) == 7  # long abstracts have more than 7 eligible words
        assert len({e.position for e in first.edits}) == 7
        for edit in first.edits:
            assert edit.kind == "substitute" and edit.old != edit.new
            assert not is_stopword(edit.old)
        assert apply_edits(doc.text, first.edits) == first.text
        assert perturbation_fraction(target.text, first.text) * len(target.text.split()) <= 7 + 1e-9


def test_random_substitution_changes_every_eligible_word_when_budget_allows() -> None:
    target = Target.single("q", "flow", "d", "The large increase of the risk.", 90, "hard")
    outcome = RandomSubstitution(budget=20, **SAME_TEXT_OFF).attack(target, _refusing_victim(), random.Random(0))
    assert [e.old for e in outcome.edits] == ["large", "increase", "risk"]
    assert outcome.text.startswith("The ") and outcome.text.endswith(".")


def test_registry_builds_the_substitution_attacks() -> None:
    assert make("attack", "random_substitution", dict(budget=3)).constraints.budget == 3
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) steps .*\(valid: budget, synonym_source"):
        make("attack", "random_substitution", dict(steps=3))
    with pytest.raises(ConfigError, match="budget"):
        make("attack", "random_substitution", dict(budget=0))
    with pytest.raises(BudgetExhausted):
        _refusing_victim().ranks(["x"])
