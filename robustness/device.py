"""Device and mixed-precision choice, in one place, so every model runs the same way.

CUDA when present (bf16 autocast where supported, else fp16), CPU otherwise; the user can
force a device with the spec field `device` or the env var ROBUSTNESS_DEVICE.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

import torch


def pick_device(requested: str = "auto") -> torch.device:
    """Resolve "auto" / "cpu" / "cuda[:n]" into a torch device."""
    requested = os.environ.get("ROBUSTNESS_DEVICE", requested)
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


@contextlib.contextmanager
def inference_context(device: torch.device) -> Iterator[None]:
    """`inference_mode` everywhere, plus half-precision autocast on CUDA (bf16 if supported)."""
    with torch.inference_mode():
        if device.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            with torch.autocast("cuda", dtype=dtype):
                yield
        else:
            yield
