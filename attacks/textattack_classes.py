"""The bridge's TextAttack subclasses: a ranking goal over our victim, offline WordNet and GloVe.

Importing this module imports TextAttack (through `load_textattack`, which takes seconds); the
bridge (`textattack_bridge`) imports it when it first builds an attack.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import sys
import warnings
from typing import Any, Iterator

from robustness.protocols.attack import Victim
from robustness.text.synonyms import GloveSource, SynonymSource, SynonymSourceError

from .textattack_compat import TextAttackUnavailable, load_textattack

load_textattack()

from textattack.goal_function_results import GoalFunctionResult  # noqa: E402  (after load_textattack)
from textattack.goal_functions import GoalFunction  # noqa: E402
from textattack.models.wrappers import ModelWrapper  # noqa: E402
from textattack.search_methods import GreedySearch  # noqa: E402
from textattack.shared import AttackedText, WordEmbedding, utils  # noqa: E402
from textattack.transformations import WordSwapWordNet  # noqa: E402
from textattack.transformations.word_swaps.word_swap_embedding import recover_word_case  # noqa: E402

__all__ = [
    "KeepBestGreedySearch",
    "LocalWordSwapWordNet",
    "RankGoalFunction",
    "RankGoalFunctionResult",
    "VictimModelWrapper",
    "glove_embedding",
]


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

    def __init__(self, source: SynonymSource, max_candidates: int = 50):
        super(WordSwapWordNet, self).__init__()  # WordSwap's constructor, not the downloading one
        self.language = "eng"
        self.source = source
        self.max_candidates = max_candidates

    def _get_replacement_words(self, word: str, random: bool = False) -> list[str]:
        return [recover_word_case(candidate, word) for candidate, _ in self.source.neighbours(word, self.max_candidates)]

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


class _NeighbourRows:
    """`WordEmbedding.nn_matrix` over a `GloveSource`: row ``i`` = [i, its neighbours' rows...].

    Upstream's own path (no nn_matrix) ranks the whole table by Euclidean distance, and 0.3.11's
    code for it fails (it slices topk's (values, indices) pair). A row here is GloveSource's
    cosine neighbours of the word, among its ``vocab_size`` most frequent plain words and never
    the word's own inflections, computed when first asked for.
    """

    def __init__(self, glove: GloveSource):
        self.glove = glove

    def __getitem__(self, row: int) -> list[int]:
        row = int(row)
        return [row] + [self.glove.vocabulary[word] for word, _ in self.glove.neighbours(self.glove.words[row])]


@functools.cache
def glove_embedding(vocab_size: int, k: int) -> WordEmbedding:
    """GloVe 6B 50-d (`GloveSource`) as a `textattack.shared.WordEmbedding`; one per process.

    Neighbour rows hold the ``k`` nearest words whatever their cosine: TextAttack's
    `WordEmbeddingDistance` constraint is what enforces ``min_cos_sim``.
    """
    try:
        glove = GloveSource(threshold=-math.inf, k=k, vocab_size=vocab_size)
    except SynonymSourceError as exc:
        raise TextAttackUnavailable(f"the glove transformation: {exc}") from None
    return WordEmbedding(glove.vectors, glove.vocabulary, glove.words, nn_matrix=_NeighbourRows(glove))
