"""Cross-encoder ranker: a sequence-classification transformer reading query and document together.

Any `AutoModelForSequenceClassification` checkpoint works (a local folder, e.g. one trained by
`robustness train-ranker`, or a hub id). With one label the logit is the score; with two, the
log-odds of the last ("relevant") class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from robustness.device import inference_context, pick_device
from robustness.rankers.loading import load_pretrained, weights_fingerprint


class CrossEncoderRanker:
    """Scores pairs jointly; `seed` fixes a freshly initialised head (untrained checkpoints)."""

    def __init__(
        self,
        model: str | Path,
        name: str | None = None,
        max_length: int = 256,
        device: str = "auto",
        seed: int = 0,
        trust_remote_code: bool = False,
    ):
        import torch
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        self.name = name or Path(str(model)).name
        self.model_id = str(model)
        self.max_length = max_length
        self.device = pick_device(device)
        self.tokenizer = load_pretrained(AutoTokenizer, model, trust_remote_code)
        config = load_pretrained(AutoConfig, model, trust_remote_code)
        architectures = config.architectures or []
        has_head = any(a.endswith("ForSequenceClassification") for a in architectures)
        head = {} if has_head else {"num_labels": 1}  # a bare encoder gets a one-logit head
        with torch.random.fork_rng(devices=[]):  # seeds the fresh head, not the caller's RNG
            torch.manual_seed(seed)
            loaded = load_pretrained(AutoModelForSequenceClassification, model, trust_remote_code, **head)
        self.model = loaded.to(self.device).eval()
        self._fingerprint = "ce-" + weights_fingerprint(self.model, "cross-encoder", max_length)

    def fingerprint(self) -> str:
        return self._fingerprint

    def score(self, queries: Sequence[str], docs: Sequence[str], max_length: int | None = None) -> np.ndarray:
        """Scores of the pairs; `max_length` overrides the ranker's token window for this call
        (an attack's surrogate reads further than it was trained on)."""
        import torch

        batch = self.tokenizer(
            list(queries),
            list(docs),
            padding=True,
            truncation="only_second",
            max_length=max_length or self.max_length,
            return_tensors="pt",
        ).to(self.device, non_blocking=True)
        with inference_context(self.device):
            logits = self.model(**batch).logits.float()
        if logits.shape[-1] == 1:
            scores = logits[:, 0]
        else:
            scores = torch.log_softmax(logits, dim=-1)[:, -1] - torch.log_softmax(logits, dim=-1)[:, 0]
        return scores.cpu().numpy().astype(np.float64)
