"""Substitutions must read as the same text (DESIGN §8): numbers, units and identifiers stay,
WordNet senses and inflections must fit, and TextFooler's windowed similarity guards each swap."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from robustness.attacks.baselines import RandomSubstitution
from robustness.attacks.components import SynonymSubstitution, WordConstraints, WordSequence, substitution_options
from robustness.attacks.constraints import NUMBER_WORDS, UNITS, SenseFilter, WindowConstraint, protected_positions
from robustness.attacks.search import RandomSearch
from robustness.attacks.word_substitution import PRADA
from robustness.engine import ScoringEngine
from robustness.errors import ConfigError
from robustness.protocols.attack import Edit, Target, Victim, apply_edits
from robustness.rankers.callable import CallableRanker
from robustness.registry import make
from robustness.text.similarity import WindowedSimilarity, window_similarities, window_similarity, word_window
from robustness.text.tokenize import is_stopword

OFF = dict(protect_numbers=False, protect_identifiers=False, max_senses=None, same_pos=False, same_inflection=False, window_similarity=None)
"""Every "same text" constraint switched off: the attacks as they were before."""


def _refusing_victim() -> Victim:
    ranker = CallableRanker(lambda q, d: [0.0] * len(d), name="zero", version="1")
    return Victim(ScoringEngine(ranker, progress=False), ["q"], [np.zeros(9)], budget=0)


# -- numbers, units, identifiers ----------------------------------------------------------------
def _protected_words(text: str, **kw) -> list[str]:
    doc = WordSequence(text)
    return [doc.word(p) for p in sorted(protected_positions(doc, **kw))]


def test_numbers_units_and_identifiers_are_protected() -> None:
    text = (
        "Patients (n = 17) received 5 mg/kg at 37 °C for two weeks; mRNA of IL-6 rose 9.17-fold "
        "in CD4+ T cells and 10,000 p53 copies. The first Western blot showed 12.4 kDa bands."
    )
    assert _protected_words(text) == [
        "n", "17", "5", "mg", "kg", "37", "C", "two", "weeks", "mRNA", "IL-6", "9", "17-fold",
        "CD4", "T", "10", "000", "p53", "first", "Western", "12", "4", "kDa",
    ]
    assert _protected_words(text, numbers=True, identifiers=False) == [
        "17", "5", "mg", "kg", "37", "C", "two", "weeks", "IL-6", "9", "17-fold", "CD4", "T", "10", "000",
        "p53", "first", "12", "4", "kDa",
    ]  # "T" after "CD4+" reads as a unit (tesla): over-protection is harmless
    assert _protected_words(text, numbers=False, identifiers=False) == []
    # A capitalised word opening a sentence is not a name; one inside a sentence is.
    assert _protected_words("Cell shape. Cell size: Stage matters; the Cox model") == ["Cox"]


def test_random_substitution_never_touches_numbers_units_or_identifiers(scifact) -> None:
    """Over 40 SciFact abstracts (800 swaps without the window constraint, which the static
    protection does not need): no edit touches a word with a digit, a part of a split number,
    a unit after a number, a spelled-out number or an identifier. Without protection, some do."""
    docs = random.Random(7).sample(sorted(scifact.docs), 40)

    def touches_number(text: str, edit: Edit) -> bool:
        start, end = edit.position, edit.position + len(edit.old)
        before, after = text[max(0, start - 2) : start], text[end : end + 2]
        return bool(
            re.search(r"\d", edit.old)
            or re.fullmatch(r"\d[.,]", before) or re.fullmatch(r"[.,]\d", after)  # "9.17", "10,000"
            or (edit.old in UNITS and re.search(r"\d\s*°?\s*$", text[:start]))  # "5 mg", "37 °C"
            or edit.old.lower() in NUMBER_WORDS
        )

    def is_identifier(edit: Edit) -> bool:
        return len(edit.old) == 1 or any(ch.isupper() for ch in edit.old[1:])

    counts = {}
    for name, params in (("on", dict(OFF, protect_numbers=True, protect_identifiers=True)), ("off", OFF)):
        attack = RandomSubstitution(budget=20, **params)
        n_number = n_identifier = n_edits = 0
        for d in docs:
            target = Target.single("q", "query", d, scifact.docs[d], 90, "hard")
            outcome = attack.attack(target, _refusing_victim(), random.Random(d))
            n_edits += len(outcome.edits)
            n_number += sum(touches_number(target.text, e) for e in outcome.edits)
            n_identifier += sum(is_identifier(e) for e in outcome.edits)
        counts[name] = (n_edits, n_number, n_identifier)
    assert counts["on"][1:] == (0, 0), counts
    assert counts["off"][1] > 10 and counts["off"][2] > 10  # the check has teeth
    assert counts["on"][0] > 0.9 * counts["off"][0]  # and the budget is still spent


# -- senses, parts of speech, inflections -------------------------------------------------------
def test_wordnet_sense_ranks() -> None:
    wordnet = SenseFilter().wordnet
    assert wordnet.sense_rank("cell", "cellphone") == 4  # the noun's fifth sense
    assert wordnet.sense_rank("Cells", "cellphone") == 4  # any case, any inflection
    assert wordnet.sense_rank("study", "survey") == 0
    assert wordnet.sense_rank("shock", "outrage") == 1 and wordnet.sense_rank("shock", "outrage", "n") is None
    assert wordnet.sense_rank("cell", "banana") is None
    assert wordnet.main_pos("first") == "a" and wordnet.main_pos("shock") == "n" and wordnet.main_pos("qwertyx") is None
    assert [wordnet.inflection(w) for w in ("identified", "supplying", "genes", "offspring", "data", "describe")] == [
        "ed", "ing", "s", "", "", ""
    ]


def test_sense_filter_drops_context_blind_senses() -> None:
    default = SenseFilter(max_senses=2, same_pos=True, same_inflection=True)
    for word, candidate in (("cell", "cellphone"), ("stage", "leg"), ("brain", "mind"), ("first", "beginning"), ("shock", "outrage"), ("identified", "describe"), ("genes", "factor")):
        assert not default.admits(word, candidate), (word, candidate)
    for word, candidate in (("reduced", "decreased"), ("data", "information"), ("progeny", "offspring"), ("especially", "particularly")):
        assert default.admits(word, candidate), (word, candidate)
    assert SenseFilter(max_senses=2).admits("shock", "outrage")  # only the part of speech drops it
    assert not SenseFilter(max_senses=None, same_pos=True).admits("shock", "outrage")
    assert SenseFilter(max_senses=None).admits("cell", "anything")  # all off: everything passes
    with pytest.raises(ConfigError, match="max_senses"):
        SenseFilter(max_senses=0)


def test_substitution_options_apply_the_sense_filter() -> None:
    doc = WordSequence("Deformability affects red blood cell function at every stage.")
    synonyms = SynonymSubstitution()
    loose = substitution_options(doc, "", WordConstraints(**OFF), synonyms)
    strict = substitution_options(doc, "", WordConstraints(window_similarity=None), synonyms)
    assert "cellphone" in loose[4] and "cellphone" not in strict.get(4, [])
    assert set(strict.get(4, [])) <= set(loose[4])


# -- windowed similarity ------------------------------------------------------------------------
def test_word_window() -> None:
    text = "one two three four five six seven, eight nine ten"
    span = lambda start, end, n: text[slice(*word_window(text, start, end, n))]
    assert span(8, 13, 3) == "two three four"
    assert span(0, 3, 3) == "one two three"  # the text's start gives its share to the right
    assert span(len(text), len(text), 2) == "nine ten"  # an insertion at the end
    assert span(24, 29, 4) == "five six seven, eight"  # punctuation inside the window stays


def test_window_constraint_rejects_a_context_blind_swap(minilm_bi_encoder) -> None:
    constraint = WindowConstraint(0.96, 11, encoder=minilm_bi_encoder)
    blood = WordSequence("Deformability affects red blood cell physiological function and the hydrodynamic properties of blood.")
    cell = next(p for p in range(len(blood)) if blood.word(p) == "cell")
    mice = WordSequence("Intermittent PTH administration to control mice reduced BMAT significantly in the marrow.")
    reduced = next(p for p in range(len(mice)) if mice.word(p) == "reduced")
    assert not constraint(blood, {}, cell, "cellphone")
    assert constraint(mice, {}, reduced, "decreased")
    # `select` answers as the one-by-one hook does, in batches; changes kept nearby count.
    candidates = ["cellphone", "cellular", "compartment", "jail"]
    assert constraint.select(blood, {}, cell, candidates, 2) == [c for c in candidates if constraint(blood, {}, cell, c)][:2]
    alone, = constraint.similarities(mice, {}, reduced, ["decreased"])
    crowded, = constraint.similarities(mice, {reduced - 1: "shiner"}, reduced, ["decreased"])
    assert crowded < alone
    with pytest.raises(ConfigError):
        WindowConstraint(1.5)


def test_window_similarity_reports_every_edit(minilm_bi_encoder) -> None:
    text = (
        "Deformability affects red blood cell physiological function and the hydrodynamic properties of blood. "
        "We studied both effects in a cohort of mice over two years. Intermittent PTH administration to control "
        "mice reduced BMAT significantly in the marrow."
    )  # the two edits are more than a window (11 words) apart
    edits = [Edit.substitute(text.index("cell"), "cell", "cellphone"), Edit.substitute(text.index("reduced"), "reduced", "decreased")]
    adversarial = apply_edits(text, edits)
    scores = window_similarities(minilm_bi_encoder, text, adversarial, edits)
    assert len(scores) == 2 and scores[0] < 0.96 < scores[1]
    assert window_similarity(minilm_bi_encoder, text, adversarial, edits) == pytest.approx(min(scores))
    records = [e.as_record() for e in edits]  # the form evaluation results keep
    assert window_similarities(WindowedSimilarity(minilm_bi_encoder), text, adversarial, records) == pytest.approx(scores)
    assert window_similarity(minilm_bi_encoder, text, text, []) == 1.0
    with pytest.raises(ValueError, match="do not turn"):
        window_similarity(minilm_bi_encoder, text, text, edits)


def test_random_search_with_a_constraint_keeps_only_admitted_swaps() -> None:
    doc = WordSequence("alpha beta gamma delta epsilon zeta")
    options = {p: ["x", "y", "z"] for p in range(6)}
    no_y = lambda d, changes, position, candidate: candidate != "y" and len(changes) < 10
    found = RandomSearch().run(doc, options, 4, random.Random(0), no_y)
    assert len(found.changes) == 4 and "y" not in found.changes.values()
    assert [e.position for e in found.edits] == sorted(e.position for e in found.edits)
    assert apply_edits(doc.text, found.edits) == doc.replaced(found.changes)


# -- the attacks' parameters ----------------------------------------------------------------------
def test_switching_everything_off_is_the_old_behaviour(scifact) -> None:
    """All off: the old option set (stopwords and source candidates only), the old random draw,
    no accept hook for PRADA's search."""
    synonyms = SynonymSubstitution()
    attack = RandomSubstitution(budget=20, **OFF)
    for d in random.Random(3).sample(sorted(scifact.docs), 5):
        doc = WordSequence(scifact.docs[d])
        old_options = {}
        for position in range(len(doc)):
            word = doc.word(position)
            if not is_stopword(word) and synonyms.candidates(word):
                old_options[position] = [c for c, _ in synonyms.candidates(word)]
        expected = RandomSearch().run(doc, old_options, 20, random.Random(d))
        outcome = attack.attack(Target.single("q", "query", d, doc.text, 90, "hard"), _refusing_victim(), random.Random(d))
        assert outcome.edits == expected.edits and outcome.text == doc.replaced(expected.changes)
    prada = PRADA(**OFF)
    assert prada.constraints.accept is None and prada.constraints.protected_positions(WordSequence("9.17 mg TNF")) == frozenset()
    assert prada.constraints == RandomSubstitution(**OFF).constraints  # equal budget, equal rules


def test_constraint_parameters_are_validated_and_shared() -> None:
    prada, baseline = make("attack", "prada", {}), make("attack", "random_substitution", {})
    assert prada.constraints == baseline.constraints
    assert (prada.constraints.max_senses, prada.constraints.same_pos, prada.constraints.same_inflection) == (2, True, True)
    assert (prada.constraints.window_similarity, prada.constraints.similarity_window) == (0.96, 11)
    assert prada.constraints.protect_numbers and prada.constraints.protect_identifiers
    assert make("attack", "prada", {"max_senses": None, "window_similarity": None}).constraints.accept is None
    for bad in ({"max_senses": 0}, {"window_similarity": 1.5}, {"similarity_window": 0}, {"max_senses": "two"}):
        with pytest.raises(ConfigError):
            make("attack", "random_substitution", bad)
