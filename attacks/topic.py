"""Topic-oriented adversarial ranking attack: TARA (Liu et al., SIGIR 2023; DESIGN §8.2).

One perturbation of a target document must promote it for a whole group of queries on one
topic. TARA learns *how to perturb* as a policy on the surrogate that PRADA trains from the
victim's rankings (`robustness.attacks.surrogate`), then transfers the result to the victim:

- environment (`TopicEnvironment`): the state is the current document and the group; an
  action is one synonym substitution (the shared word constraints and synonym sources of
  `robustness.attacks.components`) or the insertion of one topic word (a content word of the
  group's queries, prepended); each action spends one word of the budget, and a word
  position or topic word is used once. The reward of a step is the surrogate's rank gain
  summed over the group plus `bonus` for every query whose rank improved (`topic_reward`);
  ranks are the target's among the surrogate's scores of each query's BM25 list;
- features (`action_features`): per action, first-order estimates of its score change per
  query (HotFlip: the gradient at the document's input embeddings times the embedding
  change; insertions scored exactly), turned into the ranks they would reach from the
  *current* state, so the policy acts on where the document stands now;
- policy (`TopicPolicy`): a small MLP scoring every admissible action, softmax over them,
  trained by REINFORCE with a per-step baseline (the mean return of `rollouts` episodes of the
  same environment) on groups of training queries only (`train_policy`); seeded, and cached
  as an attacker-side model beside the surrogate;
- transfer (`TARA.attack`): the greedy episode and `rollouts - 1` sampled ones run on the
  surrogate; the `victim_checks` best by surrogate reward go to the victim in one counted
  call per group; the best by the victim's topic reward is kept if it beats the original.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from robustness.data.candidates import bm25_candidates
from robustness.errors import ConfigError, RobustnessError
from robustness.protocols.attack import AttackOutcome, AttackSetup, Edit, Target, Victim, rank_among
from robustness.protocols.groups import QueryGroup, cluster_queries, group_targets
from robustness.text.tokenize import is_stopword, words
from robustness.training import TRAINING_JSON

from robustness.attacks.attacker_models import attacker_fingerprint, load_or_prepare, training_queries
from robustness.attacks.components import SynonymSubstitution, WordConstraints, WordSequence, substitution_options
from robustness.attacks.surrogate import SurrogateConfig, train_surrogate
from robustness.attacks.word_substitution import SurrogateGuide

if TYPE_CHECKING:
    import torch

__all__ = ["TARA", "Action", "PolicyConfig", "TopicEnvironment", "TopicPolicy", "topic_reward", "train_policy"]

_PROCEDURE = "tara-policy-2"
_POOL = 800  # training queries clustered into policy groups (k-means holds pool x clusters x dim floats)
_POLICY_FILE = "policy.pt"
N_FEATURES = 5

Scorer = Callable[[Sequence[str], Sequence[str]], np.ndarray]
"""(queries, texts) -> scores of each aligned pair: the surrogate, or a stand-in in tests."""


def topic_reward(old_ranks: Sequence[int], new_ranks: Sequence[int], bonus: float) -> float:
    """Rank gain summed over the group's queries, plus `bonus` per query whose rank improved."""
    old, new = np.asarray(old_ranks), np.asarray(new_ranks)
    if old.shape != new.shape:
        raise ValueError("old and new ranks must have one entry per query of the group")
    return float((old - new).sum() + bonus * (new < old).sum())


@dataclass(frozen=True)
class Action:
    """Replace the word at `position` by `word`, or (position -1) prepend the topic word `word`."""

    position: int
    word: str

    @property
    def is_insertion(self) -> bool:
        return self.position < 0


class TopicEnvironment:
    """One target and one query group under a scorer: admissible actions, rewards, texts.

    `others[i]` holds the scores of query i's other listed documents (the target excluded);
    `estimates[a, i]` the first-order change of query i's score under action a alone. Texts
    already scored are remembered, so episodes that reach the same document pay once.
    """

    def __init__(
        self, scorer: Scorer, queries: Sequence[str], others: Sequence[np.ndarray], text: str,
        actions: Sequence[Action], estimates: np.ndarray, bonus: float, budget: int,
    ) -> None:
        if len(queries) != len(others) or not queries:
            raise ValueError("a topic environment needs at least one query and one score list per query")
        if estimates.shape != (len(actions), len(queries)):
            raise ValueError(f"estimates must be actions x queries {(len(actions), len(queries))}, got {estimates.shape}")
        self.scorer = scorer
        self.queries = list(queries)
        self.others = [np.sort(np.asarray(o, dtype=np.float64)) for o in others]
        self.doc = WordSequence(text)
        self.actions = list(actions)
        self.estimates = np.asarray(estimates, dtype=np.float64)
        self.bonus = bonus
        self.budget = budget
        self._scores: dict[str, np.ndarray] = {}
        self.start_scores = self.scores(text)
        self.start_ranks = self.ranks(self.start_scores)

    def text(self, taken: Sequence[int]) -> str:
        """The document after the actions `taken` (indices into `actions`), in any order."""
        changes = {self.actions[a].position: self.actions[a].word for a in taken if not self.actions[a].is_insertion}
        inserted = [self.actions[a].word for a in taken if self.actions[a].is_insertion]
        body = self.doc.replaced(changes)
        return " ".join([*inserted, body]) if inserted else body

    def edits(self, taken: Sequence[int]) -> list[Edit]:
        """The `Edit` records of `taken`, offsets into the original text."""
        edits = [self.doc.substitution(self.actions[a].position, self.actions[a].word) for a in taken if not self.actions[a].is_insertion]
        inserted = [self.actions[a].word for a in taken if self.actions[a].is_insertion]
        if inserted:
            edits.insert(0, Edit.insert(0, " ".join(inserted) + " "))
        return edits

    def scores(self, text: str) -> np.ndarray:
        if text not in self._scores:
            self._scores[text] = np.asarray(self.scorer(self.queries, [text] * len(self.queries)), dtype=np.float64)
        return self._scores[text]

    def ranks(self, scores: np.ndarray) -> np.ndarray:
        return np.array([int(rank_among(o, np.array([s]))[0]) for o, s in zip(self.others, scores)])

    def allowed(self, taken: Sequence[int]) -> np.ndarray:
        """Mask of the actions still admissible: each position and topic word once, within budget."""
        mask = np.ones(len(self.actions), dtype=bool)
        if len(taken) >= self.budget:
            return mask & False
        used = {(self.actions[a].position, self.actions[a].word if self.actions[a].is_insertion else "") for a in taken}
        for i, action in enumerate(self.actions):
            if (action.position, action.word if action.is_insertion else "") in used:
                mask[i] = False
        return mask

    def step(self, taken: Sequence[int], action: int) -> tuple[float, np.ndarray]:
        """Reward of adding `action` to `taken`, and the new scores."""
        before = self.ranks(self.scores(self.text(taken)))
        after_scores = self.scores(self.text([*taken, action]))
        return topic_reward(before, self.ranks(after_scores), self.bonus), after_scores


def action_features(env: TopicEnvironment, scores: np.ndarray) -> np.ndarray:
    """Per action (rows), from the current scores: the estimated rank gain summed over the group
    and the share of queries estimated to improve (both from the first-order score changes
    added to the current scores), the mean and the worst estimated score change, and whether
    it inserts. The first four are standardised across actions, so one policy fits any
    victim's score scale and any group size."""
    estimated = scores[None, :] + env.estimates
    current = env.ranks(scores)
    ranks = np.stack([rank_among(o, estimated[:, i]) for i, o in enumerate(env.others)], axis=1)
    gain = current[None, :] - ranks
    columns = [gain.sum(axis=1), (gain > 0).mean(axis=1), env.estimates.mean(axis=1), env.estimates.min(axis=1)]
    standardised = [(c - c.mean()) / c.std() if c.std() > 0 else np.zeros_like(c) for c in columns]
    insertion = np.array([a.is_insertion for a in env.actions], dtype=np.float64)
    return np.stack([*standardised, insertion], axis=1)


def _policy_module(hidden: int, seed: int) -> torch.nn.Module:
    import torch

    generator = torch.Generator().manual_seed(seed)
    module = torch.nn.Sequential(torch.nn.Linear(N_FEATURES, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1))
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    return module


class TopicPolicy:
    """Softmax over admissible actions of an MLP's score of each action's features."""

    def __init__(self, hidden: int = 16, seed: int = 0) -> None:
        self.hidden = hidden
        self.module = _policy_module(hidden, seed)

    def logits(self, features: np.ndarray, mask: np.ndarray) -> torch.Tensor:
        import torch

        values = self.module(torch.as_tensor(features, dtype=torch.float32))[:, 0]
        return values.masked_fill(~torch.as_tensor(mask), float("-inf"))

    def save(self, path: Path) -> None:
        import torch

        torch.save({"hidden": self.hidden, "state": self.module.state_dict()}, path)

    @classmethod
    def load(cls, path: Path) -> TopicPolicy:
        import torch

        saved = torch.load(path, weights_only=True)
        policy = cls(int(saved["hidden"]))
        policy.module.load_state_dict(saved["state"])
        return policy


@dataclass
class Episode:
    """One walk through an environment: actions taken, their rewards, and the features seen."""

    taken: list[int]
    rewards: list[float]
    features: list[np.ndarray]
    masks: list[np.ndarray]

    @property
    def total(self) -> float:
        return float(sum(self.rewards))


def run_episode(env: TopicEnvironment, choose: Callable[[np.ndarray, np.ndarray], int]) -> Episode:
    """Walk until the budget or the admissible actions run out; `choose(features, mask)` picks."""
    episode = Episode([], [], [], [])
    scores = env.start_scores
    while True:
        mask = env.allowed(episode.taken)
        if not mask.any():
            return episode
        features = action_features(env, scores)
        action = choose(features, mask)
        reward, scores = env.step(episode.taken, action)
        episode.taken.append(action)
        episode.rewards.append(reward)
        episode.features.append(features)
        episode.masks.append(mask)


def policy_chooser(policy: TopicPolicy, generator: torch.Generator | None) -> Callable[[np.ndarray, np.ndarray], int]:
    """Sample from the policy (`generator`), or act greedily (None)."""
    import torch

    def choose(features: np.ndarray, mask: np.ndarray) -> int:
        with torch.no_grad():
            logits = policy.logits(features, mask)
        if generator is None:
            return int(torch.argmax(logits))
        return int(torch.multinomial(torch.softmax(logits, 0), 1, generator=generator))

    return choose


def random_chooser(rng: np.random.Generator) -> Callable[[np.ndarray, np.ndarray], int]:
    """Uniform over the admissible actions: the baseline a learned policy must beat."""
    return lambda features, mask: int(rng.choice(np.flatnonzero(mask)))


@dataclass(frozen=True)
class PolicyConfig:
    """How the policy is trained, on the surrogate alone; defaults sized for a 2-core CPU.

    - `n_groups` (6) groups of `group_size` (4) training queries (k-means over the
      surrogate's input embeddings of a seeded sample of training queries), plus
      `n_heldout_groups` (4) for the trained-vs-random figure; `list_size` (30): each query's
      BM25 list the target is ranked in; `targets_per_group` (2): the worst by mean rank and
      one more from the lower half;
    - `epochs` (4) passes over the environments, `rollouts` (3) episodes per environment and
      pass (their mean return per step is the REINFORCE baseline), Adam at `lr`, an MLP of
      `hidden` units. With a 20-word budget that is 12 x 4 x 3 x 20 x 4 ~ 11,500 surrogate
      pairs (~5 min on 2 CPU cores at 256 tokens); raise the counts on a GPU.
    """

    n_groups: int = 6
    n_heldout_groups: int = 4
    group_size: int = 4
    list_size: int = 30
    targets_per_group: int = 2
    epochs: int = 4
    rollouts: int = 3
    lr: float = 0.03
    hidden: int = 16

    def __post_init__(self) -> None:
        for name in ("n_groups", "group_size", "list_size", "targets_per_group", "epochs", "rollouts", "hidden"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"tara policy {name} must be an integer >= 1, got {value!r}")
        if not isinstance(self.n_heldout_groups, int) or self.n_heldout_groups < 0:
            raise ConfigError(f"tara policy n_heldout_groups must be an integer >= 0, got {self.n_heldout_groups!r}")
        if self.rollouts < 2:
            raise ConfigError(f"tara policy rollouts must be >= 2 (their mean is the baseline), got {self.rollouts}")
        if self.lr <= 0:
            raise ConfigError(f"tara policy lr must be > 0, got {self.lr}")


def train_policy(envs: Sequence[TopicEnvironment], config: PolicyConfig, seed: int) -> tuple[TopicPolicy, list[float]]:
    """REINFORCE with a baseline over `envs`; returns the policy and the mean episode reward of
    every pass. Rewards are divided by the group size, so large groups do not dominate. Every
    random choice comes from `seed` (initial weights, sampling, the order of environments)."""
    import torch

    policy = TopicPolicy(config.hidden, seed)
    optimiser = torch.optim.Adam(policy.module.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(seed)
    order_rng = random.Random(seed)
    history: list[float] = []
    for _ in range(config.epochs):
        totals = []
        for index in order_rng.sample(range(len(envs)), len(envs)):
            env = envs[index]
            episodes = [run_episode(env, policy_chooser(policy, generator)) for _ in range(config.rollouts)]
            horizon = max(len(e.taken) for e in episodes)
            returns = np.zeros((len(episodes), horizon))
            for k, episode in enumerate(episodes):
                rewards = np.array(episode.rewards) / len(env.queries)
                returns[k, : len(rewards)] = np.cumsum(rewards[::-1])[::-1]
            baseline = returns.mean(axis=0)
            loss = torch.zeros(())
            for k, episode in enumerate(episodes):
                for t, (features, mask, action) in enumerate(zip(episode.features, episode.masks, episode.taken)):
                    log_probs = torch.log_softmax(policy.logits(features, mask), 0)
                    loss = loss - float(returns[k, t] - baseline[t]) * log_probs[action]
            optimiser.zero_grad()
            (loss / len(episodes)).backward()
            optimiser.step()
            totals.extend(e.total / len(env.queries) for e in episodes)
        history.append(float(np.mean(totals)))
    return policy, history


class TopicSurrogate:
    """The surrogate's side of TARA: list scores per query, action sets and their estimates."""

    def __init__(
        self, guide: SurrogateGuide, collection: Any, constraints: WordConstraints, transformation: SynonymSubstitution,
        list_size: int, candidates_per_word: int, topic_words: int, max_actions: int,
    ) -> None:
        self.guide = guide
        self.collection = collection
        self.constraints = constraints
        self.transformation = transformation
        self.list_size = list_size
        self.candidates_per_word = candidates_per_word
        self.topic_words = topic_words
        self.max_actions = max_actions
        self._lists: dict[str, tuple[list[str], np.ndarray]] = {}

    def score(self, queries: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        return self.guide.ranker.score(list(queries), list(texts), max_length=self.guide.window)

    def listed(self, query: str) -> tuple[list[str], np.ndarray]:
        """The query's BM25 top-`list_size` (the attacker has the corpus) and surrogate scores."""
        if query not in self._lists:
            ids = bm25_candidates(self.collection, {"q": query}, self.list_size)["q"]
            scores = self.score([query] * len(ids), [self.collection.docs[d] for d in ids]) if ids else np.array([])
            self._lists[query] = (ids, np.asarray(scores, dtype=np.float64))
        return self._lists[query]

    def environment(self, queries: Sequence[str], doc_id: str, text: str, bonus: float, budget: int) -> TopicEnvironment:
        others = []
        for query in queries:
            ids, scores = self.listed(query)
            others.append(np.array([s for d, s in zip(ids, scores) if d != doc_id]))
        actions, estimates = self.actions(queries, text)
        return TopicEnvironment(self.score, queries, others, text, actions, estimates, bonus, budget)

    def actions(self, queries: Sequence[str], text: str) -> tuple[list[Action], np.ndarray]:
        """Substitutions (the best `candidates_per_word` per word by estimated group gain) and
        topic-word insertions, the `max_actions` best by estimated summed score change."""
        import torch

        doc = WordSequence(text)
        encoded = [self.guide.encode(q, doc) for q in queries]
        positions = sorted(set.intersection(*(set(e.pieces) for e in encoded))) if encoded else []
        options = substitution_options(doc, " ".join(queries), self.constraints, self.transformation, positions)
        rows: list[tuple[Action, np.ndarray]] = []
        accept = self.constraints.accept
        gradients = [self.guide.gradient(e, torch.zeros_like(e.embeddings))[0] for e in encoded]
        for position, replacements in sorted(options.items()):
            per_word = []
            for word in replacements:
                vector = self.guide.vector(word)
                change = np.array([
                    float(((vector[None, :] - e.embeddings[0, e.pieces[position]]) * g[e.pieces[position]]).sum())
                    for e, g in zip(encoded, gradients)
                ])
                per_word.append((Action(position, word), change))
            per_word.sort(key=lambda row: -row[1].sum())
            if accept is not None:  # the windowed similarity of the shared constraints, swap by swap
                kept = set(accept.select(doc, {}, position, [a.word for a, _ in per_word], self.candidates_per_word))
                per_word = [row for row in per_word if row[0].word in kept]
            rows.extend(per_word[: self.candidates_per_word])
        topic = self.topic_vocabulary(queries, doc)
        if topic:
            base = self.score(queries, [text] * len(queries))
            inserted = self.score([q for _ in topic for q in queries], [f"{w} {text}" for w in topic for _ in queries])
            for j, word in enumerate(topic):
                rows.append((Action(-1, word), inserted[j * len(queries) : (j + 1) * len(queries)] - base))
        rows.sort(key=lambda row: -row[1].sum())
        rows = rows[: self.max_actions]
        return [a for a, _ in rows], np.array([c for _, c in rows]).reshape(len(rows), len(queries))

    def topic_vocabulary(self, queries: Sequence[str], doc: WordSequence) -> list[str]:
        """The group's most frequent content words (in most queries first), lower-cased."""
        counts = Counter(w for q in queries for w in {w.lower() for w in words(q)} if not is_stopword(w) and w.isalpha())
        return [w for w, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))][: self.topic_words]


def training_groups(surrogate: TopicSurrogate, collection: Any, config: PolicyConfig, seed: int) -> list[QueryGroup]:
    """Groups of training queries for the policy: `cluster_queries` (seeded k-means) over the
    mean of the surrogate's input embeddings of each query's word pieces, on (a seeded sample
    of `_POOL` of) the training queries, clusters cut to `group_size`. Clusters average
    2 x `group_size` queries but are skewed: on SciFact's 809 training queries about half reach
    4, while a sample of 240 gave only 8."""
    import torch

    pool = training_queries(collection)
    needed = config.n_groups + config.n_heldout_groups
    sample = sorted(random.Random(f"{seed}|tara|queries").sample(pool, min(len(pool), _POOL)))
    tokenizer, embeddings = surrogate.guide.ranker.tokenizer, surrogate.guide.ranker.model.get_input_embeddings()

    def embed(texts: list[str]) -> np.ndarray:
        with torch.no_grad():
            return np.stack([
                embeddings(torch.as_tensor(tokenizer(t, add_special_tokens=False)["input_ids"] or [0])).mean(0).cpu().numpy() for t in texts
            ])

    clusters = cluster_queries({q: collection.queries[q] for q in sample}, max(1, len(sample) // (2 * config.group_size)), embed, seed, config.group_size)
    if len(clusters) < needed:
        raise RobustnessError(f"tara: only {len(clusters)} training query groups of {config.group_size} (needs {needed}); lower group_size or the group counts")
    return [QueryGroup(f"train-{j}", c.query_ids[: config.group_size]) for j, c in enumerate(clusters[:needed])]


def group_environments(
    surrogate: TopicSurrogate, collection: Any, groups: Sequence[QueryGroup], config: PolicyConfig, bonus: float, budget: int, seed: int
) -> list[TopicEnvironment]:
    """Per group, `targets_per_group` targets by the attack protocol's `group_targets` on the
    surrogate's lists (a document missing from a list ranks just below it): the worst Hard-5
    first, then Easy-5 ones; never judged relevant to a query of the group."""
    envs = []
    for group in groups:
        queries = [collection.queries[q] for q in group.query_ids]
        relevant = {d for split in collection.qrels.values() for q in group.query_ids for d, g in split.get(q, {}).items() if g > 0}
        orders = []
        for query in queries:
            ids, scores = surrogate.listed(query)
            orders.append({d: rank for rank, d in enumerate((ids[i] for i in np.argsort(-scores, kind="stable")), 1)})
        ranks = {d: tuple(order.get(d, config.list_size + 1) for order in orders) for d in sorted(set().union(*orders))}
        targets = group_targets(ranks, random.Random(f"{seed}|tara|targets|{group.id}"), relevant, config.list_size)
        chosen = [d for d, _ in targets["hard"][-1:]] + [d for d, _ in targets["easy"]]
        for doc_id in chosen[: config.targets_per_group]:
            envs.append(surrogate.environment(queries, doc_id, collection.docs[doc_id], bonus, budget))
    return envs


def mean_reward(envs: Sequence[TopicEnvironment], choose: Callable[[np.ndarray, np.ndarray], int]) -> float:
    """Mean episode reward per query of the group over `envs`."""
    return float(np.mean([run_episode(env, choose).total / len(env.queries) for env in envs]))


@dataclass(frozen=True)
class _PolicySettings:
    """Everything that decides the cached policy, as one JSON string (the fingerprint's config)."""

    settings: str


class TARA:
    """Topic-oriented attack (TARA, Liu et al., SIGIR 2023): an RL policy on the surrogate.

    Parameters (defaults in brackets):
    - `budget`: words changed or inserted per document [20, PRADA's word budget];
    - `bonus`: reward per query whose surrogate rank improves, beside the summed rank gain [1];
    - `candidates_per_word`, `topic_words`, `max_actions`: the action set — best synonyms per
      word by estimated group gain [3], content words of the group's queries that may be
      prepended [5], and the actions kept by estimated gain [60];
    - `rollouts`, `victim_checks`: episodes on the surrogate per target (one greedy, the rest
      sampled) [8] and how many of their final documents the victim ranks [2]: the attack's
      victim queries are `victim_checks` x the group size per target, fewer when the
      victim's budget allows fewer (then all of it is spent on the best episodes);
    - `list_size`: the BM25 list per query the surrogate ranks the target in [100];
    - word constraints and synonym source as in PRADA (`synonym_source` ...), and
      `window` [256] tokens the surrogate reads;
    - `policy`: `PolicyConfig` fields; `surrogate`: `SurrogateConfig` fields (the same
      defaults as PRADA, so the two share one cached surrogate).
    """

    name = "tara"

    def __init__(
        self,
        budget: int = 20,
        bonus: float = 1.0,
        candidates_per_word: int = 3,
        topic_words: int = 5,
        max_actions: int = 60,
        rollouts: int = 8,
        victim_checks: int = 2,
        list_size: int = 100,
        synonym_source: str = "combined",
        synonym_threshold: float = 0.5,
        synonym_k: int = 50,
        window: int = 256,
        policy: Mapping[str, Any] | None = None,
        surrogate: Mapping[str, Any] | None = None,
    ) -> None:
        for label, value in (("budget", budget), ("candidates_per_word", candidates_per_word), ("max_actions", max_actions),
                             ("rollouts", rollouts), ("victim_checks", victim_checks), ("list_size", list_size)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"tara {label} must be an integer >= 1, got {value!r}")
        if not isinstance(topic_words, int) or topic_words < 0:
            raise ConfigError(f"tara topic_words must be an integer >= 0, got {topic_words!r}")
        if bonus < 0:
            raise ConfigError(f"tara bonus must be >= 0, got {bonus}")
        try:
            self.policy_config = PolicyConfig(**dict(policy or {}))
            self.surrogate_config = SurrogateConfig(**dict(surrogate or {}))
        except TypeError as exc:
            raise ConfigError(f"tara policy/surrogate params: {exc}") from None
        self.budget, self.bonus, self.rollouts, self.victim_checks = budget, bonus, rollouts, victim_checks
        self.candidates_per_word, self.topic_words, self.max_actions, self.list_size = candidates_per_word, topic_words, max_actions, list_size
        self.window = window
        self.constraints = WordConstraints(budget)
        self.transformation = SynonymSubstitution(synonym_source, synonym_threshold, synonym_k)
        self.constraints.check_source(self.transformation)
        self._surrogate: TopicSurrogate | None = None
        self._policy: TopicPolicy | None = None

    def _topic_surrogate(self, guide: SurrogateGuide, collection: Any, list_size: int) -> TopicSurrogate:
        return TopicSurrogate(guide, collection, self.constraints, self.transformation, list_size, self.candidates_per_word, self.topic_words, self.max_actions)

    def setup(self, setup: AttackSetup) -> dict[str, Any]:
        """Load or train the surrogate (shared with PRADA), then the policy on training groups."""
        ranker, figures = train_surrogate(setup, self.surrogate_config)
        guide = SurrogateGuide(ranker, pgd_steps=0, epsilon=1.0, window=self.window)
        config = self.policy_config
        settings = {"budget": self.budget, "bonus": self.bonus, "candidates_per_word": self.candidates_per_word,
                    "topic_words": self.topic_words, "max_actions": self.max_actions, "window": self.window,
                    "surrogate": asdict(self.surrogate_config), "policy": asdict(config),
                    "synonyms": [self.transformation.source_name, self.transformation.threshold, self.transformation.k]}

        def prepare(out_dir: Path) -> dict[str, Any]:
            surrogate = self._topic_surrogate(guide, setup.collection, config.list_size)
            groups = training_groups(surrogate, setup.collection, config, setup.seed)
            envs = group_environments(surrogate, setup.collection, groups, config, self.bonus, self.budget, setup.seed)
            cut = config.n_groups * config.targets_per_group
            train, heldout = envs[:cut], envs[cut:]
            policy, history = train_policy(train, config, setup.seed)
            out_dir.mkdir(parents=True, exist_ok=True)
            policy.save(out_dir / _POLICY_FILE)
            result = {"policy_history": history, "n_train_environments": len(train), "n_heldout_environments": len(heldout),
                      "train_group_ids": [g.query_ids for g in groups[: config.n_groups]]}
            if heldout:
                result["heldout_reward_policy"] = mean_reward(heldout, policy_chooser(policy, None))
                result["heldout_reward_random"] = mean_reward(heldout, random_chooser(np.random.default_rng(setup.seed)))
            (out_dir / TRAINING_JSON).write_text(json.dumps(result, indent=2) + "\n")
            return result

        fingerprint = attacker_fingerprint(_PROCEDURE, setup, _PolicySettings(json.dumps(settings, sort_keys=True)), self.surrogate_config.base_model)
        self._policy, policy_figures = load_or_prepare("tara-policy", fingerprint, prepare, lambda out: TopicPolicy.load(out / _POLICY_FILE))
        self._surrogate = self._topic_surrogate(guide, setup.collection, self.list_size)
        return {**{f"surrogate_{k}": v for k, v in figures.items()}, **policy_figures}

    def attack(self, target: Target, victim: Victim, rng: random.Random) -> AttackOutcome:
        import torch

        if self._surrogate is None or self._policy is None:
            raise RobustnessError("tara needs setup(AttackSetup) before attack(): it trains its surrogate and policy there")
        env = self._surrogate.environment(target.queries, target.doc_id, target.text, self.bonus, self.budget)
        if not env.actions:
            return AttackOutcome(target.text)
        generator = torch.Generator().manual_seed(rng.getrandbits(63))
        episodes = [run_episode(env, policy_chooser(self._policy, None))]
        episodes += [run_episode(env, policy_chooser(self._policy, generator)) for _ in range(self.rollouts - 1)]
        checks = self.victim_checks if victim.budget is None else min(self.victim_checks, victim.budget // victim.group_size)
        best: dict[str, list[int]] = {}
        for episode in sorted(episodes, key=lambda e: -e.total):
            text = env.text(episode.taken)
            if len(best) == checks:
                break
            if text != target.text and text not in best:
                best[text] = episode.taken
        if not best:
            return AttackOutcome(target.text)
        ranks = victim.group_ranks(list(best))
        rewards = [topic_reward(target.old_ranks, r, self.bonus) for r in ranks]
        choice = int(np.argmax(rewards))
        if rewards[choice] <= 0:
            return AttackOutcome(target.text)
        taken = list(best.values())[choice]
        return AttackOutcome(env.text(taken), env.edits(taken))
