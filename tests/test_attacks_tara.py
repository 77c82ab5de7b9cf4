"""TARA, the topic-oriented attack: its reward, its environment, its policy training, and the
attack end to end on real SciFact data against the small neural victim.

The policy tests use a lexical stand-in for the surrogate (a query's score is how many of its
words the text holds), so that what is tested is the learning, not a model: the rewards are
known by hand, and a policy that learned to read the features must beat uniform choice.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from robustness.attacks.attacker_models import training_queries
from robustness.attacks.topic import (
    TARA, Action, PolicyConfig, TopicEnvironment, TopicPolicy, mean_reward, policy_chooser, random_chooser, topic_reward, train_policy,
)
from robustness.errors import ConfigError, RobustnessError
from robustness.protocols.attack import apply_edits
from robustness.protocols.groups import QueryGroup, evaluate_group_attack

from conftest import ATTACK_LIST_SIZE as LIST_SIZE
from test_attacks_prada import SURROGATE


def lexical(queries, texts) -> np.ndarray:
    """Score = number of distinct query words in the text (a stand-in surrogate)."""
    return np.array([len(set(q.split()) & set(t.lower().split())) for q, t in zip(queries, texts)], dtype=float)


TOPIC = ["alpha", "beta", "gamma", "delta", "omega", "sigma"]
FILLER = ["one", "two", "three", "four", "five", "six", "seven", "eight"]


def toy_environment(seed: int, budget: int = 2, bonus: float = 1.0) -> TopicEnvironment:
    """Three queries of topic words; the document holds filler; actions substitute a filler word
    by a topic or a filler word, or prepend a topic word; estimates are the exact single-action
    score changes."""
    rng = random.Random(seed)
    queries = [" ".join(rng.sample(TOPIC, 3)) for _ in range(3)]
    text = " ".join(FILLER[:6])
    actions = [Action(p, rng.choice(TOPIC + FILLER)) for p in range(6) for _ in range(2)]
    actions += [Action(-1, w) for w in rng.sample(TOPIC, 2)]
    actions = list(dict.fromkeys(actions))
    others = [np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]) for _ in queries]
    env = TopicEnvironment(lexical, queries, others, text, actions, np.zeros((len(actions), len(queries))), bonus, budget)
    env.estimates = np.stack([env.scores(env.text([a])) - env.start_scores for a in range(len(actions))])
    return env


# -- reward and environment ---------------------------------------------------------------------
def test_topic_reward_by_hand() -> None:
    assert topic_reward([10, 5, 3], [8, 5, 4], bonus=1.0) == (2 + 0 - 1) + 1
    assert topic_reward([10, 5, 3], [8, 5, 4], bonus=0.0) == 1
    assert topic_reward([4, 4], [1, 2], bonus=2.5) == (3 + 2) + 2 * 2.5
    assert topic_reward([1, 2], [3, 4], bonus=1.0) == -4  # moving down earns no bonus
    with pytest.raises(ValueError, match="one entry per query"):
        topic_reward([1, 2], [1], 1.0)


def test_environment_step_rewards_ranks_by_hand() -> None:
    # Query "alpha beta" lists others at 0, 1, 2 (the target scores 0: rank 4, below the tie);
    # query "gamma" lists 0, 0.5 (the target: rank 3).
    env = TopicEnvironment(
        lexical, ["alpha beta", "gamma"], [np.array([0.0, 1.0, 2.0]), np.array([0.0, 0.5])], "one two three",
        [Action(0, "alpha"), Action(1, "beta"), Action(-1, "gamma"), Action(0, "gamma")], np.zeros((4, 2)), bonus=1.0, budget=2,
    )
    assert env.start_ranks.tolist() == [4, 3]
    reward, scores = env.step([], 0)  # "alpha two three": query 1 scores 1 -> rank 3 (tie below), query 2 unchanged
    assert scores.tolist() == [1.0, 0.0] and reward == 1 + 1
    reward, _ = env.step([0], 2)  # prepend "gamma": query 2 scores 1 -> rank 1
    assert reward == 2 + 1
    assert env.text([0, 2]) == "gamma alpha two three"
    assert apply_edits(env.doc.text, env.edits([0, 2])) == env.text([0, 2])
    # Position 0 is used by action 0, so action 3 (also position 0) is no longer admissible;
    # after two actions the budget is spent.
    assert env.allowed([0]).tolist() == [False, True, True, False]
    assert not env.allowed([0, 2]).any()


# -- policy training ----------------------------------------------------------------------------
def test_policy_training_is_reproducible_bit_for_bit() -> None:
    envs = [toy_environment(seed) for seed in range(6)]
    config = PolicyConfig(epochs=3, rollouts=3, hidden=8)
    first, history = train_policy(envs, config, seed=5)
    second, again = train_policy([toy_environment(seed) for seed in range(6)], config, seed=5)
    assert history == again
    for a, b in zip(first.module.state_dict().values(), second.module.state_dict().values()):
        assert torch.equal(a, b)
    other, _ = train_policy(envs, config, seed=6)
    assert not all(torch.equal(a, b) for a, b in zip(first.module.state_dict().values(), other.module.state_dict().values()))


def test_trained_policy_beats_a_random_policy_on_held_out_groups() -> None:
    train = [toy_environment(seed) for seed in range(12)]
    heldout = [toy_environment(seed) for seed in range(100, 130)]
    # Seed 1 starts from a policy worse than uniform choice (its initial MLP prefers the wrong
    # actions), so beating both shows learning, not a lucky initialisation.
    policy, history = train_policy(train, PolicyConfig(epochs=8, rollouts=4, hidden=8, lr=0.05), seed=1)
    trained = mean_reward(heldout, policy_chooser(policy, None))
    untrained = mean_reward(heldout, policy_chooser(TopicPolicy(8, 1), None))
    uniform = np.mean([mean_reward(heldout, random_chooser(np.random.default_rng(s))) for s in range(5)])
    assert untrained < uniform
    assert trained > uniform + 0.5 and trained > untrained + 1.0, (trained, untrained, uniform, history)


def test_the_baseline_cancels_returns_every_rollout_shares() -> None:
    """Every action adds one query word, so every episode earns the same reward at every step:
    with the per-step baseline, every advantage is 0 and the policy must not move."""
    def equal_env() -> TopicEnvironment:
        actions = [Action(p, w) for p, w in enumerate(["alpha", "beta", "gamma", "delta"])]
        env = TopicEnvironment(lexical, ["alpha beta gamma delta"], [np.array([0.5, 1.5, 2.5, 3.5])], "one two three four",
                               actions, np.zeros((4, 1)), bonus=1.0, budget=2)
        env.estimates = np.stack([env.scores(env.text([a])) - env.start_scores for a in range(4)])
        return env

    policy, history = train_policy([equal_env()], PolicyConfig(epochs=2, rollouts=3, hidden=4), seed=1)
    untouched = TopicPolicy(4, 1)
    assert history == [4.0, 4.0]  # two steps, each one rank up plus the bonus
    for a, b in zip(policy.module.state_dict().values(), untouched.module.state_dict().values()):
        assert torch.equal(a, b)


class _FixedSurrogate:
    """Stands in for TopicSurrogate: always the same toy environment."""

    def __init__(self, env: TopicEnvironment) -> None:
        self.env = env

    def environment(self, *args) -> TopicEnvironment:
        return self.env


def test_tara_checks_no_more_texts_than_the_victim_budget_allows() -> None:
    from robustness.engine import ScoringEngine
    from robustness import CallableRanker
    from robustness.protocols.attack import Target, Victim

    env = toy_environment(3, budget=2)
    engine = ScoringEngine(CallableRanker(lexical, name="lexical", version="1"), progress=False)
    target = Target("d", env.doc.text, "hard", ("a", "b", "c"), tuple(env.queries), tuple(int(r) for r in env.start_ranks))
    for budget, most in ((None, 5), (7, 2), (2, 0)):
        attack = TARA(rollouts=8, victim_checks=5)
        attack._surrogate, attack._policy = _FixedSurrogate(env), TopicPolicy(8, 0)
        victim = Victim(engine, env.queries, env.others, budget)
        outcome = attack.attack(target, victim, random.Random(0))
        assert victim.queries_used <= most * 3 and victim.queries_used % 3 == 0
        if budget == 2:
            assert outcome.text == target.text and not outcome.edits  # no check affordable: nothing kept blind


def test_tara_rejects_bad_params() -> None:
    with pytest.raises(ConfigError, match="rollouts must be >= 2"):
        TARA(policy={"rollouts": 1})
    with pytest.raises(ConfigError, match="tara budget"):
        TARA(budget=0)
    with pytest.raises(ConfigError, match="policy/surrogate params"):
        TARA(policy={"layers": 3})


# -- end to end -----------------------------------------------------------------------------------
POLICY = {"n_groups": 3, "n_heldout_groups": 2, "group_size": 2, "list_size": 10, "targets_per_group": 1, "epochs": 2, "rollouts": 2, "hidden": 8}


@pytest.mark.slow
def test_tara_promotes_a_group_target_through_the_counted_victim(scifact, victim_engine, protocol) -> None:
    from robustness.protocols.attack import AttackSetup

    setup = AttackSetup("victim", victim_engine, scifact, seed=0, candidates_k=LIST_SIZE, progress=False)
    attack = TARA(budget=3, topic_words=2, max_actions=12, rollouts=3, victim_checks=2, list_size=LIST_SIZE, window=48,
                  policy=POLICY, surrogate=SURROGATE)
    with pytest.raises(RobustnessError, match="needs setup"):
        attack.attack(None, None, random.Random(0))
    figures = attack.setup(setup)
    assert figures["cached"] is False and figures["n_train_environments"] == 3 and figures["n_heldout_environments"] == 2
    pool = set(training_queries(scifact))
    assert all(set(group) <= pool for group in figures["train_group_ids"])  # never a test query
    assert {"heldout_reward_policy", "heldout_reward_random"} <= set(figures)
    again = TARA(budget=3, topic_words=2, max_actions=12, rollouts=3, victim_checks=2, list_size=LIST_SIZE, window=48,
                 policy=POLICY, surrogate=SURROGATE)
    asked = victim_engine.stats.pairs_requested
    assert again.setup(setup)["cached"] is True and victim_engine.stats.pairs_requested == asked

    queries, rankings, relevant = protocol
    group = QueryGroup("both", tuple(sorted(queries)))
    results = evaluate_group_attack(
        victim_engine, attack, [group], queries, rankings, scifact.docs, relevant,
        lambda *salt: random.Random("|".join(map(str, salt))), target_groups=("hard",), list_size=LIST_SIZE,
    )
    assert results
    for record in results:
        # The victim ranks at most `victim_checks` texts, each for both queries of the group.
        assert record.victim_queries in (0, 2, 4)
        assert apply_edits(scifact.docs[record.doc_id], [_edit(e) for e in record.edits]) == record.adversarial_text
        changed = sum(1 for e in record.edits if e["kind"] == "substitute") + sum(len(e["new"].split()) for e in record.edits if e["kind"] == "insert")
        assert changed <= 3
        if record.edits:  # kept only when the victim says the group gained
            assert topic_reward(record.old_ranks, record.new_ranks, 1.0) > 0


def _edit(record: dict):
    from robustness.protocols.attack import Edit

    return Edit(record["kind"], record["position"], record["old"], record["new"])


def test_too_few_training_groups_is_one_clear_error(scifact, minilm_cross_encoder) -> None:
    from robustness.attacks.topic import training_groups
    from robustness.attacks.word_substitution import SurrogateGuide

    class Holder:
        guide = SurrogateGuide(minilm_cross_encoder, pgd_steps=0, epsilon=1.0, window=64)

    groups = training_groups(Holder(), scifact, PolicyConfig(n_groups=3, n_heldout_groups=1, group_size=3), seed=0)
    assert len(groups) == 4 and all(len(g.query_ids) == 3 for g in groups)
    with pytest.raises(RobustnessError, match=r"^tara: only \d+ training query groups of 4 \(needs 500\); lower group_size or the group counts$"):
        training_groups(Holder(), scifact, PolicyConfig(n_groups=400, n_heldout_groups=100), seed=0)
