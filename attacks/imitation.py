"""Ranking imitation: steal a black-box victim's ranking behaviour (Order-Disorder, DESIGN §8.3 (1)).

The attacker asks the victim to rank the BM25 top-`depth` of training queries, turns each order
into pairwise preferences and trains a MiniLM cross-encoder on them with RankNet and label
smoothing 0.1 (the imitation paper's loss: a pair seen once should not make the model certain).
Per query, the pairs are every ordered pair of the victim's top-`top` (25) plus `below` (4)
documents drawn from under rank `top` for each top document (the boundary a promoted target
must cross); `n_pairs_per_query` samples them to fit a CPU budget.

It is prepared on the shared path of every attacker-side model
(`robustness.attacks.attacker_models`): only training queries, never an attacked one; every
victim query counted; cached by a fingerprint of victim, data, seed and this config; fidelity
(top-10 overlap, RBO at p = 0.7, Spearman, Kendall) measured on held-out training queries for
the imitation model and for the untrained starting model.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robustness.errors import ConfigError
from robustness.protocols.attack import AttackSetup
from robustness.training import TrainConfig, Triple

from robustness.attacks.attacker_models import attacker_fingerprint, load_or_prepare, train_on_victim_rankings

if TYPE_CHECKING:
    from robustness.rankers.cross_encoder import CrossEncoderRanker

__all__ = ["ImitationConfig", "imitation_pairs", "train_imitation"]

# Bump when the procedure changes in a way the config does not capture (invalidates caches).
_PROCEDURE = "imitation-1"


@dataclass(frozen=True)
class ImitationConfig:
    """How the imitation model is trained; defaults sized for a 2-core CPU (~17 min of training).

    - `n_train_queries` (50) training queries, each with its BM25 top-`depth` (50) ranked by the
      victim: 2,500 victim queries;
    - `top` (25) and `below` (4): every ordered pair of the victim's top-`top`, plus `below`
      documents from under rank `top` per top document (300 + 100 pairs per query at 25 / 4);
    - `n_pairs_per_query` (200): a seeded sample of those pairs (None: all of them); 10,000
      triples at the defaults, ~10 pairs/s on 2 cores. Raise it and `n_train_queries` on a GPU;
    - `n_heldout_queries` (20) other training queries on which fidelity is measured (0: skip);
    - `label_smoothing` (0.1): RankNet's target is 0.9, not 1;
    - `base_model`, `max_length`, `epochs`, `lr`, `batch_size`: the cross-encoder and trainer;
    - `device`: where it trains and runs ("auto": the run's device).
    """

    base_model: str = "minilm"
    n_train_queries: int = 50
    n_heldout_queries: int = 20
    depth: int = 50
    top: int = 25
    below: int = 4
    n_pairs_per_query: int | None = 200
    label_smoothing: float = 0.1
    max_length: int = 128
    epochs: int = 1
    lr: float = 3e-5
    batch_size: int = 8
    device: str = "auto"

    def __post_init__(self) -> None:
        for name in ("n_train_queries", "depth", "top", "epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"imitation {name} must be an integer >= 1, got {value!r}")
        for name in ("n_heldout_queries", "below"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ConfigError(f"imitation {name} must be an integer >= 0, got {value!r}")
        if self.n_pairs_per_query is not None and (not isinstance(self.n_pairs_per_query, int) or self.n_pairs_per_query < 1):
            raise ConfigError(f"imitation n_pairs_per_query must be an integer >= 1 or null, got {self.n_pairs_per_query!r}")
        if self.top < 2 or self.top > self.depth:
            raise ConfigError(f"imitation top must lie in [2, depth={self.depth}], got {self.top}")
        if not 0.0 <= self.label_smoothing < 0.5:
            raise ConfigError(f"imitation label_smoothing must be in [0, 0.5), got {self.label_smoothing}")
        if self.max_length < 16 or self.lr <= 0:
            raise ConfigError(f"imitation max_length must be >= 16 and lr > 0, got {self.max_length}, {self.lr}")

    def train_config(self, seed: int, device: str) -> TrainConfig:
        """RankNet with label smoothing, through the project's trainer."""
        return TrainConfig(
            loss="ranknet", label_smoothing=self.label_smoothing, lr=self.lr, epochs=self.epochs,
            batch_size=self.batch_size, max_length=self.max_length, seed=seed, device=device,
        )


def imitation_pairs(ranking: Sequence[str], top: int, below: int, rng: random.Random) -> list[tuple[str, str]]:
    """(preferred, other) document pairs from one victim ranking: every ordered pair inside the
    top-`top`, then `below` documents drawn (without replacement, seeded) from under rank
    `top` for each top document. A list no longer than `top` has only the inner pairs."""
    head, tail = list(ranking[:top]), list(ranking[top:])
    pairs = [(head[i], head[j]) for i in range(len(head)) for j in range(i + 1, len(head))]
    for doc in head:
        pairs.extend((doc, other) for other in rng.sample(tail, min(below, len(tail))))
    return pairs


def imitation_triples(
    queries: Mapping[str, str], order: Mapping[str, Sequence[str]], docs: Mapping[str, str], config: ImitationConfig, rng: random.Random
) -> list[Triple]:
    """Training triples of every ranked query (sorted ids, so the result depends only on the
    inputs and `rng`), `n_pairs_per_query` sampled per query."""
    triples: list[Triple] = []
    for qid in sorted(order):
        pairs = imitation_pairs(order[qid], config.top, config.below, rng)
        if config.n_pairs_per_query is not None and config.n_pairs_per_query < len(pairs):
            pairs = [pairs[i] for i in sorted(rng.sample(range(len(pairs)), config.n_pairs_per_query))]
        triples.extend((queries[qid], docs[a], docs[b]) for a, b in pairs)
    return triples


def train_imitation(
    setup: AttackSetup, config: ImitationConfig = ImitationConfig()
) -> tuple[CrossEncoderRanker, dict[str, Any]]:
    """Train (or load from the cache) the imitation model of `setup.engine`'s ranker.

    Figures: `victim_queries` (pairs the victim scored for the training data),
    `fidelity_victim_queries` (for the held-out evaluation), `n_train_queries`, `n_triples`,
    `train_seconds`, `final_loss`, `train_query_ids` (so a test can check none is attacked),
    and on held-out queries `top10_overlap`, `rbo`, `spearman`, `kendall`, each also for the
    untrained starting model (suffix `_untrained`), and `cached`.
    """
    from robustness.rankers.cross_encoder import CrossEncoderRanker

    device = setup.device if config.device == "auto" else config.device

    def load(out_dir: Path) -> CrossEncoderRanker:
        return CrossEncoderRanker(out_dir, "imitation", config.max_length, device)

    def prepare(out_dir: Path) -> dict[str, Any]:
        def make_triples(texts: Mapping[str, str], order: Mapping[str, Sequence[str]], rng: random.Random) -> list[Triple]:
            return imitation_triples(texts, order, setup.collection.docs, config, rng)

        return train_on_victim_rankings(
            setup, "imitation", out_dir, config.n_train_queries, config.n_heldout_queries, config.depth,
            make_triples, config.base_model, config.train_config(setup.seed, device),
        )

    fingerprint = attacker_fingerprint(_PROCEDURE, setup, config, config.base_model)
    return load_or_prepare("imitation", fingerprint, prepare, load)
