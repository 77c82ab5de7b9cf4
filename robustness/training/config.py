"""The hyper-parameters of a pairwise training run, and the loss they select."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from robustness.errors import TrainingError

if TYPE_CHECKING:  # torch is imported lazily: importing this module is cheap.
    import torch


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one pairwise training run.

    ``loss="margin"`` is the pairwise hinge ``max(0, margin - (s+ - s-))`` that PRADA trains its
    surrogate with; ``loss="ranknet"`` is the logistic loss on ``s+ - s-`` whose target
    ``1 - label_smoothing`` (0.9 in Order-Disorder) keeps an imitation model from becoming
    over-confident about orderings it only saw once.

    ``seed`` controls everything random: the classification head's initialisation, dropout and
    the per-epoch shuffling. ``checkpoint_every`` (optimizer steps; ``None`` for never) trades
    disk writes (~0.3 GB per checkpoint for MiniLM: weights plus Adam moments) for how much work
    a kill can lose. ``device`` goes through :func:`robustness.device.pick_device` ("auto":
    CUDA when available, where training runs under bf16 autocast); bitwise reproducibility is
    promised on CPU, where every kernel is deterministic.
    """

    loss: Literal["margin", "ranknet"] = "margin"
    margin: float = 1.0
    label_smoothing: float = 0.0
    lr: float = 3e-5
    weight_decay: float = 0.01
    epochs: int = 1
    batch_size: int = 8
    warmup_ratio: float = 0.1
    max_length: int = 256
    seed: int = 0
    checkpoint_every: int | None = 200
    grad_clip: float | None = 1.0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.loss not in ("margin", "ranknet"):
            raise TrainingError(f"loss must be 'margin' or 'ranknet', got {self.loss!r}")
        if self.loss == "margin" and self.label_smoothing:
            raise TrainingError("label_smoothing only applies to loss='ranknet'")
        if not 0.0 <= self.label_smoothing < 0.5:
            raise TrainingError(f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}")
        if self.margin <= 0:
            raise TrainingError(f"margin must be > 0, got {self.margin}")
        if self.lr <= 0:
            raise TrainingError(f"lr must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise TrainingError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.epochs < 1:
            raise TrainingError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise TrainingError(f"batch_size must be >= 1, got {self.batch_size}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise TrainingError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.max_length < 8:
            raise TrainingError(f"max_length must be >= 8 tokens, got {self.max_length}")
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise TrainingError(f"checkpoint_every must be >= 1 or None, got {self.checkpoint_every}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise TrainingError(f"grad_clip must be > 0 or None, got {self.grad_clip}")


def pairwise_loss(
    preferred: torch.Tensor, less_preferred: torch.Tensor, config: TrainConfig
) -> torch.Tensor:
    """Mean pairwise loss of score tensors (same shape) under ``config.loss``.

    Public because attacks need the very loss the model was trained with (PRADA's word
    importance is the gradient of the surrogate's pairwise loss).
    """
    import torch
    import torch.nn.functional as F

    diff = preferred.float() - less_preferred.float()
    if config.loss == "margin":
        return F.relu(config.margin - diff).mean()
    target = torch.full_like(diff, 1.0 - config.label_smoothing)
    return F.binary_cross_entropy_with_logits(diff, target)
