"""Bi-encoder (dual encoder) ranker: cosine of mean-pooled transformer embeddings.

Queries and documents are encoded independently, so every embedding is cached by its text:
re-ranking many queries over shared candidates encodes each document once, and an attacked
document re-encodes only itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from robustness.cache import LRU
from robustness.device import inference_context, pick_device
from robustness.rankers.base import text_hash
from robustness.rankers.loading import DEFAULT_MODEL, load_pretrained, weights_fingerprint


PAD_MULTIPLE = 16
"""Texts are padded to a multiple of this many tokens (see `BiEncoderRanker._forward`)."""


class BiEncoderRanker:
    """Mean-pooled encoder, cosine similarity (all-MiniLM-L6-v2 by default)."""

    def __init__(
        self,
        model: str | Path = DEFAULT_MODEL,
        name: str | None = None,
        max_length: int = 256,
        batch_size: int = 32,
        normalize: bool = True,
        device: str = "auto",
        cache_size: int = 200_000,
        trust_remote_code: bool = False,
    ):
        from transformers import AutoModel, AutoTokenizer

        self.name = name or ("minilm" if str(model) == DEFAULT_MODEL else Path(str(model)).name)
        self.model_id = str(model)
        self.max_length = max_length
        self.batch_size = batch_size
        self.normalize = normalize
        self.device = pick_device(device)
        self.tokenizer = load_pretrained(AutoTokenizer, model, trust_remote_code)
        self.model = load_pretrained(AutoModel, model, trust_remote_code).to(self.device).eval()
        self._cache: LRU[str, np.ndarray] = LRU(cache_size)
        self._fingerprint = "bi-" + weights_fingerprint(
            self.model, "bi-encoder", max_length, normalize
        )

    def fingerprint(self) -> str:
        return self._fingerprint

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of `texts` (n, dim), encoding only the texts not already cached."""
        keys = [text_hash(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        for key in keys:
            vector = self._cache.get(key)
            if vector is not None:
                found[key] = vector
        by_key = {k: t for k, t in zip(keys, texts) if k not in found}
        new_texts = sorted(by_key.values(), key=len)  # similar lengths pad less
        for start in range(0, len(new_texts), self.batch_size):
            chunk = new_texts[start : start + self.batch_size]
            for text, vector in zip(chunk, self._forward(chunk)):
                found[text_hash(text)] = vector
                self._cache.put(text_hash(text), vector)
        return np.stack([found[k] for k in keys])

    def _forward(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of `texts`, each padded to its own length bucket (a multiple of
        `PAD_MULTIPLE` tokens) whatever else is in the batch.

        A transformer's output for a text changes in the 7th decimal with how far it is
        padded, so padding to the batch's longest text would make a text's embedding depend
        on which texts it happened to be encoded with — and a resumed run (which encodes only
        what the score store lacks) would differ slightly from a cold one. With the padded width
        a function of the text alone, an embedding is the same in any batch (on CPU, where the
        encoder's kernels do not depend on the batch size)."""
        import torch

        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        widths = [min(self.max_length, -(-len(ids) // PAD_MULTIPLE) * PAD_MULTIPLE) for ids in encoded["input_ids"]]
        out = [np.empty(0, dtype=np.float32)] * len(texts)
        for width in sorted(set(widths)):
            members = [i for i, w in enumerate(widths) if w == width]
            features = {key: [encoded[key][i] for i in members] for key in encoded.keys()}
            batch = self.tokenizer.pad(features, padding="max_length", max_length=width, return_tensors="pt").to(self.device, non_blocking=True)
            with inference_context(self.device):
                hidden = self.model(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            if self.normalize:
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
            for i, vector in zip(members, pooled.cpu().numpy().astype(np.float32)):
                out[i] = vector
        return np.stack(out)

    def score(self, queries: Sequence[str], docs: Sequence[str]) -> np.ndarray:
        q = self.encode(queries)
        d = self.encode(docs)
        return (q * d).sum(axis=1).astype(np.float64)
