"""One pairwise trainer for every cross-encoder the suite fine-tunes (victims, surrogates,
imitation models, robust training), and the victim recipe built on it (`victims`)."""

from robustness.training.pairwise import (
    TRAINING_JSON,
    TrainConfig,
    Triple,
    fingerprint_triples,
    model_cache_path,
    pairwise_loss,
    train_pairwise,
    training_fingerprint,
    triples_from_qrels,
    triples_from_ranking,
)

__all__ = [
    "TRAINING_JSON",
    "TrainConfig",
    "Triple",
    "fingerprint_triples",
    "model_cache_path",
    "pairwise_loss",
    "train_pairwise",
    "training_fingerprint",
    "triples_from_qrels",
    "triples_from_ranking",
]
