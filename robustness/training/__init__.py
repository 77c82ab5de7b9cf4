"""One pairwise trainer for every cross-encoder the suite fine-tunes (victims, surrogates,
imitation models, robust training), and the victim recipe built on it (`victims`).

`trainer` runs the training, `config` holds its hyper-parameters and loss, `triples` builds the
training data and the fingerprints a model cache is keyed on, `checkpoints` saves and resumes.
"""

from robustness.training.checkpoints import TRAINING_JSON
from robustness.training.config import TrainConfig, pairwise_loss
from robustness.training.trainer import train_pairwise
from robustness.training.triples import (
    Triple,
    fingerprint_triples,
    model_cache_path,
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
