"""CertDR's substitution sets, smoothing samples and Δ_d (defenses/smoothing.py), on a tiny
synonym graph where every smoothed score can be computed exactly by enumeration."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

from robustness.defenses.smoothing import SubstitutionSets, shift_bound
from robustness.errors import ConfigError
from robustness.text.tokenize import split_tokens

RING = [f"p{i}" for i in range(6)]


class TinyGraph:
    """A small component {cat, feline, kitty}; a 6-word clique whose neighbour lists rotate
    (p_i: p_{i+1}, p_{i+2}, ...), too large for max_size=3; 'zzz' has no synonyms."""

    def neighbours(self, word: str, k: int) -> list[tuple[str, float]]:
        small = {"cat": ["feline", "kitty"], "feline": ["cat"], "kitty": ["cat"]}
        if word in small:
            found = small[word]
        elif word == "q":  # one synonym, inside the large clique
            found = ["p0"]
        elif word in RING:
            i = RING.index(word)
            found = [RING[(i + j) % 6] for j in range(1, 6)]
        else:
            found = []
        return [(w, 1.0 - 0.1 * rank) for rank, w in enumerate(found[:k])]


@pytest.fixture
def sets() -> SubstitutionSets:
    return SubstitutionSets(TinyGraph(), max_size=3)


def test_sets_are_components_or_nearest_words(sets) -> None:
    assert sets.of("kitty") == ("cat", "feline", "kitty")  # the whole component, reached through cat
    assert sets.of("p0") == ("p0", "p1", "p2")  # the clique is too large: p0 and its 2 nearest
    assert sets.of("p4") == ("p0", "p4", "p5")
    assert sets.of("zzz") == ("zzz",)


def test_overlap_and_delta_by_hand(sets) -> None:
    # T_p0 = {p0,p1,p2}; T_p1 = {p1,p2,p3} shares 2 of 3; T_p2 = {p2,p3,p4} shares 1 of 3.
    assert sets.overlap("p0") == pytest.approx(1 / 3)
    assert sets.overlap("cat") == 1.0 and sets.overlap("zzz") == 1.0
    assert sets.delta(["cat", "p0", "zzz"]) == pytest.approx(2 / 3)
    assert sets.delta(["p0", "p3"]) == pytest.approx(1 - 1 / 9)
    assert sets.delta(["p0", "p3"], budget=1) == pytest.approx(2 / 3)
    assert sets.delta(["p0", "p3"], budget=0) == 0.0
    assert shift_bound([0.5, 0.8, 0.9]) == pytest.approx(0.64)
    assert shift_bound([0.5, 0.8, 0.9], budget=2) == pytest.approx(0.6)
    with pytest.raises(ConfigError, match="budget R"):
        shift_bound([0.5], budget=-1)


def _base(words: list[str]) -> float:
    """A base ranker's score of a document, squashed to [0, 1]."""
    raw = 2.0 * words.count("cat") + 1.0 * words.count("kitty") - 1.5 * sum(w in ("p1", "p3") for w in words) + 0.3 * len(set(words))
    return 1.0 / (1.0 + math.exp(-raw))


def _exact_smoothed(words: list[str], sets: SubstitutionSets) -> float:
    draws = list(itertools.product(*(sets.of(w) for w in words)))
    return sum(_base(list(d)) for d in draws) / len(draws)


def test_monte_carlo_smoothing_converges_to_the_exact_expectation(sets) -> None:
    words = ["cat", "p0", "zzz", "p3"]
    copies = [c.split() for c in sets.copies(split_tokens(" ".join(words)), 20000, np.random.default_rng(5))]
    estimate = sum(_base(c) for c in copies) / len(copies)
    assert estimate == pytest.approx(_exact_smoothed(words, sets), abs=0.01)
    assert all(c[2] == "zzz" for c in copies)  # a word without synonyms stays
    assert {tuple(c) for c in copies} == set(itertools.product(*(sets.of(w) for w in words)))  # every draw reachable


@pytest.mark.parametrize("budget", [None, 1])
def test_no_substitution_moves_the_exact_smoothed_score_by_more_than_delta(sets, budget) -> None:
    """Brute force: every document reachable by substituting words with members of their sets
    (at most `budget` of them) keeps its exact smoothed score within Δ_d of the original's."""
    words = ["cat", "p0", "zzz", "p3"]
    original = _exact_smoothed(words, sets)
    bound = sets.delta(words, budget=budget)
    worst = 0.0
    for attacked in itertools.product(*(sets.of(w) for w in words)):
        changed = sum(a != w for a, w in zip(attacked, words))
        if budget is None or changed <= budget:
            worst = max(worst, abs(_exact_smoothed(list(attacked), sets) - original))
    assert 0.0 < worst <= bound + 1e-12


def test_delta_stays_sound_when_a_neighbours_set_is_larger(sets) -> None:
    """T_q = {q, p0} (q has one synonym in the large clique), T_p0 = {p0, p1, p2}: uniform
    draws share 1/3 of their mass, not the 1/2 that |T_v ∩ T_w| / |T_w| would claim, and a base
    ranker that likes q and p0 but not p1, p2 moves the smoothed score by 2/3 when q -> p0."""
    assert sets.of("q") == ("p0", "q")
    assert sets.overlap("q") == pytest.approx(1 / 3)

    def exact(word: str) -> float:
        return sum(w in ("q", "p0") for w in sets.of(word)) / len(sets.of(word))

    assert exact("q") - exact("p0") == pytest.approx(2 / 3)
    assert exact("q") - exact("p0") <= sets.delta(["q"]) + 1e-12


def _toy_engine(seen: list[tuple[str, str]] | None = None):
    from robustness import CallableRanker
    from robustness.engine import ScoringEngine

    def score(queries, docs):
        if seen is not None:
            seen.extend(zip(queries, docs))
        return [math.log(_base(d.split()) / (1 - _base(d.split()))) for d in docs]  # sigmoid(score) = _base

    return ScoringEngine(CallableRanker(score, name="toy", version="1"), progress=False)


def _certdr(**params):
    from pathlib import Path

    from robustness.defenses.certdr import CertDR

    return CertDR(temperature=1.0, synonym_source=f"{Path(__file__)}:TinyGraph", set_size=3, **params)


@pytest.mark.parametrize("looks", [1, 5])
def test_certdr_certificates_survive_every_substitution(sets, looks) -> None:
    """CertDR on a tiny collection through the real engine: the loose rule never certifies a K
    the tight rule does not, and at every K certified by any rule no document outside the top K
    enters it under any substitution (exact smoothed scores, by enumeration); with early
    stopping too, which here saves samples."""
    # exact smoothed scores 0.882, 0.709, 0.803, 0.574; Δ 0, 2/3, 0, 0
    docs = ["cat kitty", "cat p5", "feline zzz", "zzz"]
    certificate = _certdr(samples=3000, looks=looks).certify("cats", docs, [1, 2, 3], _toy_engine(), random.Random(0))

    assert len(certificate.scores) == len(docs) and all(0 <= g <= 1 for g in certificate.scores)
    assert set(certificate.certified["loose"]) <= set(certificate.certified["tight"])
    assert certificate.figures["epsilon"] == pytest.approx(2 * math.sqrt(math.log(40 * looks) / 6000))
    # K = 3: 0.709 - 0.574 = 0.135 beats ε = 0.05 and the Bernstein widths; the loose rule
    # subtracts the list's largest Δ (2/3, a top-3 document's) and certifies nothing.
    assert certificate.certified == {"loose": [], "tight": [3], "hoeffding": [3], "bernstein": [3]}
    assert (certificate.figures["samples_share"] == 1.0) == (looks == 1)
    exact = [_exact_smoothed(d.split(), sets) for d in docs]
    order = sorted(range(len(docs)), key=lambda i: -certificate.scores[i])
    for rule, ks in certificate.certified.items():
        for k in ks:
            floor = min(exact[i] for i in order[:k])
            for i in order[k:]:
                words = docs[i].split()
                worst = max(_exact_smoothed(list(a), sets) for a in itertools.product(*(sets.of(w) for w in words)))
                assert worst < floor, (rule, k, docs[i])


def test_a_document_gets_the_same_copies_in_every_list() -> None:
    """The copies of a document depend on the run's seed and its text, not on the query or its
    place in the list, so caches serve them once for all queries that list it."""
    seen: list[tuple[str, str]] = []
    certdr, engine = _certdr(samples=40), _toy_engine(seen)
    certdr.certify("q one", ["cat p0 p3", "kitty"], [1], engine, random.Random(9))
    certdr.certify("q two", ["feline", "cat p0 p3"], [1], engine, random.Random(9))
    copies = {q: {d for qq, d in seen if qq == q and len(d.split()) == 3} for q in ("q one", "q two")}  # distinct copies (the engine de-duplicates)
    assert len(copies["q one"]) > 5 and copies["q one"] == copies["q two"]
    seen.clear()
    certdr.certify("q one", ["cat p0 p3", "kitty"], [1], _toy_engine(seen), random.Random(10))
    assert {d for _, d in seen if len(d.split()) == 3} != copies["q one"]  # another seed, other copies


def test_a_budget_list_certifies_the_same_samples_at_every_attack_size() -> None:
    """One pass, rules per R: a larger attack budget never certifies more, and R = 0 (no
    substitution) certifies what the Monte Carlo error allows."""
    docs = ["cat kitty", "cat p5", "feline zzz", "p0 p3 zzz"]
    certificate = _certdr(samples=400, budget=[0, 1, None]).certify("cats", docs, [1, 2, 3], _toy_engine(), random.Random(0))
    assert set(certificate.certified) == {f"{rule} R={r}" for rule in ("loose", "tight", "hoeffding", "bernstein") for r in ("0", "1", "any")}
    for rule in ("loose", "tight", "hoeffding", "bernstein"):
        zero, one, any_ = (set(certificate.certified[f"{rule} R={r}"]) for r in ("0", "1", "any"))
        assert any_ <= one <= zero
    assert certificate.figures["mean_delta R=0"] == 0.0 < certificate.figures["mean_delta R=1"] <= certificate.figures["mean_delta R=any"]
    assert 3 in certificate.certified["bernstein R=0"]
    assert certificate.certified["loose R=0"] == certificate.certified["tight R=0"]  # Δ = 0, equal n: one rule


@pytest.mark.parametrize("looks", [1, 3])
def test_certdr_intervals_spend_alpha_over_the_looks(looks) -> None:
    """With scores that never vary (no word has a synonym), each Bernstein interval is exactly
    the Maurer-Pontil radius 7 ln(2/δ) / (3(n - 1)) on both sides, δ = α / (looks · 2 · list):
    every round spends only its share of α, or the running intersection would not hold."""
    docs = ["zzz", "zzz www"]  # smoothed scores 0.574 and 0.646, variance 0
    certificate = _certdr(samples=3000, looks=looks).certify("cats", docs, [1], _toy_engine(), random.Random(0))
    n = certificate.figures["samples"]
    delta = 0.05 / (looks * 2 * len(docs))
    assert certificate.figures["mean_bernstein_width"] == pytest.approx(2 * 7 * math.log(2 / delta) / (3 * (n - 1)), rel=1e-9)
