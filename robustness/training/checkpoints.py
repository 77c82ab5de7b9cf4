"""How a training run is saved, found again and resumed.

Layout of an ``out_dir`` while training and after::

    out_dir/checkpoint-00000200/   latest partial checkpoint: model + tokenizer + trainer_state.pt
    out_dir/config.json, model.safetensors, tokenizer files   the finished model
    out_dir/training.json          written last: its presence means "finished"

A checkpoint is written under a ``.tmp-*`` name and then renamed, and the finished model is
moved in file by file with ``training.json`` last, so a process killed mid-save leaves a
complete checkpoint to resume from, never half of one that looks usable.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from robustness.errors import TrainingError

if TYPE_CHECKING:  # torch and transformers are imported lazily: importing this module is cheap.
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

TRAINING_JSON = "training.json"
_STATE_FILE = "trainer_state.pt"
_CHECKPOINT_PREFIX = "checkpoint-"
_TMP_PREFIX = ".tmp-"


def rng_state() -> dict[str, Any]:
    """Every generator's state, as tensors and plain Python values (``weights_only``-loadable)."""
    import torch

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
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


def finished_fingerprint(out_dir: Path) -> str | None:
    """The run fingerprint of the finished model in ``out_dir``; None if it holds none."""
    record_path = out_dir / TRAINING_JSON
    if not record_path.is_file():
        return None
    return str(json.loads(record_path.read_text()).get("run_fingerprint"))


def resume_point(
    out_dir: Path, run_fingerprint: str
) -> tuple[Path | None, dict[str, Any] | None]:
    """The latest checkpoint in ``out_dir`` (created if missing) and its trainer state, or
    ``(None, None)`` to start afresh; a checkpoint of another run raises instead."""
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(out_dir)
    checkpoints = _checkpoints(out_dir)
    if not checkpoints:
        return None, None
    resume_from = checkpoints[-1]
    state = torch.load(resume_from / _STATE_FILE, weights_only=True, map_location="cpu")
    if state["run_fingerprint"] != run_fingerprint:
        raise TrainingError(
            f"{resume_from} is a checkpoint of another training run; "
            "delete it or pick another out_dir"
        )
    return resume_from, state


def save_checkpoint(
    out_dir: Path,
    step: int,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    state: dict[str, Any],
) -> None:
    """Save ``step``'s checkpoint (``state`` is what :func:`resume_point` hands back), then drop
    the older ones."""
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


def save_final(
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
