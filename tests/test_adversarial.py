"""The adversarial protocol: target selection, the counted victim, and evaluate_attack on real data."""

from __future__ import annotations

import random

import numpy as np
import pytest

from robustness.attacks.baselines import KeywordStuffing
from robustness.protocols.attack import AttackOutcome, BudgetExhausted, Target, Victim
from robustness.protocols.evaluation import evaluate_attack, records, select_targets, summarise
from robustness.data import bm25_candidates
from robustness.engine import ScoringEngine
from robustness.errors import ConfigError
from robustness.metrics import perturbation_fraction
from robustness.rankers.bm25 import BM25Ranker
from robustness.rankers.callable import CallableRanker

RANKED = [f"d{i:03d}" for i in range(1, 121)]  # d001 at rank 1 ... d120 at rank 120


# -- target selection -------------------------------------------------------------------------
def _rank(doc: str) -> int:
    return RANKED.index(doc) + 1


def test_select_targets_easy_and_hard() -> None:
    chosen = select_targets(RANKED, random.Random(0))
    assert [rank for _, rank in chosen["hard"]] == [96, 97, 98, 99, 100]  # the last five of the top-100
    easy_ranks = [rank for _, rank in chosen["easy"]]
    assert len(easy_ranks) == 5
    for (doc, rank), low in zip(chosen["easy"], (51, 61, 71, 81, 91)):
        assert low <= rank <= low + 9  # one per 10-rank bin of 51..100
        assert _rank(doc) == rank


def test_easy_and_hard_targets_never_overlap() -> None:
    """The 91-100 bin holds the Hard-5: an Easy-5 draw from it must avoid them, or "all" would
    count one (query, document) twice."""
    for seed in range(200):
        chosen = select_targets(RANKED, random.Random(seed))
        easy, hard = {d for d, _ in chosen["easy"]}, {d for d, _ in chosen["hard"]}
        assert not easy & hard
        assert 91 <= chosen["easy"][-1][1] <= 95  # the last bin still yields an Easy target


def test_select_targets_excludes_relevant_documents() -> None:
    relevant = {"d100", "d099", "d055", "d051", "d052", "d053", "d054", "d056", "d057", "d058", "d059", "d060"}
    for seed in range(20):
        chosen = select_targets(RANKED, random.Random(seed), exclude=relevant)
        assert [rank for _, rank in chosen["hard"]] == [94, 95, 96, 97, 98]
        picked = [doc for doc, _ in chosen["easy"] + chosen["hard"]]
        assert not set(picked) & relevant
        # the 51-60 bin is entirely relevant, so it yields no easy target
        assert [(r - 51) // 10 for _, r in chosen["easy"]] == [1, 2, 3, 4]


def test_select_targets_short_lists_yield_nothing() -> None:
    assert select_targets(RANKED[:99], random.Random(0)) == {"easy": [], "hard": []}
    assert select_targets([], random.Random(0)) == {"easy": [], "hard": []}


def test_select_targets_is_deterministic_and_seed_dependent() -> None:
    runs = [select_targets(RANKED, random.Random(seed)) for seed in range(10)]
    assert runs[3] == select_targets(RANKED, random.Random(3))
    assert len({tuple(r["easy"]) for r in runs}) > 1  # different seeds pick different easy targets
    assert all(r["hard"] == runs[0]["hard"] for r in runs)


# -- the counted victim ---------------------------------------------------------------------------
def test_victim_counts_queries_and_enforces_the_budget() -> None:
    length = CallableRanker(lambda q, d: [float(len(x.split())) for x in d], name="length", version="1")
    engine = ScoringEngine(length, progress=False)
    victim = Victim(engine, ["query"], [np.array([5.0, 3.0, 3.0, 1.0])], budget=5)
    assert victim.ranks(["a b c d", "a"]) == [2, 5]  # 4 words: below 5.0, above the 3.0s; 1 word: a tie with 1.0 ranks below it
    assert victim.queries_used == 2
    assert victim.ranks(["a b c", "w x y z v u", "a b"]) == [4, 1, 4]  # a tie ranks below
    assert victim.queries_used == 5
    with pytest.raises(BudgetExhausted):
        victim.ranks(["one more"])
    assert victim.queries_used == 5
    unlimited = Victim(engine, ["query"], [np.array([1.0])])
    unlimited.ranks(["x"] * 50)
    assert unlimited.queries_used == 50


# -- evaluate_attack on BM25 over Cranfield ---------------------------------------------------------
@pytest.fixture(scope="module")
def bm25_setting(cranfield):
    queries_all, qrels = cranfield.split("test")
    queries = {q: queries_all[q] for q in sorted(queries_all, key=int)[:3]}
    ranker = BM25Ranker()
    candidates = bm25_candidates(cranfield, queries, k=100, bm25=ranker)
    engine = ScoringEngine(ranker, progress=False)
    rankings = {}
    for qid, ids in candidates.items():
        scores = engine.score([queries[qid]] * len(ids), [cranfield.docs[d] for d in ids])
        rankings[qid] = dict(zip(ids, map(float, scores)))
    relevant = {q: {d for d, g in qrels[q].items() if g > 0} for q in queries}
    return ranker, engine, queries, rankings, relevant


def _make_rng(*salt) -> random.Random:
    return random.Random("|".join(map(str, salt)))


def test_keyword_stuffing_start_never_hurts_bm25(cranfield, bm25_setting) -> None:
    ranker, engine, queries, rankings, relevant = bm25_setting
    assert all(len(r) == 100 for r in rankings.values())
    results = evaluate_attack(engine, KeywordStuffing("start"), queries, rankings, cranfield.docs, relevant, _make_rng, progress=False)

    assert {r.query_id for r in results} == set(queries)
    for qid in queries:
        mine = [r for r in results if r.query_id == qid]
        assert sum(r.group == "hard" for r in mine) == 5
        assert 1 <= sum(r.group == "easy" for r in mine) <= 5
    for r in results:
        ranked = sorted(rankings[r.query_id], key=lambda d: (-rankings[r.query_id][d], d))
        assert ranked.index(r.doc_id) + 1 == r.old_rank
        assert r.old_rank > 50
        assert r.doc_id not in relevant[r.query_id]
        original = cranfield.docs[r.doc_id]
        assert r.adversarial_text == f"{queries[r.query_id].strip()} {original}"
        assert r.new_rank <= r.old_rank
        assert r.pp == pytest.approx(perturbation_fraction(original, r.adversarial_text))
        assert r.pp == pytest.approx(len(queries[r.query_id].split()) / len(original.split()))
        assert r.victim_queries == 0  # static: it never asks the victim
        assert r.attack == "query+start"
    assert np.mean([r.new_rank < r.old_rank for r in results]) > 0.9

    summary = summarise(results)
    assert set(summary) == {"easy", "hard", "all"}
    assert summary["all"]["n_targets"] == len(results)
    assert summary["all"]["pp"] == pytest.approx(100 * np.mean([r.pp for r in results]))
    assert summary["hard"]["n_targets"] == 15
    assert len(records(results)) == len(results) and records(results)[0]["attack"] == "query+start"


def test_new_rank_equals_a_full_rerank(cranfield, bm25_setting) -> None:
    ranker, engine, queries, rankings, relevant = bm25_setting
    attack = KeywordStuffing("repeat", times=2)
    results = evaluate_attack(engine, attack, queries, rankings, cranfield.docs, relevant, _make_rng, groups=("hard",), progress=False)
    assert len(results) == 15
    for r in results:
        ids = list(rankings[r.query_id])
        texts = [r.adversarial_text if d == r.doc_id else cranfield.docs[d] for d in ids]
        scores = ranker.score([queries[r.query_id]] * len(ids), texts)  # fresh scores, no engine
        target = scores[ids.index(r.doc_id)]
        order = sorted(range(len(ids)), key=lambda i: (-scores[i], ids[i] == r.doc_id))
        assert order.index(ids.index(r.doc_id)) + 1 == r.new_rank
        assert target > rankings[r.query_id][r.doc_id]  # the stuffed copy scores higher


def test_evaluate_attack_is_deterministic(cranfield, bm25_setting) -> None:
    ranker, engine, queries, rankings, relevant = bm25_setting
    first = evaluate_attack(engine, KeywordStuffing("repeat"), queries, rankings, cranfield.docs, relevant, _make_rng, progress=False)
    second = evaluate_attack(engine, KeywordStuffing("repeat"), queries, rankings, cranfield.docs, relevant, _make_rng, progress=False)
    assert [(r.doc_id, r.adversarial_text, r.new_rank) for r in first] == [(r.doc_id, r.adversarial_text, r.new_rank) for r in second]


class ProbeTwice:
    """An attack that asks the victim twice (counted) and then gives up."""

    name = "probe"

    def attack(self, target, victim, rng):
        victim.ranks([target.text + " one", target.text + " two"])
        return AttackOutcome(target.text)


def test_victim_queries_and_budget_are_recorded(cranfield, bm25_setting) -> None:
    ranker, engine, queries, rankings, relevant = bm25_setting
    one = {q: queries[q] for q in list(queries)[:1]}
    results = evaluate_attack(engine, ProbeTwice(), one, rankings, cranfield.docs, relevant, _make_rng, victim_budget=2, progress=False)
    assert results and all(r.victim_queries == 2 for r in results)
    assert all(r.new_rank >= r.old_rank for r in results)  # unchanged text: a tie ranks it no higher
    assert all(r.pp == 0.0 for r in results)
    with pytest.raises(BudgetExhausted):
        evaluate_attack(engine, ProbeTwice(), one, rankings, cranfield.docs, relevant, _make_rng, victim_budget=1, progress=False)
    with pytest.raises(ConfigError, match="unknown target group"):
        evaluate_attack(engine, ProbeTwice(), one, rankings, cranfield.docs, relevant, _make_rng, groups=("medium",), progress=False)


def test_keyword_stuffing_positions() -> None:
    target = Target.single("q", "shock waves", "d", "a b c d e f", 90, "easy")
    end = KeywordStuffing("end").attack(target, None, random.Random(0))
    assert end.text == "a b c d e f shock waves"
    repeat = KeywordStuffing("repeat", times=3).attack(target, None, random.Random(0))
    words = repeat.text.split()
    assert len(words) == 6 + 3 * 2
    assert [w for w in words if w not in ("shock", "waves")] == list("abcdef")  # order kept
    assert repeat.text.count("shock waves") == 3
    for bad in ({"position": "middle"}, {"times": 0}):
        with pytest.raises(ConfigError):
            KeywordStuffing(**bad)
