"""One pairwise trainer for every cross-encoder the suite fine-tunes.

Victims (fine-tuned on a collection's training qrels), PRADA surrogates (trained on a victim's
ranking, DESIGN §8.1), Order-Disorder imitation models (RankNet with label smoothing, §8.3) and
robust-training defences (§9.3) all reduce to the same job: given (query, preferred document,
less-preferred document) triples, teach a cross-encoder to score the preferred one higher. They
share this one trainer so that a fix or a speed-up reaches all of them, and so that they cache,
resume and record their provenance the same way.

A cross-encoder here is ``AutoModelForSequenceClassification(num_labels=1)`` over
``tokenizer(query, doc, truncation="only_second")``; its score is the single logit.

Layout of an ``out_dir`` while training and after::

    out_dir/checkpoint-00000200/   latest partial checkpoint: model + tokenizer + trainer_state.pt
    out_dir/config.json, model.safetensors, tokenizer files   the finished model
    out_dir/training.json          written last: its presence means "finished"

A checkpoint is written under a ``.tmp-*`` name and then renamed, and the finished model is
moved in file by file with ``training.json`` last, so a process killed mid-save leaves a
complete checkpoint to resume from, never half of one that looks usable.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import platform
import random
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from robustness.errors import TrainingError

if TYPE_CHECKING:  # torch and transformers are imported lazily: importing this module is cheap.
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "Triple",
    "TrainConfig",
    "train_pairwise",
    "pairwise_loss",
    "fingerprint_triples",
    "training_fingerprint",
    "triples_from_qrels",
    "triples_from_ranking",
    "model_cache_path",
]

logger = logging.getLogger(__name__)

Triple = tuple[str, str, str]
"""(query text, preferred document text, less-preferred document text)."""

TRAINING_JSON = "training.json"
_STATE_FILE = "trainer_state.pt"
_CHECKPOINT_PREFIX = "checkpoint-"
_TMP_PREFIX = ".tmp-"
# Config fields that change how a run is carried out but not which weights it produces; they
# stay out of the fingerprint so that, e.g., a model trained on a GPU is reused on a laptop.
_NON_RESULT_FIELDS = frozenset({"checkpoint_every", "device"})
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


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


# --------------------------------------------------------------------------------------------
# Fingerprints and the cache location
# --------------------------------------------------------------------------------------------


def fingerprint_triples(triples: Sequence[Triple]) -> str:
    """sha256 of the triples, in order (the order fixes the seeded data order, hence the weights).

    Each text is length-prefixed so that no two different triple lists hash alike.
    """
    digest = hashlib.sha256()
    for triple in triples:
        for text in triple:
            data = text.encode("utf-8")
            digest.update(len(data).to_bytes(8, "little"))
            digest.update(data)
    return digest.hexdigest()


def _base_model_id(base_model: str | Path) -> str:
    """A local checkpoint by its resolved path (so ``minilm``, ``./m`` and ``/abs/m`` agree with
    their folder), else the hub id as given."""
    from robustness.rankers.loading import resolve_model

    source = resolve_model(base_model)
    return str(Path(source).resolve()) if Path(source).exists() else source


def training_fingerprint(
    base_model: str | Path, triples: Sequence[Triple], config: TrainConfig
) -> str:
    """sha256 of everything that determines the trained weights: base model, triples, config.

    Callers key their model cache on it (``model_cache_path(name, fp[:16])``) and the trainer
    refuses to reuse an ``out_dir`` whose finished model or checkpoint has another fingerprint.
    """
    return _run_fingerprint(base_model, fingerprint_triples(triples), config)


def _run_fingerprint(base_model: str | Path, triples_sha256: str, config: TrainConfig) -> str:
    payload = {
        "base_model": _base_model_id(base_model),
        "triples_sha256": triples_sha256,
        "config": {
            k: v for k, v in dataclasses.asdict(config).items() if k not in _NON_RESULT_FIELDS
        },
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def model_cache_path(name: str, fingerprint: str) -> Path:
    """``<cache>/models/<name>-<fingerprint>``: one directory per distinct trained model."""
    for label, value in (("name", name), ("fingerprint", fingerprint)):
        if not _SAFE_NAME.fullmatch(value):
            raise TrainingError(
                f"model cache {label} must be letters, digits, '.', '_' or '-', got {value!r}"
            )
    from robustness.cache import cache_dir

    return cache_dir() / "models" / f"{name}-{fingerprint}"


# --------------------------------------------------------------------------------------------
# Triple builders
# --------------------------------------------------------------------------------------------


def _text(doc_text: Mapping[str, str], doc_id: str, where: str) -> str:
    try:
        return doc_text[doc_id]
    except KeyError:
        raise TrainingError(f"document {doc_id!r} ({where}) is not in doc_text") from None


def _query(queries: Mapping[str, str], qid: str, where: str) -> str:
    try:
        return queries[qid]
    except KeyError:
        raise TrainingError(f"query {qid!r} (in {where}) is not in queries") from None


def triples_from_qrels(
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    doc_text: Mapping[str, str],
    negatives: Mapping[str, Sequence[str]],
    per_positive: int,
    rng: random.Random,
) -> list[Triple]:
    """Supervised triples: each judged-relevant document against sampled candidates.

    For every query in ``qrels`` (sorted by id, so the result does not depend on dict order),
    every document with grade > 0 is paired with ``per_positive`` documents drawn without
    replacement from ``negatives[qid]`` (typically the BM25 top-k: hard negatives the ranker
    will actually have to beat). Relevant documents are removed from that pool, otherwise a
    relevant document would be taught as less relevant than another; documents judged 0 stay,
    as they are true negatives. Queries without a positive or without any negative left are
    skipped. Fewer than ``per_positive`` candidates means all of them are used.
    """
    if per_positive < 1:
        raise TrainingError(f"per_positive must be >= 1, got {per_positive}")
    triples: list[Triple] = []
    for qid in sorted(qrels):
        judged = qrels[qid]
        positives = sorted(d for d, grade in judged.items() if grade > 0)
        if not positives:
            continue
        pool = [d for d in dict.fromkeys(negatives.get(qid, ())) if judged.get(d, 0) <= 0]
        if not pool:
            continue
        query = _query(queries, qid, "qrels")
        for pos in positives:
            pos_text = _text(doc_text, pos, f"relevant to query {qid!r}")
            for neg in rng.sample(pool, min(per_positive, len(pool))):
                triples.append((query, pos_text, _text(doc_text, neg, f"negative for {qid!r}")))
    return triples


def triples_from_ranking(
    queries: Mapping[str, str],
    rankings: Mapping[str, Sequence[str]],
    doc_text: Mapping[str, str],
    rng: random.Random,
    top: int = 10,
    n_pairs_per_query: int | None = 20,
    min_gap: int = 1,
) -> list[Triple]:
    """Pseudo-relevance-feedback triples from a black-box ranking (PRADA's surrogate, §8.1).

    The attacker sees only the victim's order, so the label is the order itself: a document
    ranked higher is preferred to one ranked lower. Of all such pairs, we sample those whose
    preferred document is in the first ``top`` ranks (``i < top``) and whose other document is
    at least ``min_gap`` ranks below it (``j >= i + min_gap``), uniformly, ``n_pairs_per_query``
    per query (``None``: all of them). Why this shape:

    * the preferred side comes from the top because that is where the victim's order carries
      signal and what the attacks care about (pushing a rank-51..100 target into the top-10);
      pairs between two tail documents mostly teach the victim's noise;
    * the other side ranges over every lower rank, so a sample mixes fine-grained pairs inside
      the top (the order among the best documents, as in IDEM's all-pairs-in-top-k) with
      top-versus-tail pairs (the boundary a promoted target must cross, as in Order-Disorder's
      negatives from below the top-25) in proportion to how many of each exist;
    * ``min_gap`` > 1 drops near-ties, whose order the victim decides by tiny score differences;
    * sampling instead of enumerating caps the cost: top-10 of a 100-list alone has 945 pairs
      per query, and MiniLM trains at ~7 triples/s (128 tokens) on 2 CPU cores.

    Queries are visited in sorted id order so the result depends only on the inputs and ``rng``.
    """
    if top < 1:
        raise TrainingError(f"top must be >= 1, got {top}")
    if n_pairs_per_query is not None and n_pairs_per_query < 1:
        raise TrainingError(f"n_pairs_per_query must be >= 1 or None, got {n_pairs_per_query}")
    if min_gap < 1:
        raise TrainingError(f"min_gap must be >= 1, got {min_gap}")
    triples: list[Triple] = []
    for qid in sorted(rankings):
        ranking = list(rankings[qid])
        if len(set(ranking)) != len(ranking):
            raise TrainingError(f"ranking of query {qid!r} lists a document more than once")
        pairs = [
            (i, j)
            for i in range(min(top, len(ranking)))
            for j in range(i + min_gap, len(ranking))
        ]
        if not pairs:
            continue
        if n_pairs_per_query is not None and n_pairs_per_query < len(pairs):
            pairs = sorted(rng.sample(pairs, n_pairs_per_query))
        query = _query(queries, qid, "rankings")
        where = f"ranked for query {qid!r}"
        triples.extend(
            (query, _text(doc_text, ranking[i], where), _text(doc_text, ranking[j], where))
            for i, j in pairs
        )
    return triples


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


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


def _validate_triples(triples: Sequence[Triple]) -> list[Triple]:
    if len(triples) == 0:
        raise TrainingError("triples is empty: need at least one (query, preferred, less-preferred)")
    parts = ("query", "preferred document", "less-preferred document")
    checked: list[Triple] = []
    for index, triple in enumerate(triples):
        if not isinstance(triple, (tuple, list)) or len(triple) != 3:
            raise TrainingError(f"triple {index} is not a (query, preferred, less-preferred) triple")
        for part, text in zip(parts, triple):
            if not isinstance(text, str):
                raise TrainingError(f"triple {index}: the {part} is {type(text).__name__}, not str")
            if not text.strip():
                raise TrainingError(f"triple {index}: the {part} is empty")
        checked.append((triple[0], triple[1], triple[2]))
    return checked


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


def _rng_state() -> dict[str, Any]:
    """Every generator's state, as tensors and plain Python values (``weights_only``-loadable)."""
    import torch

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
    }


def _set_rng_state(state: Mapping[str, Any]) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))


def _checkpoints(out_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first (only complete ones carry the final name)."""
    found = [
        p
        for p in out_dir.glob(f"{_CHECKPOINT_PREFIX}*")
        if p.is_dir() and p.name[len(_CHECKPOINT_PREFIX) :].isdigit()
    ]
    return sorted(found, key=lambda p: int(p.name[len(_CHECKPOINT_PREFIX) :]))


def _remove_stale_temporaries(out_dir: Path) -> None:
    """Drop what a killed save left behind; one writer per out_dir is assumed."""
    for path in out_dir.glob(f"{_TMP_PREFIX}*"):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def _save_checkpoint(
    out_dir: Path,
    step: int,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    state: dict[str, Any],
) -> None:
    import torch

    tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}checkpoint-", dir=out_dir))
    model.save_pretrained(tmp)  # transformers 5 always writes safetensors
    tokenizer.save_pretrained(tmp)
    torch.save(state, tmp / _STATE_FILE)
    final = out_dir / f"{_CHECKPOINT_PREFIX}{step:08d}"
    if final.exists():  # re-reaching a step after a crash between rename and clean-up
        shutil.rmtree(final)
    os.replace(tmp, final)
    for older in _checkpoints(out_dir):
        if older != final:
            shutil.rmtree(older)


def _save_final(
    out_dir: Path, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, record: dict
) -> None:
    """Move the finished model into out_dir file by file, training.json last: until that last
    rename the directory still reads as unfinished and still holds its checkpoint."""
    tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}final-", dir=out_dir))
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / TRAINING_JSON).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    for path in sorted(tmp.iterdir(), key=lambda p: p.name == TRAINING_JSON):
        os.replace(path, out_dir / path.name)
    tmp.rmdir()
    for checkpoint in _checkpoints(out_dir):
        shutil.rmtree(checkpoint)


def _finished_fingerprint(out_dir: Path) -> str | None:
    record_path = out_dir / TRAINING_JSON
    if not record_path.is_file():
        return None
    return str(json.loads(record_path.read_text()).get("run_fingerprint"))


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
    import torch
    from tqdm.auto import tqdm
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        get_linear_schedule_with_warmup,
    )

    from robustness.device import pick_device
    from robustness.rankers.loading import load_pretrained

    triples = _validate_triples(triples)
    out_dir = Path(out_dir)
    triples_sha256 = fingerprint_triples(triples)
    run_fingerprint = _run_fingerprint(base_model, triples_sha256, config)

    finished = _finished_fingerprint(out_dir)
    if finished == run_fingerprint:
        return out_dir
    if finished is not None:
        raise TrainingError(
            f"{out_dir} holds a model of another training run; delete it or pick another out_dir"
        )

    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(out_dir)
    checkpoints = _checkpoints(out_dir)
    resume_from = checkpoints[-1] if checkpoints else None
    state: dict[str, Any] | None = None
    if resume_from is not None:
        state = torch.load(resume_from / _STATE_FILE, weights_only=True, map_location="cpu")
        if state["run_fingerprint"] != run_fingerprint:
            raise TrainingError(
                f"{resume_from} is a checkpoint of another training run; "
                "delete it or pick another out_dir"
            )

    device = pick_device(config.device)
    # Seeded before loading, so the fresh head starts as CrossEncoderRanker(seed=...)'s does.
    _seed_everything(config.seed)
    source = resume_from if resume_from is not None else base_model
    tokenizer = load_pretrained(AutoTokenizer, source)
    _check_query_lengths(triples, tokenizer, config.max_length)
    model = load_pretrained(
        AutoModelForSequenceClassification, source, num_labels=1, dtype=torch.float32
    ).to(device)
    model.train()

    # No weight decay on biases and normalisation weights (the 1-d parameters), as in BERT.
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
        ],
        lr=config.lr,
    )
    steps_per_epoch = math.ceil(len(triples) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    scheduler = get_linear_schedule_with_warmup(
        optimizer, round(config.warmup_ratio * total_steps), total_steps
    )

    step, loss_sum, loss_count, seconds = 0, 0.0, 0, 0.0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        step, loss_sum, loss_count = state["step"], state["loss_sum"], state["loss_count"]
        seconds = state["seconds"]
        logger.info("resuming %s from step %d of %d", out_dir, step, total_steps)

    # bf16 needs no loss scaling; a GPU without it trains in fp32 rather than risk fp16 underflow.
    use_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)
    bar = tqdm(
        total=total_steps,
        initial=step,
        desc=f"train {out_dir.name}",
        unit="step",
        disable=not progress,
        dynamic_ncols=True,
    )
    started = time.perf_counter()
    order = _epoch_order(config.seed, step // steps_per_epoch, len(triples))
    with bar:
        while step < total_steps:
            epoch, batch_index = divmod(step, steps_per_epoch)
            if batch_index == 0:
                order = _epoch_order(config.seed, epoch, len(triples))
                loss_sum, loss_count = 0.0, 0
            start = batch_index * config.batch_size
            batch = [triples[i] for i in order[start : start + config.batch_size]]
            queries = [q for q, _, _ in batch]
            encoded = tokenizer(
                queries + queries,
                [p for _, p, _ in batch] + [n for _, _, n in batch],
                truncation="only_second",
                max_length=config.max_length,
                padding=True,
                return_tensors="pt",
            ).to(device)
            with autocast:
                scores = model(**encoded).logits.squeeze(-1)
            loss = pairwise_loss(scores[: len(batch)], scores[len(batch) :], config)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
            optimizer.step()
            scheduler.step()

            step += 1
            loss_value = loss.item()
            loss_sum += loss_value
            loss_count += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss_sum / loss_count:.4f}")
            checkpoint_due = config.checkpoint_every and step % config.checkpoint_every == 0
            if checkpoint_due and step < total_steps:  # the last step is saved as the model
                _save_checkpoint(
                    out_dir,
                    step,
                    model,
                    tokenizer,
                    {
                        "run_fingerprint": run_fingerprint,
                        "step": step,
                        "loss_sum": loss_sum,
                        "loss_count": loss_count,
                        "seconds": seconds + time.perf_counter() - started,
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "rng": _rng_state(),
                    },
                )
            if on_step is not None:
                on_step(step, loss_value)

    record = {
        "base_model": str(base_model),
        "config": dataclasses.asdict(config),
        "device": str(device),
        "n_triples": len(triples),
        "triples_sha256": triples_sha256,
        "run_fingerprint": run_fingerprint,
        "steps": total_steps,
        "final_loss": loss_sum / loss_count,
        "seconds": round(seconds + time.perf_counter() - started, 3),
        "versions": _versions(),
    }
    _save_final(out_dir, model, tokenizer, record)
    return out_dir
