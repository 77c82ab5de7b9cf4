"""One pairwise trainer for every cross-encoder the suite fine-tunes.

Victims (fine-tuned on a collection's training qrels), PRADA surrogates (trained on a victim's
ranking, DESIGN §8.1), Order-Disorder imitation models (RankNet with label smoothing, §8.3) and
robust-training defences (§9.3) all reduce to the same job: given (query, preferred document,
less-preferred document) triples, teach a cross-encoder to score the preferred one higher. They
share this one trainer so that a fix or a speed-up reaches all of them, and so that they cache,
resume and record their provenance the same way (:mod:`robustness.training.checkpoints`).

A cross-encoder here is ``AutoModelForSequenceClassification(num_labels=1)`` over
``tokenizer(query, doc, truncation="only_second")``; its score is the single logit.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import platform
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from robustness.errors import TrainingError
from robustness.training.checkpoints import (
    finished_fingerprint,
    resume_point,
    rng_state,
    save_checkpoint,
    save_final,
    set_rng_state,
)
from robustness.training.config import TrainConfig, pairwise_loss
from robustness.training.triples import (
    Triple,
    fingerprint_triples,
    run_fingerprint,
    validate_triples,
)

if TYPE_CHECKING:  # torch and transformers are imported lazily: importing this module is cheap.
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Run:
    """What a call trains, settled before anything heavy is loaded."""

    base_model: str | Path
    triples: list[Triple]
    out_dir: Path
    config: TrainConfig
    triples_sha256: str
    run_fingerprint: str
    resume_from: Path | None  # the checkpoint to resume from, if any
    state: dict[str, Any] | None  # its trainer state

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.triples) / self.config.batch_size)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.config.epochs


@dataclass
class _Session:
    """The model being trained and what updates it."""

    device: torch.device
    tokenizer: PreTrainedTokenizerBase
    model: PreTrainedModel
    params: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    autocast: torch.autocast


@dataclass
class _Loop:
    """Where the step loop stands: what a checkpoint saves besides model and optimizer."""

    step: int = 0
    loss_sum: float = 0.0  # over the current epoch
    loss_count: int = 0
    seconds: float = 0.0  # spent by the earlier processes of this run
    started: float = 0.0  # perf_counter() when this process entered the loop

    def elapsed(self) -> float:
        return self.seconds + time.perf_counter() - self.started


def train_pairwise(
    base_model: str | Path,
    triples: Sequence[Triple],
    out_dir: Path,
    config: TrainConfig,
    progress: bool = True,
    *,
    on_step: Callable[[int, float], None] | None = None,
) -> Path:
    """Fine-tune ``base_model`` as a cross-encoder on pairwise triples; return ``out_dir``.

    ``base_model`` is a local folder, a hub id or ``"minilm"`` (the shipped all-MiniLM-L6-v2);
    a bare encoder gets a fresh one-logit head, seeded by ``config.seed``.
    ``out_dir`` then loads with ``AutoModelForSequenceClassification.from_pretrained`` and
    ``AutoTokenizer.from_pretrained``. Calling again is cheap and safe:

    * if ``out_dir`` holds a finished model of the same run (same :func:`training_fingerprint`),
      it is returned at once; one of another run raises ``ValueError`` rather than silently
      handing back weights trained on something else;
    * if it holds a checkpoint of the same run, training resumes from it and ends with the
      same weights, bit for bit on CPU, as a run that was never interrupted: the model,
      optimizer, scheduler and random generators are restored, and the data order is
      recomputed from the seed, skipping the batches already done.

    One step = one batch of ``config.batch_size`` triples; the 2B (query, document) pairs go
    through the model as one padded batch. ``on_step(step, loss)`` is called after every
    optimizer step (after its checkpoint, if one is due), for logging or to stop a run.
    ``training.json`` records the config, the number and sha256 of the triples, the final loss
    (mean over the last epoch), the training seconds and library versions.
    """
    out_dir = Path(out_dir)
    run = _prepare_run(base_model, triples, out_dir, config)
    if run is None:
        return out_dir
    session, loop = _start(run)
    _step_loop(run, session, loop, progress, on_step)
    save_final(out_dir, session.model, session.tokenizer, _record(run, session, loop))
    return out_dir


def _prepare_run(
    base_model: str | Path, triples: Sequence[Triple], out_dir: Path, config: TrainConfig
) -> _Run | None:
    """Check and fingerprint the triples, then look in ``out_dir``: None if it already holds
    this run's finished model, else the run, with the checkpoint to resume from if there is one."""
    checked = validate_triples(triples)
    triples_sha256 = fingerprint_triples(checked)
    fingerprint = run_fingerprint(base_model, triples_sha256, config)

    finished = finished_fingerprint(out_dir)
    if finished == fingerprint:
        return None
    if finished is not None:
        raise TrainingError(
            f"{out_dir} holds a model of another training run; delete it or pick another out_dir"
        )
    resume_from, state = resume_point(out_dir, fingerprint)
    return _Run(
        base_model, checked, out_dir, config, triples_sha256, fingerprint, resume_from, state
    )


def _start(run: _Run) -> tuple[_Session, _Loop]:
    """Load the model (from the checkpoint when resuming), build its optimizer and scheduler,
    and restore them, the random generators and the loop position from the checkpoint."""
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        get_linear_schedule_with_warmup,
    )

    from robustness.device import pick_device
    from robustness.rankers.loading import load_pretrained

    config = run.config
    device = pick_device(config.device)
    # Seeded before loading, so the fresh head starts as CrossEncoderRanker(seed=...)'s does.
    _seed_everything(config.seed)
    source = run.resume_from if run.resume_from is not None else run.base_model
    tokenizer = load_pretrained(AutoTokenizer, source)
    _check_query_lengths(run.triples, tokenizer, config.max_length)
    model = load_pretrained(
        AutoModelForSequenceClassification, source, num_labels=1, dtype=torch.float32
    ).to(device)
    model.train()

    params, optimizer = _optimizer(model, config)
    total_steps = run.total_steps
    scheduler = get_linear_schedule_with_warmup(
        optimizer, round(config.warmup_ratio * total_steps), total_steps
    )
    # bf16 needs no loss scaling; a GPU without it trains in fp32 rather than risk fp16 underflow.
    use_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)
    session = _Session(device, tokenizer, model, params, optimizer, scheduler, autocast)

    loop = _Loop()
    if run.state is not None:
        state = run.state
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        loop = _Loop(state["step"], state["loss_sum"], state["loss_count"], state["seconds"])
        logger.info("resuming %s from step %d of %d", run.out_dir, loop.step, total_steps)
    return session, loop


def _optimizer(
    model: PreTrainedModel, config: TrainConfig
) -> tuple[list[torch.nn.Parameter], torch.optim.Optimizer]:
    """AdamW over the trainable parameters (returned too, for gradient clipping).

    No weight decay on biases and normalisation weights (the 1-d parameters), as in BERT.
    """
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
        ],
        lr=config.lr,
    )
    return params, optimizer


def _step_loop(
    run: _Run,
    session: _Session,
    loop: _Loop,
    progress: bool,
    on_step: Callable[[int, float], None] | None,
) -> None:
    """Train from ``loop.step`` to the end of the last epoch, checkpointing as configured."""
    from tqdm.auto import tqdm

    config, triples, steps_per_epoch = run.config, run.triples, run.steps_per_epoch
    bar = tqdm(
        total=run.total_steps,
        initial=loop.step,
        desc=f"train {run.out_dir.name}",
        unit="step",
        disable=not progress,
        dynamic_ncols=True,
    )
    loop.started = time.perf_counter()
    order = _epoch_order(config.seed, loop.step // steps_per_epoch, len(triples))
    with bar:
        while loop.step < run.total_steps:
            epoch, batch_index = divmod(loop.step, steps_per_epoch)
            if batch_index == 0:
                order = _epoch_order(config.seed, epoch, len(triples))
                loop.loss_sum, loop.loss_count = 0.0, 0
            start = batch_index * config.batch_size
            batch = [triples[i] for i in order[start : start + config.batch_size]]
            loss_value = _train_step(session, batch, config)

            loop.step += 1
            loop.loss_sum += loss_value
            loop.loss_count += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loop.loss_sum / loop.loss_count:.4f}")
            checkpoint_due = config.checkpoint_every and loop.step % config.checkpoint_every == 0
            # The last step needs no checkpoint: it is saved as the model.
            if checkpoint_due and loop.step < run.total_steps:
                _checkpoint(run, session, loop)
            if on_step is not None:
                on_step(loop.step, loss_value)


def _train_step(session: _Session, batch: list[Triple], config: TrainConfig) -> float:
    """One optimizer step on one batch; returns its loss."""
    import torch

    queries = [q for q, _, _ in batch]
    encoded = session.tokenizer(
        queries + queries,
        [p for _, p, _ in batch] + [n for _, _, n in batch],
        truncation="only_second",
        max_length=config.max_length,
        padding=True,
        return_tensors="pt",
    ).to(session.device)
    with session.autocast:
        scores = session.model(**encoded).logits.squeeze(-1)
    loss = pairwise_loss(scores[: len(batch)], scores[len(batch) :], config)
    session.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(session.params, config.grad_clip)
    session.optimizer.step()
    session.scheduler.step()
    return loss.item()


def _checkpoint(run: _Run, session: _Session, loop: _Loop) -> None:
    save_checkpoint(
        run.out_dir,
        loop.step,
        session.model,
        session.tokenizer,
        {
            "run_fingerprint": run.run_fingerprint,
            "step": loop.step,
            "loss_sum": loop.loss_sum,
            "loss_count": loop.loss_count,
            "seconds": loop.elapsed(),
            "optimizer": session.optimizer.state_dict(),
            "scheduler": session.scheduler.state_dict(),
            "rng": rng_state(),
        },
    )


def _record(run: _Run, session: _Session, loop: _Loop) -> dict[str, Any]:
    """The content of ``training.json``: the run's provenance."""
    return {
        "base_model": str(run.base_model),
        "config": dataclasses.asdict(run.config),
        "device": str(session.device),
        "n_triples": len(run.triples),
        "triples_sha256": run.triples_sha256,
        "run_fingerprint": run.run_fingerprint,
        "steps": run.total_steps,
        "final_loss": loop.loss_sum / loop.loss_count,
        "seconds": round(loop.elapsed(), 3),
        "versions": _versions(),
    }


def _versions() -> dict[str, str]:
    import tokenizers
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "numpy": np.__version__,
    }


def _check_query_lengths(
    triples: Sequence[Triple], tokenizer: PreTrainedTokenizerBase, max_length: int
) -> None:
    """Fail before training, not mid-epoch, on a query that leaves no room for its document.

    ``truncation="only_second"`` cuts only the document, so a query of ``max_length`` tokens or
    more cannot be fitted and the tokenizer would raise an opaque error deep in the loop.
    """
    first_index: dict[str, int] = {}
    for index, (query, _, _) in enumerate(triples):
        first_index.setdefault(query, index)
    unique = list(first_index)
    lengths = [len(ids) for ids in tokenizer(unique, add_special_tokens=False)["input_ids"]]
    room = max_length - tokenizer.num_special_tokens_to_add(pair=True) - 1
    for query, n_tokens in zip(unique, lengths):
        if n_tokens > room:
            raise TrainingError(
                f"triple {first_index[query]}: the query has {n_tokens} tokens, leaving no room "
                f"for the document within max_length={max_length}"
            )


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def _epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The data order of one epoch: a pure function of (seed, epoch), so a resumed run can
    recompute it instead of storing it, and skip exactly the batches already done."""
    return np.random.default_rng([seed, epoch]).permutation(n)
