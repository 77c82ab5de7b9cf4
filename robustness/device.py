"""Device and mixed-precision choice, in one place, so every model runs the same way.

CUDA when present (bf16 autocast where supported, else fp16), CPU otherwise. A device named
explicitly (spec field `device`, a ranker's `device` parameter) wins; the env var
ROBUSTNESS_DEVICE only replaces "auto". Torch is imported when a device is picked, not when
this module is, so listing components stays instant.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Iterator

from robustness.errors import ConfigError

if TYPE_CHECKING:
    import torch


def pick_device(requested: str = "auto") -> "torch.device":
    """Resolve "auto" / "cpu" / "cuda[:n]" into a torch device; one line if it is unusable."""
    import torch

    if requested == "auto":
        requested = os.environ.get("ROBUSTNESS_DEVICE", "auto")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    check_device(requested)
    return torch.device(requested)


def check_device(requested: str) -> None:
    """Fail in one line, before any model loads, on a device name torch does not know or a
    CUDA device this machine does not have."""
    import torch

    if requested == "auto":
        return
    try:
        device = torch.device(requested)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device {requested!r} is not a device name (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {requested!r} was asked for, but CUDA is not available on this machine (use device=auto or cpu)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {requested!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type != "cpu":
        raise ConfigError(f"device {requested!r} is not supported (use auto, cpu, cuda or cuda:N)")


@contextlib.contextmanager
def inference_context(device: "torch.device") -> Iterator[None]:
    """`inference_mode` everywhere, plus half-precision autocast on CUDA (bf16 if supported)."""
    import torch

    with torch.inference_mode():
        if device.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            with torch.autocast("cuda", dtype=dtype):
                yield
        else:
            yield
