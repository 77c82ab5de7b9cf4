"""A surrogate of a black-box victim ranker, trained from its rankings (PRADA, DESIGN §8.1).

A decision-based attacker sees only the victim's order, not its scores or weights. To get
gradients it trains a stand-in: the victim ranks BM25 candidates of training queries
(pseudo-relevance feedback), every (higher-ranked, lower-ranked) pair of that order becomes a
training triple, and a MiniLM cross-encoder learns them with the pairwise margin loss through
the suite's one trainer (`robustness.training.train_pairwise`).

Only training queries are used (the collection's "train" split, else the queries outside the
"test" split): the attacked test queries must not leak into the surrogate. Some of those
queries are held out to measure fidelity, the surrogate's rank correlation with the victim,
next to that of the untrained starting model, so a report shows that the surrogate learned
the victim's order rather than merely existing.

It is prepared on the shared path of every attacker-side model
(`robustness.attacks.attacker_models`): cached by fingerprint of the victim, the data, the seed
and this config, with its figures, so a second run loads it without asking the victim anything.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robustness.errors import ConfigError
from robustness.protocols.attack import AttackSetup
from robustness.training import TrainConfig, Triple, triples_from_ranking

from robustness.attacks.attacker_models import attacker_fingerprint, load_or_prepare, train_on_victim_rankings

if TYPE_CHECKING:
    from robustness.rankers.cross_encoder import CrossEncoderRanker

__all__ = ["SurrogateConfig", "train_surrogate"]

# Bump when the procedure changes in a way the config does not capture (invalidates caches).
_PROCEDURE = "prada-surrogate-1"


@dataclass(frozen=True)
class SurrogateConfig:
    """How the surrogate is trained; the defaults are sized for a 2-core CPU.

    - `n_train_queries` (100) training queries, each with its BM25 top-`depth` (30) ranked by
      the victim: 3,000 victim queries, the attack's preparation cost;
    - `n_pairs_per_query` (20) triples per query, the preferred document from the victim's
      top-`top` (10): 2,000 triples, ~7 minutes of training at `max_length` 128 for one epoch
      (DESIGN §5: ~10 pairs/s). PRADA used the top-100 of far more queries on a GPU; raise
      these there;
    - `n_heldout_queries` (20) other training queries on which fidelity is measured (0: skip);
    - `base_model` ("minilm"), `max_length`, `epochs`, `lr`, `batch_size`, `margin`: the
      cross-encoder and its pairwise margin loss (`TrainConfig`); PRADA may read further
      than `max_length` while attacking (its `window`);
    - `device`: where to train and run it ("auto": the run's device).
    """

    base_model: str = "minilm"
    n_train_queries: int = 100
    n_heldout_queries: int = 20
    depth: int = 30
    top: int = 10
    n_pairs_per_query: int = 20
    max_length: int = 128
    epochs: int = 1
    lr: float = 3e-5
    batch_size: int = 8
    margin: float = 1.0
    device: str = "auto"

    def __post_init__(self) -> None:
        for name in ("n_train_queries", "depth", "top", "n_pairs_per_query", "epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"surrogate {name} must be an integer >= 1, got {value!r}")
        if not isinstance(self.n_heldout_queries, int) or self.n_heldout_queries < 0:
            raise ConfigError(f"surrogate n_heldout_queries must be an integer >= 0, got {self.n_heldout_queries!r}")
        if self.depth < 2:
            raise ConfigError(f"surrogate depth must be >= 2 to order anything, got {self.depth}")
        if self.max_length < 16:
            raise ConfigError(f"surrogate max_length must be >= 16 tokens, got {self.max_length}")
        if self.lr <= 0 or self.margin <= 0:
            raise ConfigError(f"surrogate lr and margin must be > 0, got lr={self.lr}, margin={self.margin}")

    def train_config(self, seed: int, device: str) -> TrainConfig:
        """The pairwise-trainer settings."""
        return TrainConfig(
            loss="margin", margin=self.margin, lr=self.lr, epochs=self.epochs, batch_size=self.batch_size,
            max_length=self.max_length, seed=seed, device=device,
        )


def train_surrogate(
    setup: AttackSetup, config: SurrogateConfig = SurrogateConfig()
) -> tuple[CrossEncoderRanker, dict[str, Any]]:
    """Train (or load from the cache) a surrogate of `setup.engine`'s ranker; return it and
    its figures.

    Figures: `victim_queries` (pairs the victim scored to train it), `fidelity_victim_queries`
    (pairs scored for the held-out evaluation), `n_train_queries`, `n_heldout_queries`,
    `n_triples`, `spearman` / `kendall` (surrogate vs victim on the held-out queries) and
    `spearman_untrained` / `kendall_untrained` (the starting model, fresh head, same seed),
    and `cached` (whether this call loaded a model trained earlier, costing no victim query).
    """
    from robustness.rankers.cross_encoder import CrossEncoderRanker

    device = setup.device if config.device == "auto" else config.device

    def load(out_dir: Path) -> CrossEncoderRanker:
        return CrossEncoderRanker(out_dir, "surrogate", config.max_length, device)

    def prepare(out_dir: Path) -> dict[str, Any]:
        def make_triples(texts: Mapping[str, str], order: Mapping[str, Sequence[str]], rng: random.Random) -> list[Triple]:
            return triples_from_ranking(texts, order, setup.collection.docs, rng, top=config.top, n_pairs_per_query=config.n_pairs_per_query)

        return train_on_victim_rankings(
            setup, "surrogate", out_dir, config.n_train_queries, config.n_heldout_queries, config.depth,
            make_triples, config.base_model, config.train_config(setup.seed, device),
        )

    fingerprint = attacker_fingerprint(_PROCEDURE, setup, config, config.base_model)
    return load_or_prepare("surrogate", fingerprint, prepare, load)
