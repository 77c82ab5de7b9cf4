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

The model is cached under `model_cache_path("surrogate", fingerprint)`, keyed by the victim's
ranker fingerprint, the collection, the seed and this config, together with its figures, so a
second run loads it without asking the victim anything.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from robustness.adversarial import AttackSetup
from robustness.data.candidates import bm25_candidates
from robustness.data.collection import Collection
from robustness.engine import ScoringEngine
from robustness.errors import ConfigError, DataError
from robustness.rankers.cross_encoder import CrossEncoderRanker
from robustness.rankers.transformer import resolve_model
from robustness.training import (
    TRAINING_JSON,
    TrainConfig,
    model_cache_path,
    train_pairwise,
    triples_from_ranking,
)

__all__ = ["SurrogateConfig", "train_surrogate", "training_queries"]

FIGURES_JSON = "surrogate.json"
# Bump when the procedure changes in a way the config does not capture (invalidates caches).
_PROCEDURE = "prada-surrogate-1"
_TEST_SPLIT = "test"
_TRAIN_SPLIT = "train"


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
    - `device`: where to train and run it ("auto": CUDA when present).
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

    def train_config(self, seed: int) -> TrainConfig:
        """The pairwise-trainer settings."""
        return TrainConfig(
            loss="margin", margin=self.margin, lr=self.lr, epochs=self.epochs, batch_size=self.batch_size,
            max_length=self.max_length, seed=seed, device=self.device,
        )


def training_queries(collection: Collection) -> list[str]:
    """Ids of the queries a surrogate may learn from: the "train" split if the collection has
    one, else every query outside the "test" split; never an attacked (test) query."""
    test = set(collection.qrels.get(_TEST_SPLIT, {}))
    if _TRAIN_SPLIT in collection.qrels:
        pool = {q for q in collection.qrels[_TRAIN_SPLIT] if q in collection.queries}
    else:
        pool = set(collection.queries)
    pool = {q for q in pool - test if collection.queries[q].strip()}
    if not pool:
        raise DataError(
            f"collection {collection.name!r} has no training queries for PRADA's surrogate "
            f"(it needs a {_TRAIN_SPLIT!r} split or queries outside {_TEST_SPLIT!r})"
        )
    return sorted(pool)


def _fingerprint(setup: AttackSetup, config: SurrogateConfig) -> str:
    """What determines the surrogate: the victim, the data, the seed and the config.

    The victim's rankings are a function of these, so the cache can be checked before asking
    the victim anything. `device` changes where the model trains, not what it learns.
    """
    payload = {
        "procedure": _PROCEDURE,
        "victim": setup.engine.ranker.fingerprint(),
        "collection": setup.collection.fingerprint(),
        "seed": setup.seed,
        "base_model": resolve_model(config.base_model),
        "config": {k: v for k, v in dataclasses.asdict(config).items() if k != "device"},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _victim_rankings(
    engine: ScoringEngine, collection: Collection, queries: dict[str, str], depth: int
) -> tuple[dict[str, list[str]], dict[str, np.ndarray]]:
    """The victim's order of each query's BM25 top-`depth` (ties by document id), and its
    scores in that order; the scores only serve to measure fidelity, never to train."""
    candidates = bm25_candidates(collection, queries, depth)
    pairs = [(q, d) for q in sorted(queries) for d in candidates[q] if len(candidates[q]) >= 2]
    scores = engine.score(
        [queries[q] for q, _ in pairs], [collection.docs[d] for _, d in pairs], desc="surrogate: victim rankings"
    )
    by_query: dict[str, dict[str, float]] = {}
    for (qid, did), value in zip(pairs, scores):
        by_query.setdefault(qid, {})[did] = float(value)
    order = {q: sorted(s, key=lambda d: (-s[d], d)) for q, s in by_query.items()}
    return order, {q: np.array([by_query[q][d] for d in order[q]]) for q in order}


def _rank_correlations(
    ranker: CrossEncoderRanker,
    queries: dict[str, str],
    order: dict[str, list[str]],
    victim_scores: dict[str, np.ndarray],
    docs: dict[str, str],
) -> dict[str, float]:
    """Mean per-query Spearman and Kendall correlation of `ranker`'s scores with the victim's
    over each held-out candidate list (queries where either is constant are skipped)."""
    from scipy.stats import kendalltau, spearmanr

    engine = ScoringEngine(ranker, progress=False)
    pairs = [(q, d) for q in sorted(order) for d in order[q]]
    scores = engine.score([queries[q] for q, _ in pairs], [docs[d] for _, d in pairs])
    spearman: list[float] = []
    kendall: list[float] = []
    start = 0
    for qid in sorted(order):
        mine = scores[start : start + len(order[qid])]
        start += len(order[qid])
        if np.ptp(mine) == 0 or np.ptp(victim_scores[qid]) == 0:
            continue
        spearman.append(float(spearmanr(mine, victim_scores[qid]).statistic))
        kendall.append(float(kendalltau(mine, victim_scores[qid]).statistic))
    if not spearman:
        return {}
    return {"spearman": float(np.mean(spearman)), "kendall": float(np.mean(kendall))}


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
    out_dir = model_cache_path("surrogate", _fingerprint(setup, config))
    figures_path = out_dir / FIGURES_JSON
    if (out_dir / TRAINING_JSON).is_file() and figures_path.is_file():
        figures = {**json.loads(figures_path.read_text()), "cached": True}
        return CrossEncoderRanker(out_dir, "surrogate", config.max_length, config.device), figures

    collection = setup.collection
    pool = training_queries(collection)
    chosen = random.Random(f"{setup.seed}|surrogate|queries").sample(
        pool, min(len(pool), config.n_train_queries + config.n_heldout_queries)
    )
    train_ids = sorted(chosen[: config.n_train_queries])
    heldout_ids = sorted(chosen[config.n_train_queries :])
    texts = {q: collection.queries[q] for q in chosen}

    order, _ = _victim_rankings(setup.engine, collection, {q: texts[q] for q in train_ids}, config.depth)
    triples = triples_from_ranking(
        texts, order, collection.docs, random.Random(f"{setup.seed}|surrogate|triples"),
        top=config.top, n_pairs_per_query=config.n_pairs_per_query,
    )
    if not triples:
        raise DataError(f"no surrogate training triples: BM25 found no candidates for the {len(train_ids)} training queries")
    train_pairwise(config.base_model, triples, out_dir, config.train_config(setup.seed), progress=setup.progress)
    surrogate = CrossEncoderRanker(out_dir, "surrogate", config.max_length, config.device)
    training_record = json.loads((out_dir / TRAINING_JSON).read_text())

    figures: dict[str, Any] = {
        "victim_queries": sum(len(ids) for ids in order.values()),
        "n_train_queries": len(order),
        "n_triples": len(triples),
        "train_seconds": training_record["seconds"],
        "final_loss": training_record["final_loss"],
    }
    if heldout_ids:
        held_order, held_scores = _victim_rankings(setup.engine, collection, {q: texts[q] for q in heldout_ids}, config.depth)
        untrained = CrossEncoderRanker(config.base_model, "untrained", config.max_length, config.device, seed=setup.seed)
        figures["fidelity_victim_queries"] = sum(len(ids) for ids in held_order.values())
        figures["n_heldout_queries"] = len(held_order)
        figures.update(_rank_correlations(surrogate, texts, held_order, held_scores, collection.docs))
        untrained_figures = _rank_correlations(untrained, texts, held_order, held_scores, collection.docs)
        figures.update({f"{name}_untrained": value for name, value in untrained_figures.items()})
    figures_path.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    return surrogate, {**figures, "cached": False}
