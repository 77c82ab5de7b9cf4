"""Find a ranker by name: built-ins, `module:Class` plug-ins, and the `robustness.rankers` entry points.

Construction is lazy: listing names never imports torch or loads a model.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable

from robustness.errors import RankerError
from robustness.rankers.base import Ranker

ENTRY_POINT_GROUP = "robustness.rankers"


def _bm25(**params: Any) -> Ranker:
    from robustness.rankers.bm25 import BM25Ranker

    return BM25Ranker(**params)


def _bi_encoder(**params: Any) -> Ranker:
    from robustness.rankers.bi_encoder import BiEncoderRanker

    return BiEncoderRanker(**params)


def _cross_encoder(**params: Any) -> Ranker:
    from robustness.rankers.cross_encoder import CrossEncoderRanker

    if "model" not in params:
        raise RankerError("ranker type 'cross-encoder' needs params.model (a folder or hub id)")
    return CrossEncoderRanker(**params)


def _trained_cross_encoder(**params: Any) -> Ranker:
    from robustness.rankers.trained import trained_cross_encoder

    return trained_cross_encoder(**params)


BUILTIN: dict[str, tuple[Callable[..., Ranker], str]] = {
    "bm25": (_bm25, "BM25 (Lucene variant, bm25s), the lexical reference"),
    "minilm": (_bi_encoder, "bi-encoder on the shipped all-MiniLM-L6-v2 weights (offline default)"),
    "bi-encoder": (_bi_encoder, "mean-pooled transformer bi-encoder; params.model = folder or hub id"),
    "cross-encoder": (_cross_encoder, "sequence-classification cross-encoder; params.model = folder or hub id"),
    "trained-cross-encoder": (_trained_cross_encoder, "MiniLM cross-encoder fine-tuned on params.dataset's train split (trained once, cached)"),
}


def available_rankers() -> dict[str, str]:
    """Name -> one-line description, built-ins first, then installed plug-ins."""
    names = {name: desc for name, (_, desc) in BUILTIN.items()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        names.setdefault(ep.name, f"plug-in {ep.value}")
    return names


def _import_object(reference: str) -> Any:
    """Import `package.module:Object` or `path/to/file.py:Object`."""
    module_part, _, attr = reference.rpartition(":")
    if not module_part or not attr:
        raise RankerError(f"ranker reference {reference!r} is not of the form module:Class")
    try:
        if module_part.endswith(".py"):
            path = Path(module_part)
            if not path.is_file():
                raise RankerError(f"ranker file {module_part!r} does not exist")
            module_name = f"robustness_plugin_{path.stem}"  # never shadows a real module
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        else:
            if "" not in sys.path and str(Path.cwd()) not in sys.path:
                sys.path.insert(0, str(Path.cwd()))  # a user's module next to their spec
            module = importlib.import_module(module_part)
    except RankerError:
        raise
    except Exception as exc:  # ImportError, or any error raised while the user's module runs
        raise RankerError(f"cannot import ranker module {module_part!r}: {type(exc).__name__}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise RankerError(f"module {module_part!r} has no attribute {attr!r}") from None


def make_ranker(kind: str, name: str | None = None, **params: Any) -> Ranker:
    """Build a ranker from a built-in name, an entry-point name or a `module:Class` reference."""
    if kind in BUILTIN:
        factory = BUILTIN[kind][0]
        if kind == "minilm":
            params.setdefault("model", "minilm")
    elif ":" in kind:
        factory = _import_object(kind)
    else:
        matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == kind]
        if not matches:
            known = ", ".join(available_rankers())
            raise RankerError(f"unknown ranker {kind!r} (known: {known}; or give module:Class)")
        factory = matches[0].load()
    try:
        ranker = factory(**params)
    except TypeError as exc:
        raise RankerError(f"cannot build ranker {kind!r} with params {sorted(params)}: {exc}") from None
    for attribute in ("name", "score", "fingerprint"):
        if not hasattr(ranker, attribute):
            raise RankerError(f"ranker {kind!r} has no {attribute!r}: it does not implement the Ranker interface")
    if name is not None:
        ranker.name = name
    return ranker
