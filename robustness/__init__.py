"""Robustness and adversarial evaluation suite for neural ranking models.

Public API (imported lazily, so the CLI starts instantly):
    Ranker, CallableRanker                  the ranker interface and a function adapter
    make                                    build any registered component by kind and name
    ScoringEngine                           the single scoring path (dedup, cache, batching)
    load_collection                         built-in, BEIR, TREC and ir_datasets collections
    load_spec, run_benchmark                YAML specs and the benchmark runner
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Ranker": "robustness.rankers.base",
    "CallableRanker": "robustness.rankers.callable",
    "make": "robustness.registry",
    "ScoringEngine": "robustness.engine",
    "load_collection": "robustness.data.loaders",
    "load_spec": "robustness.config",
    "run_benchmark": "robustness.runner",
    "RobustnessError": "robustness.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'robustness' has no attribute {name!r}")
