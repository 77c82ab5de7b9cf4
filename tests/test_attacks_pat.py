"""The imitation attack (Order-Disorder / PAT) on real SciFact data, against a small neural victim.

As in the PRADA tests, the victim is MiniLM as a cross-encoder with its own (seed 1) head at 64
tokens, and the imitation model is deliberately tiny (12 training queries, 48 tokens, a few
seconds of training): enough to show that it learned the victim's order and that the search
and the accounting behave, not to attack well.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from robustness.attacks.baselines import RandomTrigger
from robustness.attacks.imitation import ImitationConfig, imitation_pairs, train_imitation
from robustness.attacks.triggers import PAT, TriggerSearch, trigger_vocabulary
from robustness.engine import ScoringEngine
from robustness.errors import ConfigError, RobustnessError
from robustness.protocols.attack import AttackSetup, Target, Victim, apply_edits
from robustness.protocols.evaluation import evaluate_attack
from robustness.registry import make
from robustness.text.language_model import NGramLanguageModel

from conftest import ATTACK_LIST_SIZE as LIST_SIZE  # the `protocol` fixture's lists
IMITATION = {
    "n_train_queries": 12, "n_heldout_queries": 10, "depth": 16, "top": 8, "below": 2, "n_pairs_per_query": 16,
    "max_length": 48, "lr": 3e-4, "device": "cpu",
}
SEARCH = {"length": 3, "steps": 3, "candidates": 2, "anchor_depth": 10}


@pytest.fixture(scope="module")
def setup(scifact, victim_engine) -> AttackSetup:
    return AttackSetup("victim", victim_engine, scifact, seed=0, candidates_k=LIST_SIZE, progress=False)


@pytest.fixture(scope="module")
def prepared(setup, victim_engine) -> tuple[PAT, dict, int]:
    """PAT set up once: the attack, its setup figures, and the victim pairs the setup asked for."""
    before = victim_engine.stats.pairs_requested
    attack = PAT(imitation=IMITATION, **SEARCH)
    figures = attack.setup(setup)
    return attack, figures, victim_engine.stats.pairs_requested - before


def _make_rng(*salt) -> random.Random:
    return random.Random("|".join(map(str, salt)))


# -- imitation data -----------------------------------------------------------------------------
def test_imitation_pairs_are_the_inner_pairs_plus_samples_from_below() -> None:
    ranking = ["a", "b", "c", "d", "e", "f"]
    pairs = imitation_pairs(ranking, top=3, below=2, rng=random.Random(0))
    inner = [("a", "b"), ("a", "c"), ("b", "c")]
    assert pairs[:3] == inner
    tail = pairs[3:]
    assert len(tail) == 3 * 2  # 2 documents from under rank 3 for each top document
    assert all(preferred in "abc" and other in "def" for preferred, other in tail)
    assert all(len({o for p, o in tail if p == top}) == 2 for top in "abc")  # drawn without replacement
    # A list no longer than `top` has only its inner pairs.
    assert imitation_pairs(["a", "b"], top=3, below=4, rng=random.Random(0)) == [("a", "b")]


def test_imitation_learns_the_victims_order_from_training_queries_only(prepared, scifact, protocol) -> None:
    _, figures, asked = prepared
    assert figures["cached"] is False
    train = set(figures["train_query_ids"])
    assert len(train) == 12 and train <= set(scifact.qrels["train"])
    assert not train & set(scifact.qrels["test"]) and not train & set(protocol[0])
    # Victim queries are counted exactly: every pair the setup asked for, and nothing else.
    assert figures["victim_queries"] == 12 * 16 and figures["fidelity_victim_queries"] == 10 * 16
    assert asked == figures["victim_queries"] + figures["fidelity_victim_queries"]
    assert figures["n_triples"] == 12 * 16
    # Fidelity on held-out training queries: the imitation model agrees with the victim's
    # top more than the starting model (same encoder, fresh head) does.
    for name in ("top10_overlap", "rbo", "spearman", "kendall"):
        assert name in figures and f"{name}_untrained" in figures
    assert figures["rbo"] > figures["rbo_untrained"]
    assert figures["spearman"] > figures["spearman_untrained"]


def test_imitation_is_cached_and_costs_no_victim_query_again(setup, prepared, victim_engine) -> None:
    _, figures, _ = prepared
    asked = victim_engine.stats.pairs_requested
    _, again = train_imitation(setup, ImitationConfig(**IMITATION))
    assert again["cached"] is True and again["victim_queries"] == figures["victim_queries"]
    assert victim_engine.stats.pairs_requested == asked


# -- the trigger search ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def search(prepared, scifact) -> TriggerSearch:
    attack, _, _ = prepared
    model = attack._search.model
    language_model = NGramLanguageModel(3).fit(list(scifact.docs.values())[:500])
    return TriggerSearch(model, language_model, length=4, steps=4, candidates=3)


def test_trigger_objective_never_worsens_and_is_reproducible(search, scifact, protocol) -> None:
    queries, rankings, _ = protocol
    qid = sorted(queries)[0]
    order = sorted(rankings[qid], key=rankings[qid].get, reverse=True)
    target, anchor = scifact.docs[order[-1]], scifact.docs[order[0]]
    tokens = search.run(queries[qid], target, anchor, random.Random(7))
    history = list(search.history)
    assert len(history) >= 2, "the search should find at least one improving flip"
    assert all(b > a for a, b in zip(history, history[1:]))
    assert len(tokens) == 4 and set(tokens) <= set(trigger_vocabulary(search.model.tokenizer))
    assert search.run(queries[qid], target, anchor, random.Random(7)) == tokens
    assert search.history == history


def test_trigger_text_reads_back_as_its_tokens(search) -> None:
    tokenizer = search.model.tokenizer
    tokens = [int(t) for t in search.vocabulary[[0, 500, 5000, 20000]]]
    assert tokenizer(search.text(tokens), add_special_tokens=False)["input_ids"] == tokens


# -- PAT and the random-trigger baseline through the attack protocol -------------------------------
@pytest.mark.slow
def test_pat_transfers_without_asking_the_victim_and_replays(prepared, victim_engine, scifact, protocol) -> None:
    attack, _, _ = prepared
    queries, rankings, relevant = protocol
    results = evaluate_attack(victim_engine, attack, queries, rankings, scifact.docs, relevant, _make_rng, list_size=LIST_SIZE, progress=False)
    assert results and all(r.victim_queries == 0 for r in results)
    vocabulary = set(attack._search.model.tokenizer.convert_ids_to_tokens(list(trigger_vocabulary(attack._search.model.tokenizer))))
    for r in results:
        (edit,) = r.edits
        assert edit["kind"] == "insert" and edit["position"] == 0
        assert r.adversarial_text == edit["new"] + scifact.docs[r.doc_id]
        assert len(edit["new"].split()) == 3 and set(edit["new"].split()) <= vocabulary
    first = sorted(queries)[:1]  # reproducible: the same triggers again under the same seeds
    again = evaluate_attack(victim_engine, attack, {q: queries[q] for q in first}, rankings, scifact.docs, relevant, _make_rng, list_size=LIST_SIZE, progress=False)
    assert [r.adversarial_text for r in again] == [r.adversarial_text for r in results if r.query_id in first]


def test_random_trigger_is_static_seeded_and_placed(scifact) -> None:
    text = scifact.docs[next(iter(scifact.docs))]
    target = Target.single("q", "a query", "d", text, 60, "easy")
    victim = Victim(ScoringEngine.__new__(ScoringEngine), ["a query"], [np.zeros(3)])  # never scored
    end = RandomTrigger(length=5, position="end")
    outcome = end.attack(target, victim, random.Random(3))
    assert victim.queries_used == 0
    assert outcome.text.startswith(text) and len(outcome.text[len(text):].split()) == 5
    assert apply_edits(text, outcome.edits) == outcome.text
    assert end.attack(target, victim, random.Random(3)).text == outcome.text
    assert end.attack(target, victim, random.Random(4)).text != outcome.text


def test_pat_needs_setup_and_refuses_bad_params() -> None:
    with pytest.raises(RobustnessError, match="setup"):
        PAT().attack(Target.single("q", "x", "d", "text", 60, "easy"), None, random.Random(0))  # type: ignore[arg-type]
    for params, message in (
        ({"length": 0}, "length"), ({"position": "middle"}, "position"), ({"anchors": 6}, "anchor_pool"),
        ({"fluency_weight": -1}, "fluency_weight"), ({"language_model": "bogus"}, "unknown language model"),
        ({"imitation": {"top": 80}}, "top"), ({"imitation": {"nope": 1}}, "imitation params"),
    ):
        with pytest.raises(ConfigError, match=message):
            make("attack", "pat", params, where="test")
    with pytest.raises(ConfigError, match="length"):
        make("attack", "random_trigger", {"length": 0}, where="test")
