"""Constraints that keep a word substitution reading as the same text (DESIGN §8).

Document-level semantic similarity (0.98+ for any 20-word perturbation of an abstract) cannot
see a context-blind swap, so word-substitution attacks add three constraints (TextAttack's
decomposition: each is a separate piece, configured in `robustness.attacks.components.WordConstraints`
and switchable off):

- `protected_positions`: numbers, units and identifiers stay whole. Our tokeniser splits
  "9.17" and "10,000" into words (query variations rely on that split, so it stays), and
  WordNet offers "nine" for "9" and "dozen" for "12"; swapping gene names, abbreviations or
  the unit after a number changes what the text says;
- `SenseFilter`: a WordNet candidate must come from one of the word's most frequent senses
  (WordNet lists senses in frequency order; there is no part-of-speech tagger offline), which
  drops "cell" -> "cellphone" (sense 5 of "cell") and "stage" -> "leg" (sense 6), in the part
  of speech of its most frequent sense, and with the word's inflection ("identified" ->
  "describe" goes: WordNet offers lemmas);
- `WindowConstraint`: TextFooler's windowed sentence similarity (Jin et al., AAAI 2020) around
  each swap, which catches a wrong sense in context ("brain" -> "mind" in "the developing
  human brain"). It is the `accept` hook of the searches (`robustness.attacks.search`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from robustness.errors import ConfigError
from robustness.text.similarity import DEFAULT_WINDOW, TextEncoder, WindowedSimilarity

if TYPE_CHECKING:
    from robustness.attacks.components import WordSequence
    from robustness.text.synonyms import WordNetSource

__all__ = [
    "NUMBER_WORDS",
    "UNITS",
    "SenseFilter",
    "WindowConstraint",
    "protected_positions",
]

# -- numbers, units, identifiers -----------------------------------------------------------------

_DIGIT = re.compile(r"\d")

NUMBER_WORDS: frozenset[str] = frozenset(
    """
    zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
    sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety
    hundred thousand million billion trillion dozen hundreds thousands millions billions dozens
    first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth
    fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth thirtieth fortieth
    fiftieth hundredth thousandth millionth half halves quarter quarters once twice thrice
    double triple quadruple twofold threefold fourfold fivefold sixfold sevenfold eightfold
    ninefold tenfold hundredfold thousandfold
    """.split()
)
"""Spelled-out numbers (lower case), protected like digits: WordNet offers "deuce" for "two"
and "beginning" for "first". Hyphenated compounds of them ("twenty-one") count too."""

_PREFIXES = ("", "k", "M", "G", "m", "µ", "μ", "u", "n", "p", "f", "c", "d")
_BASE_UNITS = ("g", "l", "L", "m", "M", "mol", "s", "Da", "Hz", "Gy", "Sv", "V", "W", "J", "Pa", "A", "K", "C", "F", "eq", "Eq", "U", "IU", "cal", "bp", "Bq", "Ci", "N", "S", "T")
UNITS: frozenset[str] = frozenset(
    [p + b for p in _PREFIXES for b in _BASE_UNITS]
    + """
    kb kbp Mb Gb nt aa sec secs min mins minute minutes h hr hrs hour hours d day days wk wks week
    weeks mo mos month months y yr yrs year years decade decades percent pct fold times x log
    logs unit units degree degrees mmHg ppm ppb rpm bpm gram grams kilogram kilograms milligram
    milligrams microgram micrograms liter liters litre litres milliliter milliliters millilitre
    millilitres meter meters metre metres centimeter centimeters millimeter millimeters
    micrometer micrometers nanometer nanometers kilometer kilometers mile miles inch inches foot
    feet pound pounds lb lbs oz calorie calories kilocalorie kilocalories kcal mmol mol molar
    dalton daltons kDa cycle cycles
    """.split()
)
"""Unit words (case-sensitive SI forms like "mg", "kDa", "nM"; long names any case), protected
right after a number ("5 mg", "10 kDa", "37 °C", "two weeks") and in a unit chain ("mg/kg")."""

_UNIT_LOWER = frozenset(u.lower() for u in UNITS if len(u) > 3)
_BEFORE_UNIT = frozenset("°º")  # "37 °C": symbols allowed between a number and its unit
_UNIT_JOINERS = frozenset("/·.")  # "mg/kg", "g·l", "mg.kg"
_SENTENCE_END = frozenset(".!?:;")
_BRACKETS = frozenset("()[]{}\"'\u2018\u2019\u201c\u201d")

GREEK_LETTERS: frozenset[str] = frozenset(
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho "
    "sigma tau upsilon phi chi psi omega".split()
)


def _is_number_word(word: str) -> bool:
    return all(part in NUMBER_WORDS for part in word.lower().split("-"))


def _is_unit(word: str) -> bool:
    return word in UNITS or word.lower() in _UNIT_LOWER


def _is_identifier(word: str) -> bool:
    """Gene/protein names and abbreviations: an upper-case letter after the first character
    ("TNF", "mRNA", "NF-kB"), a single letter ("T cells", "vitamin D", "p < 0.05"), or a Greek
    letter's name ("interferon gamma")."""
    return any(ch.isupper() for ch in word[1:]) or len(word) == 1 or word.lower() in GREEK_LETTERS


def protected_positions(
    doc: WordSequence, numbers: bool = True, identifiers: bool = True, names: bool = True
) -> frozenset[int]:
    """Word positions of `doc` that a substitution must leave alone.

    - `numbers`: a word containing a digit; any word joined without a space to one (the "17"
      of "9.17", the "000" of "10,000", "kg" in "mg kg−1"): the tokeniser splits numbers at
      "." and ",", and each part must stay; spelled-out numbers (`NUMBER_WORDS`); a unit
      (`UNITS`) right after a number, with "°" allowed between ("37 °C") and the units it
      chains to by "/", "·" or "." ("mg/kg");
    - `identifiers`: see `_is_identifier` (ALL-CAPS of 2+ letters, mixed case, single letters,
      Greek letter names);
    - `names` (with `identifiers`): a capitalised word inside a sentence (not after ".", "!",
      "?", ":" or ";"): a proper name such as "Western" (blot) or "Cox" (regression).
    """
    if not (numbers or identifiers):
        return frozenset()
    tokens = doc.tokens
    word_at = {doc.token_index(p): p for p in range(len(doc))}
    protected: set[int] = set()
    # Chunks: maximal runs of non-space tokens; a number chunk protects all its words.
    chunks: list[list[int]] = [[]]
    for index, token in enumerate(tokens):
        if token.isspace():
            if chunks[-1]:
                chunks.append([])
        else:
            chunks[-1].append(index)
    chunks = [c for c in chunks if c]
    previous_is_number = False
    for chunk in chunks:
        chunk_words = [i for i in chunk if i in word_at]
        is_number = any(_DIGIT.search(tokens[i]) or _is_number_word(tokens[i]) for i in chunk_words)
        if numbers:
            if any(_DIGIT.search(tokens[i]) for i in chunk_words):
                protected.update(word_at[i] for i in chunk_words)
            else:
                protected.update(word_at[i] for i in chunk_words if _is_number_word(tokens[i]))
            if previous_is_number and not is_number:
                # A unit chunk: leading symbols ("°"), then unit words joined by "/", "·", ".".
                for i in chunk:
                    if i in word_at:
                        if not _is_unit(tokens[i]):
                            break
                        protected.add(word_at[i])
                    elif tokens[i] not in _BEFORE_UNIT and tokens[i] not in _UNIT_JOINERS:
                        break
        previous_is_number = is_number
    if identifiers:
        for position in range(len(doc)):
            word = doc.word(position)
            if _is_identifier(word) or (names and word[:1].isupper() and not _sentence_start(tokens, doc.token_index(position))):
                protected.add(position)
    return frozenset(protected)


def _sentence_start(tokens: Sequence[str], index: int) -> bool:
    """Whether the token at `index` starts a sentence: nothing but spaces, brackets and quotes
    since the text's start or a sentence-ending punctuation mark."""
    for token in reversed(tokens[:index]):
        if token.isspace() or token in _BRACKETS:
            continue
        return token in _SENTENCE_END
    return True


# -- senses ---------------------------------------------------------------------------------------


class SenseFilter:
    """Keep a candidate only when WordNet vouches for it in the word's usual sense and form.

    There is no part-of-speech tagger offline, so WordNet's own statistics stand in:

    - `max_senses`: WordNet orders each word's senses by frequency (SemCor counts), so a
      context-free swap is safe only with a candidate from the first `max_senses` senses of
      one part of speech (adjective satellites count as adjectives): "cell" -> "cellphone" is
      sense 5 of the noun, "stage" -> "leg" sense 6, "brain" -> "mind" sense 3, "first" ->
      "beginning" sense 3 of the noun and 4 of the adjective; None: any sense;
    - `same_pos`: the candidate must come from a sense in the part of speech of the word's
      single most frequent sense ("shock" is mostly a noun, so "shock" -> "outrage", sense 2
      of the verb, goes); an "-ed" form of a verb may also take an adjective sense and an
      "-ing" form an adjective or noun sense ("reduced" -> "decreased", "poisoning" ->
      "intoxication");
    - `same_inflection`: WordNet candidates are lemmas (uninflected), so a candidate must
      carry the same regular inflection as the word (`WordNetSource.inflection`: "-ing",
      "-ed", "-s" or none): "identified" -> "describe", "genes" -> "factor" go.

    A candidate WordNet does not list for the word (a GloVe neighbour) never passes
    `max_senses` or `same_pos`: its sense cannot be checked. Everything off (None, False,
    False) keeps every candidate.
    """

    def __init__(
        self,
        max_senses: int | None = 2,
        same_pos: bool = False,
        same_inflection: bool = False,
        wordnet: WordNetSource | None = None,
    ) -> None:
        if max_senses is not None and (not isinstance(max_senses, int) or isinstance(max_senses, bool) or max_senses < 1):
            raise ConfigError(f"max_senses must be an integer >= 1 or null, got {max_senses!r}")
        self.max_senses = max_senses
        self.same_pos = same_pos
        self.same_inflection = same_inflection
        self._wordnet = wordnet

    @property
    def active(self) -> bool:
        return self.max_senses is not None or self.same_pos or self.same_inflection

    @property
    def wordnet(self) -> WordNetSource:
        if self._wordnet is None:
            self._wordnet = _wordnet()
        return self._wordnet

    def allowed_pos(self, word: str) -> tuple[str, ...]:
        """The parts of speech `same_pos` allows for `word` ("n", "v", "a", "r"); () for a
        word WordNet lacks."""
        pos = self.wordnet.main_pos(word)
        if pos is None:
            return ()
        if pos == "v" and word.lower().endswith("ing"):
            return ("v", "a", "n")
        if pos == "v" and word.lower().endswith("ed"):
            return ("v", "a")
        return (pos,)

    def admits(self, word: str, candidate: str) -> bool:
        if not self.active:
            return True
        word, candidate = word.lower(), candidate.lower()
        if self.same_inflection and self.wordnet.inflection(word) != self.wordnet.inflection(candidate):
            return False
        if self.max_senses is None and not self.same_pos:
            return True
        parts: Sequence[str | None] = self.allowed_pos(word) if self.same_pos else (None,)
        ranks = [r for r in (self.wordnet.sense_rank(word, candidate, p) for p in parts) if r is not None]
        return bool(ranks) and (self.max_senses is None or min(ranks) < self.max_senses)


@functools.cache
def _wordnet() -> WordNetSource:
    from robustness.text.synonyms import WordNetSource

    return WordNetSource()


# -- windowed similarity ----------------------------------------------------------------------------


@functools.cache
def _default_encoder(device: str) -> TextEncoder:
    """One shipped sentence encoder (all-MiniLM-L6-v2) per process and device, loaded on first use."""
    from robustness.text.similarity import SentenceSimilarity

    return SentenceSimilarity(device=device)


@functools.cache
def _shared_scorer(window: int, device: str) -> WindowedSimilarity:
    return WindowedSimilarity(_default_encoder(device), window)


class WindowConstraint:
    """The `accept` hook of TextFooler's windowed similarity: a swap is admitted when the
    `window` words around it, with every change kept so far and the swap applied, keep cosine
    >= `threshold` with the same words of the original (`robustness.text.similarity.WindowedSimilarity`).

    Static: it reads only the texts, never the victim. `encoder` defaults to the shipped
    all-MiniLM-L6-v2, loaded once per process on first use (on `device`). `select` gives the
    same answer as calling the hook candidate by candidate, with the candidates encoded in
    batches (what the searches use).
    """

    def __init__(
        self,
        threshold: float,
        window: int = DEFAULT_WINDOW,
        encoder: TextEncoder | None = None,
        device: str = "auto",
        batch: int = 32,
    ) -> None:
        if not -1.0 <= threshold <= 1.0:
            raise ConfigError(f"window_similarity must be a cosine in [-1, 1], got {threshold}")
        if not isinstance(window, int) or window < 1:
            raise ConfigError(f"similarity_window must be an integer >= 1 word, got {window!r}")
        self.threshold = threshold
        self.window = window
        self.device = device
        self.batch = batch
        self._scorer = None if encoder is None else WindowedSimilarity(encoder, window)

    @property
    def scorer(self) -> WindowedSimilarity:
        if self._scorer is None:
            self._scorer = _shared_scorer(self.window, self.device)
        return self._scorer

    def similarities(self, doc: WordSequence, changes: Mapping[int, str], position: int, candidates: Sequence[str]) -> list[float]:
        """The windowed similarity of each candidate swap at `position`, on top of `changes`."""
        kept = [doc.substitution(p, r) for p, r in changes.items() if p != position]
        pairs = [self.scorer.windows(doc.text, [*kept, doc.substitution(position, c)], len(kept)) for c in candidates]
        return [float(s) for s in self.scorer.pairs(pairs)]

    def __call__(self, doc: WordSequence, changes: Mapping[int, str], position: int, replacement: str) -> bool:
        return self.similarities(doc, changes, position, [replacement])[0] >= self.threshold

    def select(self, doc: WordSequence, changes: Mapping[int, str], position: int, candidates: Iterable[str], limit: int) -> list[str]:
        """The first `limit` of `candidates` the hook admits, encoded in batches: `limit` + 1
        first, then twice as many each time, up to `batch` (most swaps pass, and one encoder
        call costs about as much for 1 text as for a few)."""
        candidates = list(candidates)
        chosen: list[str] = []
        start, size = 0, limit + 1
        while start < len(candidates) and len(chosen) < limit:
            chunk = candidates[start : start + size]
            for candidate, score in zip(chunk, self.similarities(doc, changes, position, chunk)):
                if score >= self.threshold:
                    chosen.append(candidate)
                    if len(chosen) == limit:
                        break
            start, size = start + len(chunk), min(2 * size, max(self.batch, limit))
        return chosen
