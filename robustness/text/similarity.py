"""Semantic similarity (SS) of an original and an adversarial document (DESIGN §8).

The attack papers measured SS with the Universal Sentence Encoder; offline we use the shipped
all-MiniLM-L6-v2 sentence encoder (cosine of mean-pooled, normalised embeddings), and reports
say so. Embeddings are cached by text, so originals shared across attacks are encoded once.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


class SentenceSimilarity:
    """Cosine similarity of sentence embeddings; `model` as for BiEncoderRanker."""

    name = "all-MiniLM-L6-v2 cosine (stands in for USE)"

    def __init__(self, model: str = "minilm", device: str = "auto"):
        from robustness.rankers.bi_encoder import BiEncoderRanker

        self._encoder = BiEncoderRanker(model, name="ss-encoder", device=device)

    def __call__(self, originals: Sequence[str], adversarial: Sequence[str]) -> np.ndarray:
        if len(originals) != len(adversarial):
            raise ValueError(f"{len(originals)} originals but {len(adversarial)} adversarial texts")
        if not originals:
            return np.zeros(0)
        a = self._encoder.encode(list(originals))
        b = self._encoder.encode(list(adversarial))
        return (a * b).sum(axis=1).astype(np.float64)
