"""PRADA and its surrogate on real SciFact data, against a small neural victim.

The victim is MiniLM as a cross-encoder with its own (seed 1) head, at 64 tokens: a neural
ranker whose weights the attacker does not have, cheap enough on 2 CPU cores. The surrogate
is deliberately tiny (48 triples, 48 tokens, a few seconds of training): enough to show it
learned the victim's order, not to attack well.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from robustness.registry import make
from robustness.attacks.baselines import RandomSubstitution
from robustness.attacks.attacker_models import training_queries
from robustness.attacks.surrogate import SurrogateConfig, train_surrogate
from robustness.attacks.word_substitution import PRADA
from robustness.protocols.attack import AttackSetup, Target, Victim, apply_edits
from robustness.protocols.evaluation import evaluate_attack, summarise
from robustness.engine import ScoringEngine
from robustness.errors import ConfigError, DataError, RobustnessError
from robustness.metrics import perturbation_fraction, rank_by_insertion

from conftest import ATTACK_LIST_SIZE as LIST_SIZE  # the `protocol` fixture's lists
SURROGATE = {
    "n_train_queries": 12, "n_heldout_queries": 10, "depth": 16, "top": 8, "n_pairs_per_query": 4,
    "max_length": 48, "lr": 3e-4, "device": "cpu",
}


@pytest.fixture(scope="module")
def setup(scifact, victim_engine) -> AttackSetup:
    return AttackSetup("victim", victim_engine, scifact, seed=0, candidates_k=LIST_SIZE, progress=False)


@pytest.fixture(scope="module")
def prada(setup) -> tuple[PRADA, dict]:
    attack = PRADA(budget=3, candidates_per_step=2, window=48, surrogate=SURROGATE)
    return attack, attack.setup(setup)


def _make_rng(*salt) -> random.Random:
    return random.Random("|".join(map(str, salt)))


# -- the surrogate ------------------------------------------------------------------------------
def test_surrogate_learns_the_victims_order(prada) -> None:
    _, figures = prada
    assert figures["cached"] is False
    assert figures["n_train_queries"] == 12 and figures["n_heldout_queries"] == 10
    assert figures["n_triples"] == 12 * 4
    assert figures["victim_queries"] == 12 * 16  # BM25 top-16 of each training query, ranked once
    assert figures["fidelity_victim_queries"] == 10 * 16
    # Rank correlation with the victim on held-out training queries: the trained surrogate
    # agrees with it; the starting model (same encoder, fresh head) does not.
    assert figures["spearman"] > figures["spearman_untrained"] + 0.05
    assert figures["kendall"] > figures["kendall_untrained"] + 0.03
    assert figures["spearman"] > 0


def test_surrogate_is_cached_and_costs_no_victim_query_again(setup, prada, victim_engine) -> None:
    _, figures = prada
    asked = victim_engine.stats.pairs_requested
    surrogate, again = train_surrogate(setup, SurrogateConfig(**SURROGATE))
    assert again["cached"] is True
    assert {k: v for k, v in again.items() if k != "cached"} == {k: v for k, v in figures.items() if k != "cached"}
    assert victim_engine.stats.pairs_requested == asked
    assert surrogate.max_length == 48


def test_surrogate_never_trains_on_test_queries(scifact, cranfield) -> None:
    pool = set(training_queries(scifact))
    assert pool and pool <= set(scifact.qrels["train"]) and not pool & set(scifact.qrels["test"])
    with pytest.raises(DataError, match="no training queries"):
        training_queries(cranfield)  # every Cranfield query is a test query


def test_bad_prada_params_fail_in_one_line() -> None:
    for bad in ({"budget": 0}, {"candidates_per_step": 0}, {"epsilon": 0}, {"window": 1024}, {"surrogate": {"depth": 1}}):
        with pytest.raises(ConfigError):
            PRADA(**bad)
    with pytest.raises(ConfigError, match="surrogate"):
        make("attack", "prada", dict(surrogate={"layers": 3}))
    with pytest.raises(RobustnessError, match="setup"):
        PRADA().attack(Target.single("q", "q", "d", "text", 90, "hard"), None, random.Random(0))


# -- the search ---------------------------------------------------------------------------------
def _targets(scifact, protocol) -> list[tuple[Target, np.ndarray]]:
    queries, rankings, _ = protocol
    qid = sorted(queries)[0]
    ranked = sorted(rankings[qid], key=lambda d: (-rankings[qid][d], d))
    chosen = []
    for rank in (8, 10):
        doc = ranked[rank - 1]
        others = np.array([rankings[qid][d] for d in ranked if d != doc])
        chosen.append((Target.single(qid, queries[qid], doc, scifact.docs[doc], rank, "hard"), others))
    return chosen


def test_prada_counts_victim_queries_exactly_and_is_reproducible(prada, victim_engine, scifact, protocol) -> None:
    attack, _ = prada
    for target, others in _targets(scifact, protocol):
        counting = ScoringEngine(victim_engine.ranker, progress=False)  # sees only the victim's queries
        victim = Victim(counting, [target.query], [others])
        outcome = attack.attack(target, victim, random.Random(1))
        assert victim.queries_used == counting.stats.pairs_requested > 0
        again = attack.attack(target, Victim(victim_engine, [target.query], [others]), random.Random(2))
        assert (again.text, again.edits) == (outcome.text, outcome.edits)

        assert len(outcome.edits) <= 3
        assert apply_edits(target.text, outcome.edits) == outcome.text
        ranks = [target.old_rank] + [e.ranks[0] for e in outcome.edits]
        assert all(a > b for a, b in zip(ranks, ranks[1:]))  # every kept edit improved the rank
        final = rank_by_insertion(others, victim_engine.score([target.query], [outcome.text])[0])
        assert final == ranks[-1]


def test_prada_keeping_rank_ties_never_loses_rank(setup, victim_engine, scifact, protocol) -> None:
    ties = PRADA(budget=3, candidates_per_step=2, window=48, keep_rank_ties=True, surrogate=SURROGATE)
    ties.setup(setup)  # loads the cached surrogate
    for target, others in _targets(scifact, protocol):
        outcome = ties.attack(target, Victim(victim_engine, [target.query], [others]), random.Random(0))
        assert len(outcome.edits) <= 3
        rank = target.old_rank
        for kept in range(len(outcome.edits)):
            edit = outcome.edits[kept]
            before = apply_edits(target.text, outcome.edits[:kept])
            assert edit.ranks[0] <= rank
            if edit.ranks[0] == rank:  # a tie is kept only when the surrogate scores it higher
                old_score, new_score = ties._guide.score(target.query, [before, apply_edits(target.text, outcome.edits[: kept + 1])])
                assert new_score > old_score
            rank = edit.ranks[0]
        assert apply_edits(target.text, outcome.edits) == outcome.text
        if outcome.edits:
            assert rank_by_insertion(others, victim_engine.score([target.query], [outcome.text])[0]) == rank


def test_prada_stops_at_the_victim_budget(prada, victim_engine, scifact, protocol) -> None:
    attack, _ = prada
    target, others = _targets(scifact, protocol)[1]
    victim = Victim(victim_engine, [target.query], [others], budget=3)
    outcome = attack.attack(target, victim, random.Random(0))  # no BudgetExhausted escapes
    assert victim.queries_used <= 3
    assert len(outcome.edits) <= victim.queries_used


def test_prada_against_random_substitution_end_to_end(setup, prada, victim_engine, scifact, protocol) -> None:
    # Both without the "same text" constraints (tests/test_constraints.py): in a 48-token
    # window they leave PRADA almost no admissible swap, and this test is about the search.
    off = dict(protect_numbers=False, protect_identifiers=False, max_senses=None, same_pos=False, same_inflection=False, window_similarity=None)
    attack = PRADA(budget=3, candidates_per_step=2, window=48, surrogate=SURROGATE, **off)
    attack.setup(setup)  # loads the cached surrogate
    queries, rankings, relevant = protocol
    one = {q: queries[q] for q in sorted(queries)[:1]}
    kwargs = dict(groups=("hard",), progress=False, list_size=LIST_SIZE)
    baseline = RandomSubstitution(budget=3, **off)
    prada_results = evaluate_attack(victim_engine, attack, one, rankings, scifact.docs, relevant, _make_rng, **kwargs)
    random_results = evaluate_attack(victim_engine, baseline, one, rankings, scifact.docs, relevant, _make_rng, **kwargs)
    assert len(prada_results) == len(random_results) == 5
    for r in prada_results:
        original = scifact.docs[r.doc_id]
        assert r.new_rank <= r.old_rank or r.adversarial_text == original  # only improving edits are kept
        assert (r.new_rank < r.old_rank) == bool(r.edits)
        assert r.pp == pytest.approx(perturbation_fraction(original, r.adversarial_text))
        assert r.pp * len(original.split()) <= 3 + 1e-9
        assert r.victim_queries > 0
    for r in random_results:
        assert r.victim_queries == 0 and len(r.edits) <= 3
    prada_summary, random_summary = summarise(prada_results)["all"], summarise(random_results)["all"]
    assert prada_summary["n_targets"] == random_summary["n_targets"] == 5
    # At the same 3-word budget, on the same targets: PRADA keeps only what the victim rewards,
    # random synonyms do not look at the victim at all.
    assert prada_summary["boost"] > 0 and prada_summary["boost"] > random_summary["boost"]
    assert prada_summary["asr"] >= random_summary["asr"]
    assert all(p.new_rank <= p.old_rank for p in prada_results)
