"""Where the suite keeps what is expensive to recompute: scores, trained models, resources.

`ROBUSTNESS_CACHE_DIR` overrides the user cache directory (tests point it at a temp dir).
Nothing here is ever committed to the repository.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    override = os.environ.get("ROBUSTNESS_CACHE_DIR")
    if override:
        path = Path(override)
    else:
        from platformdirs import user_cache_dir

        path = Path(user_cache_dir("ranking-robustness"))
    path.mkdir(parents=True, exist_ok=True)
    return path
