"""Pieces shared by word-substitution attacks: the document's words, constraints, candidates.

An attack is four parts (TextAttack's decomposition, DESIGN §8/§11): a goal (the target's
rank, owned by `robustness.protocols.attack.Victim`), constraints, a transformation and a
search (`robustness.attacks.search`). Recipes differ in their search and in how they order
words and candidates (PRADA's surrogate, random order for the baseline); the pieces here are
the same for all, so that every attack at "equal budget" really plays by the same rules:

- `WordSequence`: a document split reversibly into words, spaces and punctuation, so a
  substitution changes one word and leaves casing and punctuation around it alone;
- `WordConstraints`: how many words may change, which words are protected (stopwords,
  numbers, units, identifiers), how similar a replacement must be (word vectors, WordNet
  sense, windowed sentence similarity: `robustness.attacks.constraints`);
- `SynonymSubstitution`: replacements for a word from a synonym source
  (`robustness.text.synonyms`), in the original word's casing;
- `substitution_options`: the positions an attack may change, with their admissible
  replacements, best first.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from robustness.errors import ConfigError
from robustness.text.similarity import DEFAULT_WINDOW
from robustness.text.synonyms import SynonymSource, load_synonym_source
from robustness.protocols.attack import Edit
from robustness.text.tokenize import inflection_key, is_stopword, is_word, match_case, split_tokens, words

from robustness.attacks.constraints import SenseFilter, WindowConstraint, protected_positions

__all__ = [
    "SynonymSubstitution",
    "WordConstraints",
    "WordSequence",
    "substitution_options",
]


class WordSequence:
    """A document as word, whitespace and punctuation tokens (`split_tokens`), words numbered.

    Positions are word indices (0 = the first word), the unit of edits and of the budget; the
    token list keeps everything else, so `replaced` changes exactly the named words.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self._tokens = split_tokens(text)
        self._word_tokens: list[int] = []
        self._starts: list[int] = []
        offset = 0
        for index, token in enumerate(self._tokens):
            if is_word(token):
                self._word_tokens.append(index)
                self._starts.append(offset)
            offset += len(token)

    def __len__(self) -> int:
        return len(self._word_tokens)

    def word(self, position: int) -> str:
        return self._tokens[self._word_tokens[position]]

    @property
    def tokens(self) -> tuple[str, ...]:
        """Every token (`split_tokens`): words, whitespace runs and single punctuation marks."""
        return tuple(self._tokens)

    def token_index(self, position: int) -> int:
        """The index in `tokens` of the word at `position`."""
        return self._word_tokens[position]

    def span(self, position: int) -> tuple[int, int]:
        """Character offsets [start, end) of a word in `text`."""
        start = self._starts[position]
        return start, start + len(self.word(position))

    def position_at(self, char: int) -> int | None:
        """The word covering character offset `char`, or None (space, punctuation)."""
        position = bisect.bisect_right(self._starts, char) - 1
        if position >= 0 and char < self.span(position)[1]:
            return position
        return None

    def replaced(self, changes: Mapping[int, str]) -> str:
        """The text with the word at each position replaced; everything else untouched."""
        tokens = list(self._tokens)
        for position, replacement in changes.items():
            tokens[self._word_tokens[position]] = replacement
        return "".join(tokens)

    def substitution(self, position: int, replacement: str, ranks: Sequence[int] | None = None) -> Edit:
        """The edit record of replacing the word at `position` (offsets into `text`)."""
        return Edit.substitute(self.span(position)[0], self.word(position), replacement, ranks)


# Defaults of the "same text" constraints, shared by every word-substitution attack (PRADA,
# random substitution) so that equal budget stays equal. Chosen on SciFact abstracts: 800
# random single swaps from the "combined" source, 130 of them judged by hand (16 read as the
# same text), and the swaps cell->cellphone, stage->leg, shock->outrage, brain->mind,
# first->beginning in 3 real contexts each:
# - 2 senses: keep 65 % of swaps, 15 of 16 good ones; "cell"->"cellphone" (sense 5),
#   "stage"->"leg" (6), "brain"->"mind" (3), "first"->"beginning" (3) go;
# - same part of speech: "shock"->"outrage" (a verb sense of a mostly-noun word) goes; no good
#   swap lost (participles and gerunds also match adjectives and nouns);
# - same inflection: WordNet offers lemmas, so "identified" -> "describe", "genes" -> "factor"
#   (18 of the 29 bad swaps the other filters keep) go, no good one;
# - windowed similarity >= 0.96 over 11 words: every hand-picked good swap (min 0.971) stays,
#   every cell/stage/brain context (max 0.927) goes; of the judged swaps, the four together
#   keep 13 of 16 good and 11 of 114 bad (none: 16 and 114).
DEFAULT_MAX_SENSES = 2
DEFAULT_SAME_POS = True
DEFAULT_SAME_INFLECTION = True
DEFAULT_WINDOW_SIMILARITY: float | None = 0.96


@dataclass(frozen=True)
class WordConstraints:
    """What a word-substitution attack may change (TextAttack's constraints).

    - `budget`: at most this many words changed per document (PRADA's default: 20);
    - `protect_stopwords`: function words stay, since swapping them mostly breaks grammar
      without carrying topical signal;
    - `protect_query_terms`: off by default, as in PRADA (the attack may swap a query word
      for a synonym); on, the query's words and their inflections stay;
    - `min_similarity`: a replacement's word-embedding cosine with the original must reach
      this (on top of the synonym source's own threshold); None: the source's threshold only.

    Substitutions must read as the same text (DESIGN §8; `robustness.attacks.constraints`):

    - `protect_numbers`: numbers stay whole ("9.17", "10,000", "two"), and so does the unit
      after one ("5 mg", "37 °C");
    - `protect_identifiers`: gene/protein names and abbreviations ("TNF", "mRNA", "IL-6",
      single letters, Greek letter names) and capitalised names inside a sentence stay;
    - `max_senses`: a candidate must be a lemma of one of the word's first `max_senses`
      WordNet senses of one part of speech (`SenseFilter`); None: any sense;
    - `same_pos`: it must also share the part of speech of the word's most frequent sense;
    - `same_inflection`: and carry the word's regular inflection ("-ing", "-ed", "-s"), since
      WordNet offers lemmas ("identified" -> "describe" goes);
    - `window_similarity`: TextFooler's windowed constraint: the `similarity_window` words
      around a swap (changes kept so far included) keep at least this sentence-encoder cosine
      with the original's (`WindowConstraint`, the searches' `accept` hook); None: off.

    With `protect_numbers=False, protect_identifiers=False, max_senses=None, same_pos=False,
    same_inflection=False, window_similarity=None` the attacks behave exactly as before these
    constraints existed.
    """

    budget: int = 20
    protect_stopwords: bool = True
    protect_query_terms: bool = False
    min_similarity: float | None = None
    protect_numbers: bool = True
    protect_identifiers: bool = True
    max_senses: int | None = DEFAULT_MAX_SENSES
    same_pos: bool = DEFAULT_SAME_POS
    same_inflection: bool = DEFAULT_SAME_INFLECTION
    window_similarity: float | None = DEFAULT_WINDOW_SIMILARITY
    similarity_window: int = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        if not isinstance(self.budget, int) or self.budget < 1:
            raise ConfigError(f"budget must be an integer >= 1 word, got {self.budget!r}")
        if self.min_similarity is not None and not -1.0 <= self.min_similarity <= 1.0:
            raise ConfigError(f"min_similarity must be a cosine in [-1, 1], got {self.min_similarity}")
        # Validate now (fail at construction, not mid-run); models load on first use.
        SenseFilter(self.max_senses, self.same_pos, self.same_inflection)
        if self.window_similarity is not None:
            WindowConstraint(self.window_similarity, self.similarity_window)
        elif not isinstance(self.similarity_window, int) or self.similarity_window < 1:
            raise ConfigError(f"similarity_window must be an integer >= 1 word, got {self.similarity_window!r}")

    def protected_positions(self, doc: WordSequence) -> frozenset[int]:
        """Positions of `doc` that `protect_numbers` / `protect_identifiers` keep unchanged."""
        return protected_positions(doc, numbers=self.protect_numbers, identifiers=self.protect_identifiers)

    @functools.cached_property
    def sense_filter(self) -> SenseFilter:
        return SenseFilter(self.max_senses, self.same_pos, self.same_inflection)

    def admits_sense(self, word: str, candidate: str) -> bool:
        """Whether `candidate` passes `max_senses`, `same_pos` and `same_inflection` for `word`."""
        return self.sense_filter.admits(word, candidate)

    @functools.cached_property
    def accept(self) -> WindowConstraint | None:
        """The searches' `accept` hook (windowed similarity), or None when it is off."""
        if self.window_similarity is None:
            return None
        return WindowConstraint(self.window_similarity, self.similarity_window)

    def protected_keys(self, query: str) -> frozenset[str]:
        """Inflection keys of the words this constraint protects for `query`."""
        if not self.protect_query_terms:
            return frozenset()
        return frozenset(inflection_key(w) for w in words(query))

    def modifiable(self, word: str, protected: frozenset[str]) -> bool:
        """Whether the attack may replace `word`, given the `protected_keys` of the query."""
        if self.protect_stopwords and is_stopword(word):
            return False
        return inflection_key(word) not in protected

    def check_source(self, transformation: SynonymSubstitution) -> None:
        """Fail at construction, not mid-run, when `min_similarity` cannot be measured."""
        if self.min_similarity is not None and not transformation.has_vectors:
            raise ConfigError(
                f"min_similarity needs a synonym source with word vectors, not {transformation.source_name!r}"
            )

    def admits(self, similarity: float) -> bool:
        """Whether a replacement at this word-embedding cosine is close enough."""
        return self.min_similarity is None or similarity >= self.min_similarity


@functools.lru_cache(maxsize=8)
def _load_source(name: str, threshold: float, k: int) -> SynonymSource:
    """One source per setting and process: GloVe's table and WordNet's reader take seconds."""
    if name == "wordnet":  # no graded similarity: no threshold; k applies per lookup
        return load_synonym_source(name)
    return load_synonym_source(name, threshold=threshold, k=k)


class SynonymSubstitution:
    """Candidate replacements for a word, from a synonym source (TextAttack's word swap).

    `source` is a name of `load_synonym_source`: "combined" (WordNet synonyms kept and ranked
    by GloVe cosine >= `threshold`; default 0.5), "glove" (GloVe neighbours; PRADA's setting is
    threshold 0.7), "counter-fitted:<path>" (PRADA's own vectors) or "wordnet" (no similarity
    grading: `threshold` does not apply). Up to `k` candidates per word (PRADA: 50). The
    source loads once per process and setting.
    """

    def __init__(self, source: str = "combined", threshold: float = 0.5, k: int = 50) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ConfigError(f"synonym threshold must be a cosine in (0, 1], got {threshold}")
        if not isinstance(k, int) or k < 1:
            raise ConfigError(f"synonym k must be an integer >= 1, got {k!r}")
        self.source_name = source
        self.threshold = threshold
        self.k = k
        self.source = _load_source(source, threshold, k)
        # Sources with word vectors report cosine as the similarity; WordNet reports a rank.
        self.has_vectors = hasattr(self.source, "vector")

    def candidates(self, word: str) -> list[tuple[str, float]]:
        """Up to `k` (replacement in `word`'s casing, similarity) pairs, most similar first."""
        return [(match_case(c, word), s) for c, s in self.source.neighbours(word.lower(), self.k)]


def substitution_options(
    doc: WordSequence,
    query: str,
    constraints: WordConstraints,
    transformation: SynonymSubstitution,
    positions: Iterable[int] | None = None,
) -> dict[int, list[str]]:
    """Word positions (all, or those in `positions`) the attack may change, each with its
    admissible replacements, most similar first; positions without any are left out, so a
    search never spends a step on a word it cannot change. The static constraints apply here
    (stopwords, query terms, numbers and identifiers, word similarity, senses); the windowed
    similarity depends on the changes kept, so the search applies it (`constraints.accept`)."""
    protected = constraints.protected_keys(query)
    fixed = constraints.protected_positions(doc)
    options: dict[int, list[str]] = {}
    for position in range(len(doc)) if positions is None else positions:
        word = doc.word(position)
        if position in fixed or not constraints.modifiable(word, protected):
            continue
        admissible = [
            c for c, s in transformation.candidates(word) if constraints.admits(s) and constraints.admits_sense(word, c)
        ]
        if admissible:
            options[position] = admissible
    return options

