"""Importing TextAttack offline and without side effects: `load_textattack`.

TextAttack 0.3.11 cannot be imported as it is in this project. At import time it (1) runs a
one-off "post-install" that calls ``nltk.download`` for six NLTK packages, (2) builds default
constraints that read NLTK's stopword corpus, (3) imports flair (which pins ``transformers<5``),
jieba, datasets and other recipe-specific packages at module level, (4) sets
``TOKENIZERS_PARALLELISM`` and (5) reconfigures logging in a way that disables every existing
logger. `load_textattack` works around each, during the import only (docs/textattack.md).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.abc
import importlib.machinery
import importlib.metadata
import importlib.util
import logging
import logging.config
import os
import sys
import types
from pathlib import Path
from typing import Any, Iterator

from robustness.errors import RobustnessError
from robustness.text.tokenize import STOPWORDS

__all__ = ["INSTALL_HINT", "TEXTATTACK_VERSION", "TextAttackUnavailable", "blocked_downloads", "load_textattack"]

TEXTATTACK_VERSION = "0.3.11"  # the release the bridge is written and tested against
INSTALL_HINT = f"pip install --no-deps textattack=={TEXTATTACK_VERSION} && pip install lru-dict"

#: NLTK downloads that TextAttack asked for while `load_textattack` imported it (never made).
blocked_downloads: list[tuple[Any, ...]] = []

# (3) Modules TextAttack imports at module level only for parts the bridge never uses (Chinese and
# number transformations, grammar checkers, BERTScore, HuggingFace datasets, POS tagging...), with
# the package that provides each. An installed one is used as it is.
_OPTIONAL_MODULES: dict[str, str] = {
    "flair": "flair",
    "jieba": "jieba",
    "Levenshtein": "Levenshtein",
    "langdetect": "langdetect",
    "pinyin": "pinyin",
    "OpenHowNet": "OpenHowNet",
    "lemminflect": "lemminflect",
    "more_itertools": "more-itertools",
    "num2words": "num2words",
    "word2number": "word2number",
    "language_tool_python": "language-tool-python",
    "bert_score": "bert-score",
    "editdistance": "editdistance",
    "datasets": "datasets",
    "terminaltables": "terminaltables",
}

logger = logging.getLogger(__name__)


class TextAttackUnavailable(RobustnessError):
    """TextAttack (or its one required extra, lru-dict) is not installed."""


class _Placeholder(type):
    """Any attribute of a placeholder module: can be subclassed at import, raises when used."""

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Placeholder(f"{cls.__name__}.{name}", (), {"_package": cls._package})

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        raise ModuleNotFoundError(
            f"{cls.__name__} is unavailable: the package {cls._package!r} is not installed "
            f"(TextAttack needs it for this feature; the robustness bridge does not): pip install {cls._package}"
        )


class _PlaceholderModule(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        root = self.__name__.partition(".")[0]
        return _Placeholder(f"{self.__name__}.{name}", (), {"_package": _OPTIONAL_MODULES[root]})


class _PlaceholderFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves placeholder modules for the given missing top-level names and their submodules."""

    def __init__(self, missing: set[str]):
        self.missing = missing
        self.created: list[str] = []

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in self.missing:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        self.created.append(spec.name)
        return _PlaceholderModule(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        return None


class _EnglishStopwords:
    """Stands in for NLTK's stopword corpus (not downloaded) with our `STOPWORDS`."""

    def words(self, fileids: str | None = None) -> list[str]:
        if fileids not in (None, "english"):
            raise LookupError(f"only English stopwords are available offline, not {fileids!r}")
        return sorted(STOPWORDS)


def _no_download(*args: Any, **kwargs: Any) -> bool:
    blocked_downloads.append(args)
    return False  # what nltk.download returns when it cannot reach its server


@contextlib.contextmanager
def _offline_import_guard() -> Iterator[None]:
    """Everything `load_textattack` changes while TextAttack imports, undone afterwards."""
    from unittest import mock

    import nltk.corpus

    dict_config, environ = logging.config.dictConfig, dict(os.environ)
    finder = _PlaceholderFinder({name for name in _OPTIONAL_MODULES if importlib.util.find_spec(name) is None})
    with contextlib.ExitStack() as undo:
        # (1) The post-install is marked done (load_textattack); should it run anyway, nothing
        # is fetched: the bridge brings WordNet and stopwords itself.
        undo.enter_context(mock.patch.object(nltk, "download", _no_download))
        # (2) NLTK's stopword corpus is not downloaded; TextAttack's default constraints read it.
        undo.enter_context(mock.patch.object(nltk.corpus, "stopwords", _EnglishStopwords()))
        # (4) TOKENIZERS_PARALLELISM (and, with TA_CACHE_DIR, HF_HOME...) are set back.
        undo.callback(_restore_environ, environ)
        # (5) TextAttack sets its own logger's level with a non-incremental dictConfig, which would
        # close every handler and disable every logger of the process: made incremental.
        undo.enter_context(
            mock.patch.object(logging.config, "dictConfig", lambda config: dict_config({**config, "incremental": True}))
        )
        # (3) Missing optional packages are placeholders during the import only: TextAttack's
        # modules keep theirs (which raise ModuleNotFoundError naming the package when used),
        # later imports get the truth.
        sys.meta_path.insert(0, finder)
        undo.callback(sys.meta_path.remove, finder)
        undo.callback(_forget_placeholders, finder.created)
        yield


def _restore_environ(saved: dict[str, str]) -> None:
    for key in set(os.environ) - set(saved):
        del os.environ[key]
    os.environ.update({key: value for key, value in saved.items() if os.environ.get(key) != value})


def _forget_placeholders(names: list[str]) -> None:
    for name in names:
        if isinstance(sys.modules.get(name), _PlaceholderModule):
            del sys.modules[name]


@functools.cache
def load_textattack() -> types.ModuleType:
    """Import TextAttack offline: nothing downloaded, nothing else in this process changed.

    Works around (1)-(5) of the module's docstring; NLTK downloads TextAttack asks for during
    the import are not made but listed in `blocked_downloads`.
    """
    if sys.modules.get("textattack") is not None:
        return sys.modules["textattack"]
    if importlib.util.find_spec("textattack") is None:
        raise TextAttackUnavailable(f"the textattack attack needs TextAttack: {INSTALL_HINT}")
    if importlib.util.find_spec("lru") is None:
        raise TextAttackUnavailable(f"TextAttack needs the package lru-dict: pip install lru-dict ({INSTALL_HINT})")
    # (1) Mark TextAttack's one-off post-install (nltk.download of six packages) as done, in its
    # cache folder, as TextAttack itself does after running it.
    cache = Path(os.environ.get("TA_CACHE_DIR", os.path.expanduser("~/.cache/textattack")))
    try:
        cache.mkdir(parents=True, exist_ok=True)
        (cache / "post_install_check_3").touch(exist_ok=True)
    except OSError:
        pass  # TextAttack will try to create it too; nltk.download is a no-op meanwhile
    with _offline_import_guard():
        try:
            textattack = importlib.import_module("textattack")
        except ImportError as exc:
            for name in [m for m in sys.modules if m == "textattack" or m.startswith("textattack.")]:
                del sys.modules[name]  # no half-imported package left behind
            raise TextAttackUnavailable(f"TextAttack could not be imported ({exc}); {INSTALL_HINT}") from exc
    try:
        installed = importlib.metadata.version("textattack")
    except importlib.metadata.PackageNotFoundError:
        installed = None
    if installed != TEXTATTACK_VERSION:
        logger.warning("textattack %s installed; the bridge is tested with %s", installed, TEXTATTACK_VERSION)
    return textattack
