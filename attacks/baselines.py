"""Baseline attacks that a published attack must beat at equal budget (DESIGN §8.4): keyword
stuffing, random synonym substitution, random-token triggers."""

from __future__ import annotations

import random
import re

from robustness.errors import ConfigError
from robustness.protocols.attack import AttackOutcome, Edit, Target, Victim, apply_edits

from robustness.attacks.components import (
    DEFAULT_MAX_SENSES,
    DEFAULT_SAME_INFLECTION,
    DEFAULT_SAME_POS,
    DEFAULT_WINDOW,
    DEFAULT_WINDOW_SIMILARITY,
    SynonymSubstitution,
    WordConstraints,
    WordSequence,
    substitution_options,
)
from robustness.attacks.search import RandomSearch
from robustness.attacks.triggers import TRIGGER_POSITIONS, trigger_edit, trigger_vocabulary

STUFFING_POSITIONS = ("start", "end", "repeat")
_WHITESPACE_WORD = re.compile(r"\S+")


class KeywordStuffing:
    """Query+ keyword stuffing (Wu et al., TOIS 2022, task 4): the query put into the document
    (for a query group, its queries one after the other: the topic attack's stuffing baseline).

    - start: the whole query prepended; end: appended (beyond a model's max length it is
      truncated away — a real property of the victim, reported as such);
    - repeat: the query inserted `times` times before random whitespace-separated words.
    Static: it never queries the victim. The document's own spacing is kept.
    """

    def __init__(self, position: str = "start", times: int = 3):
        if position not in STUFFING_POSITIONS:
            raise ConfigError(f"keyword_stuffing position {position!r} is not one of {', '.join(STUFFING_POSITIONS)}")
        if times < 1:
            raise ConfigError(f"keyword_stuffing times must be >= 1, got {times}")
        self.position = position
        self.times = times
        self.name = f"query+{position}"

    def attack(self, target: Target, victim: Victim, rng: random.Random) -> AttackOutcome:
        text, query = target.text, " ".join(q.strip() for q in target.queries)
        starts = [m.start() for m in _WHITESPACE_WORD.finditer(text)]
        if self.position == "start":
            edits = [Edit.insert(0, f"{query} ")]
        elif self.position == "end":
            edits = [Edit.insert(len(text), f" {query}" if starts else query)]
        else:
            at = sorted(rng.randint(0, len(starts)) for _ in range(self.times))
            edits = [Edit.insert(starts[i], f"{query} ") if i < len(starts) else Edit.insert(len(text), f" {query}" if starts else query) for i in at]
        return AttackOutcome(apply_edits(text, edits), edits)


class RandomSubstitution:
    """Random synonym substitution: the baseline a word-substitution attack must beat at equal budget.

    Replaces `budget` (default 20, PRADA's) randomly chosen words by randomly chosen synonyms,
    under the same constraints and synonym source as PRADA (`robustness.attacks.components`;
    "combined" at 0.5, top 50, by default), with the same defaults, so "equal budget" stays
    equal: numbers, units and identifiers protected; candidates from the word's first 2
    WordNet senses, in the part of speech of its most frequent sense and with its inflection;
    windowed similarity >= 0.96 over 11 words (see `WordConstraints`; `protect_numbers=False,
    protect_identifiers=False, max_senses=None, same_pos=False, same_inflection=False,
    window_similarity=None` switch them off and give the baseline as it was). Static
    (`RandomSearch`): it never queries the victim, so it measures what synonym noise alone
    does to a rank (the windowed constraint reads only the texts). Deterministic under the
    `rng` it is given.
    """

    name = "random_substitution"

    def __init__(
        self,
        budget: int = 20,
        synonym_source: str = "combined",
        synonym_threshold: float = 0.5,
        synonym_k: int = 50,
        protect_query_terms: bool = False,
        min_similarity: float | None = None,
        protect_numbers: bool = True,
        protect_identifiers: bool = True,
        max_senses: int | None = DEFAULT_MAX_SENSES,
        same_pos: bool = DEFAULT_SAME_POS,
        same_inflection: bool = DEFAULT_SAME_INFLECTION,
        window_similarity: float | None = DEFAULT_WINDOW_SIMILARITY,
        similarity_window: int = DEFAULT_WINDOW,
    ) -> None:
        self.constraints = WordConstraints(
            budget, protect_query_terms=protect_query_terms, min_similarity=min_similarity,
            protect_numbers=protect_numbers, protect_identifiers=protect_identifiers, max_senses=max_senses,
            same_pos=same_pos, same_inflection=same_inflection, window_similarity=window_similarity,
            similarity_window=similarity_window,
        )
        self.transformation = SynonymSubstitution(synonym_source, synonym_threshold, synonym_k)
        self.constraints.check_source(self.transformation)
        self.search = RandomSearch()

    def attack(self, target: Target, victim: Victim, rng: random.Random) -> AttackOutcome:
        doc = WordSequence(target.text)
        options = substitution_options(doc, target.query, self.constraints, self.transformation)
        found = self.search.run(doc, options, self.constraints.budget, rng, self.constraints.accept)
        return AttackOutcome(doc.replaced(found.changes), found.edits)


class RandomTrigger:
    """Random-token triggers: what PAT's trigger search must beat at equal length and position.

    `length` (6) tokens drawn uniformly (seeded) from the same whole-word vocabulary PAT searches
    (`robustness.attacks.triggers.trigger_vocabulary` of the `tokenizer` model's tokenizer,
    the shipped MiniLM by default), inserted at `position` ("start" or "end"). Static: it never
    queries the victim.
    """

    name = "random_trigger"

    def __init__(self, length: int = 6, position: str = "start", tokenizer: str = "minilm") -> None:
        if not isinstance(length, int) or isinstance(length, bool) or length < 1:
            raise ConfigError(f"random_trigger length must be an integer >= 1, got {length!r}")
        if position not in TRIGGER_POSITIONS:
            raise ConfigError(f"random_trigger position {position!r} is not one of {', '.join(TRIGGER_POSITIONS)}")
        self.length = length
        self.position = position
        self.tokenizer_name = tokenizer
        self._words: list[str] | None = None

    def _vocabulary(self) -> list[str]:
        if self._words is None:
            from transformers import AutoTokenizer

            from robustness.rankers.loading import load_pretrained

            tokenizer = load_pretrained(AutoTokenizer, self.tokenizer_name)
            self._words = tokenizer.convert_ids_to_tokens(list(trigger_vocabulary(tokenizer)))
        return self._words

    def attack(self, target: Target, victim: Victim, rng: random.Random) -> AttackOutcome:
        words = self._vocabulary()
        trigger = " ".join(words[rng.randrange(len(words))] for _ in range(self.length))
        edit = trigger_edit(target.text, trigger, self.position)
        return AttackOutcome(apply_edits(target.text, [edit]), [edit])
