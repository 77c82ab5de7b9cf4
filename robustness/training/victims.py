"""Cross-encoder victims fine-tuned from the shipped MiniLM weights on a collection's train split.

No cross-encoder ships offline, so the suite trains one (`robustness train-ranker`, or the
ranker type `trained-cross-encoder`, which trains on first use): judged-relevant documents
against BM25-retrieved negatives, pairwise loss, one seed. The model is cached in the user
cache dir under a fingerprint of base model + triples + config, so it is trained once.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from robustness.data import Collection, bm25_candidates, load_collection
from robustness.rankers.cross_encoder import CrossEncoderRanker
from robustness.training import TrainConfig, Triple, model_cache_path, train_pairwise, training_fingerprint, triples_from_qrels


def victim_triples(
    dataset: str = "scifact", split: str = "train", per_positive: int = 3, negatives_depth: int = 50, seed: int = 13
) -> tuple[Collection, list[Triple]]:
    """The victim recipe's training data: each judged-relevant document of `split` against
    `per_positive` negatives sampled (seeded) from the query's BM25 top-`negatives_depth`,
    judged-relevant documents excluded (they would teach the model to demote relevant text).
    Robust-training recipes (`robustness.defenses.robust_training`) augment these triples."""
    collection = load_collection(dataset)
    queries, qrels = collection.split(split)
    negatives = bm25_candidates(collection, queries, negatives_depth)
    return collection, triples_from_qrels(queries, qrels, collection.docs, negatives, per_positive, random.Random(seed))


def train_on_triples(name: str, triples: Sequence[Triple], base_model: str, progress: bool, **config: Any) -> Path:
    """Train (or load from the cache) a cross-encoder on `triples`, cached as `name`-fingerprint.

    `config` holds TrainConfig fields; CPU-sized defaults: max_length 128, 1 epoch, seed 13."""
    train_config = TrainConfig(**{"max_length": 128, "seed": 13, **config})
    fingerprint = training_fingerprint(base_model, triples, train_config)[:16]
    return train_pairwise(base_model, triples, model_cache_path(name, fingerprint), train_config, progress)


def train_cross_encoder(
    dataset: str = "scifact",
    split: str = "train",
    per_positive: int = 3,
    negatives_depth: int = 50,
    base_model: str = "minilm",
    progress: bool = True,
    **config: Any,
) -> Path:
    """Train (or load from cache) a cross-encoder on `dataset`'s `split`; returns its folder."""
    collection, triples = victim_triples(dataset, split, per_positive, negatives_depth, config.get("seed", 13))
    return train_on_triples(f"cross-encoder-{collection.name}-{split}", triples, base_model, progress, **config)


def trained_cross_encoder(
    dataset: str = "scifact", name: str | None = None, device: str = "auto", progress: bool = True, **training: Any
) -> CrossEncoderRanker:
    """The ranker type `trained-cross-encoder`: train on first use, then load from the cache."""
    path = train_cross_encoder(dataset, progress=progress, **training)
    max_length = training.get("max_length", 128)
    return CrossEncoderRanker(path, name=name or f"ce-{dataset}", max_length=max_length, device=device)
