"""Query-variation generators for the "unseen query variations" robustness task (DESIGN §7.2).

The same information need, asked differently, following the taxonomy of Penha, Câmara and Hauff,
"Evaluating the Robustness of Retrieval Pipelines with Query Variation Generators" (ECIR 2022):

- misspelling: `typo_swap`, `typo_insert`, `typo_delete`, `typo_keyboard` (QWERTY neighbour);
  only words of at least `MIN_TYPO_LENGTH` characters are touched, one word by default;
- ordering: `word_shuffle`;
- naturality: `stopword_removal`, and `keyword_only`, a rule-based stand-in for their T5
  description-to-title generator (no model download);
- paraphrasing: `synonym_replacement` over any `SynonymSource` (their WordNet / word-embedding
  synonym swaps).

Every generator is a pure function ``(query, rng, protected=frozenset(), **params) -> str``,
deterministic under ``rng``. ``protected`` holds lower-cased words that are never changed (nor
moved, for the shuffle). A generator makes the variant differ from the query whenever some
change is possible (it picks among the positions where its edit changes something); when none
is (a one-word query to shuffle, no stopword to remove) it returns the query unchanged, and the
caller detects that by comparing. `vary_queries` applies one by name with a per-query rng.
"""

from __future__ import annotations

import functools
import hashlib
import random
import string
from collections.abc import Callable, Mapping
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from robustness.errors import ConfigError
from robustness.registry import resolve
from robustness.text.tokenize import is_stopword, is_word, join_kept, match_case, split_tokens

if TYPE_CHECKING:
    from robustness.text.synonyms import SynonymSource

__all__ = [
    "BUILTIN_VARIATIONS",
    "LOW_CONTENT_WORDS",
    "MIN_TYPO_LENGTH",
    "QWERTY_NEIGHBOURS",
    "Variation",
    "keyword_only",
    "make_synonym_replacement",
    "stopword_removal",
    "synonym_replacement",
    "typo_delete",
    "typo_insert",
    "typo_keyboard",
    "typo_swap",
    "vary_queries",
    "word_shuffle",
]

Variation = Callable[..., str]
"""``(query: str, rng: random.Random, protected: frozenset[str] = frozenset(), **params) -> str``"""

MIN_TYPO_LENGTH = 4
"""Typos touch only words this long or longer: a typo in a short word reads as another word."""

_KEY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_ROW_OFFSETS = (0.0, 0.25, 0.75)  # horizontal stagger of each row, in key widths


def _qwerty_neighbours() -> dict[str, str]:
    """Keys at most one key width apart on the same or an adjacent row of a QWERTY keyboard."""
    position = {
        key: (row, col + _ROW_OFFSETS[row])
        for row, keys in enumerate(_KEY_ROWS)
        for col, key in enumerate(keys)
    }
    return {
        key: "".join(
            other
            for other, (row2, x2) in position.items()
            if other != key and abs(row2 - row) <= 1 and abs(x2 - x) <= 1
        )
        for key, (row, x) in position.items()
    }


QWERTY_NEIGHBOURS: dict[str, str] = _qwerty_neighbours()
"""Letter -> the letters on its neighbouring keys, e.g. ``"a" -> "qwsz"``."""

# Words that frame a request rather than say what is wanted (TREC descriptions and
# natural-language questions: "Find documents that discuss ..."). `keyword_only` drops them
# together with the stopwords.
LOW_CONTENT_WORDS: frozenset[str] = frozenset(
    """
    find documents document information describe describes describing discuss discusses
    discussing identify identifies identifying mention mentions relevant regarding concerning
    pertaining please tell know want looking give explain example examples also any anything
    something kind kinds whether would could might must may shall
    """.split()
)


# -- typos -------------------------------------------------------------------------------------


def _match_case(char: str, like: str) -> str:
    return char.upper() if like.isupper() else char


def _swap(word: str, rng: random.Random) -> str:
    """Swap two adjacent, different characters."""
    i = rng.choice([i for i in range(len(word) - 1) if word[i] != word[i + 1]])
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def _insert(word: str, rng: random.Random) -> str:
    """Insert a random letter anywhere, ends included."""
    i = rng.randrange(len(word) + 1)
    letter = rng.choice(string.ascii_lowercase)
    return word[:i] + _match_case(letter, word) + word[i:]


def _delete(word: str, rng: random.Random) -> str:
    """Delete one character."""
    i = rng.randrange(len(word))
    return word[:i] + word[i + 1 :]


def _keyboard(word: str, rng: random.Random) -> str:
    """Replace one letter by a letter on a neighbouring QWERTY key."""
    i = rng.choice([i for i, c in enumerate(word) if c.lower() in QWERTY_NEIGHBOURS])
    new = rng.choice(QWERTY_NEIGHBOURS[word[i].lower()])
    return word[:i] + _match_case(new, word[i]) + word[i + 1 :]


def _can_swap(word: str) -> bool:
    return any(a != b for a, b in pairwise(word))


def _can_keyboard(word: str) -> bool:
    return any(c.lower() in QWERTY_NEIGHBOURS for c in word)


def _typo(
    query: str,
    rng: random.Random,
    protected: frozenset[str],
    n_words: int,
    edit: Callable[[str, random.Random], str],
    applicable: Callable[[str], bool],
) -> str:
    """Apply ``edit`` to ``n_words`` random eligible words (all of them if fewer exist)."""
    if n_words < 1:
        raise ValueError(f"n_words must be at least 1, got {n_words}")
    tokens = split_tokens(query)
    eligible = [
        i
        for i, token in enumerate(tokens)
        if is_word(token)
        and len(token) >= MIN_TYPO_LENGTH
        and token.lower() not in protected
        and applicable(token)
    ]
    for i in rng.sample(eligible, min(n_words, len(eligible))):
        tokens[i] = edit(tokens[i], rng)
    return "".join(tokens)


def typo_swap(
    query: str, rng: random.Random, protected: frozenset[str] = frozenset(), *, n_words: int = 1
) -> str:
    """Swap two neighbouring characters in ``n_words`` words (Penha et al. 2022, NeighbCharSwap)."""
    return _typo(query, rng, protected, n_words, _swap, _can_swap)


def typo_insert(
    query: str, rng: random.Random, protected: frozenset[str] = frozenset(), *, n_words: int = 1
) -> str:
    """Insert a random letter into ``n_words`` words (misspelling, Penha et al. 2022)."""
    return _typo(query, rng, protected, n_words, _insert, lambda _word: True)


def typo_delete(
    query: str, rng: random.Random, protected: frozenset[str] = frozenset(), *, n_words: int = 1
) -> str:
    """Delete a character from ``n_words`` words (misspelling, Penha et al. 2022)."""
    return _typo(query, rng, protected, n_words, _delete, lambda _word: True)


def typo_keyboard(
    query: str, rng: random.Random, protected: frozenset[str] = frozenset(), *, n_words: int = 1
) -> str:
    """Replace a letter by a QWERTY neighbour in ``n_words`` words (Penha et al. 2022,
    QWERTYCharSub): the typo a hurried typist makes."""
    return _typo(query, rng, protected, n_words, _keyboard, _can_keyboard)


# -- ordering ----------------------------------------------------------------------------------


def word_shuffle(query: str, rng: random.Random, protected: frozenset[str] = frozenset()) -> str:
    """Shuffle the order of the words (Penha et al. 2022, RandomOrderSwap).

    Punctuation and spacing keep their positions and protected words stay where they are; the
    other words are permuted among their own slots. If the shuffle lands on the original order,
    the words are rotated by one, which differs unless all movable words are equal.
    """
    tokens = split_tokens(query)
    slots = [
        i for i, token in enumerate(tokens) if is_word(token) and token.lower() not in protected
    ]
    movable = [tokens[i] for i in slots]
    if len(set(movable)) < 2:
        return query
    order = movable[:]
    rng.shuffle(order)
    if order == movable:
        order = order[1:] + order[:1]
    for i, token in zip(slots, order, strict=True):
        tokens[i] = token
    return "".join(tokens)


# -- naturality --------------------------------------------------------------------------------


def stopword_removal(
    query: str, rng: random.Random, protected: frozenset[str] = frozenset()
) -> str:
    """Remove every stopword (Penha et al. 2022, RemoveStopWords); ``rng`` is unused.

    Unchanged when the query has no removable stopword, or only stopwords (an empty query
    retrieves nothing and would measure nothing).
    """
    tokens = split_tokens(query)
    removed = [
        is_word(token) and is_stopword(token) and token.lower() not in protected for token in tokens
    ]
    if not any(removed) or all(r or not is_word(t) for r, t in zip(removed, tokens, strict=True)):
        return query
    return join_kept(tokens, [not r for r in removed])


def keyword_only(query: str, rng: random.Random, protected: frozenset[str] = frozenset()) -> str:
    """The keyword form of a query: its content words, in order, once each, without punctuation.

    A rule-based version of the description-to-title (natural-language question to keyword
    query) variation of Penha et al. 2022: stopwords and request-framing words
    (`LOW_CONTENT_WORDS`: "find documents that discuss ...") are dropped; protected words are
    always kept. ``rng`` is unused. Unchanged when no content word would remain.
    """
    keywords: list[str] = []
    seen: set[str] = set()
    for token in split_tokens(query):
        lower = token.lower()
        if not is_word(token) or lower in seen:
            continue
        if lower in protected or not (is_stopword(token) or lower in LOW_CONTENT_WORDS):
            keywords.append(token)
            seen.add(lower)
    return " ".join(keywords) if keywords else query


# -- paraphrasing ------------------------------------------------------------------------------


def synonym_replacement(
    query: str,
    rng: random.Random,
    protected: frozenset[str] = frozenset(),
    *,
    source: SynonymSource,
    n_words: int = 1,
    k: int = 5,
) -> str:
    """Replace ``n_words`` content words by a synonym drawn uniformly from ``source``'s top ``k``
    (Penha et al. 2022, WordNetSynSwap / WordEmbeddingSynSwap, depending on the source).

    Stopwords and protected words are never replaced. Words are tried in random order, so a
    word without synonyms is skipped for the next one; the replacement keeps the word's case.
    """
    if n_words < 1:
        raise ValueError(f"n_words must be at least 1, got {n_words}")
    tokens = split_tokens(query)
    slots = [
        i
        for i, token in enumerate(tokens)
        if is_word(token)
        and any(c.isalpha() for c in token)
        and not is_stopword(token)
        and token.lower() not in protected
    ]
    rng.shuffle(slots)
    replaced = 0
    for i in slots:
        word = tokens[i].lower()
        candidates = [c for c, _ in source.neighbours(word, k) if c.lower() != word]
        if candidates:
            tokens[i] = match_case(rng.choice(candidates), tokens[i])
            replaced += 1
            if replaced == n_words:
                break
    return "".join(tokens)


def make_synonym_replacement(source: SynonymSource, *, n_words: int = 1, k: int = 5) -> Variation:
    """`synonym_replacement` bound to ``source``: a generator with the common signature."""
    return functools.partial(synonym_replacement, source=source, n_words=n_words, k=k)


# -- applying a variation by name ---------------------------------------------------------------

BUILTIN_VARIATIONS = (
    "typo_swap", "typo_insert", "typo_delete", "typo_keyboard",
    "word_shuffle", "stopword_removal", "keyword_only", "synonym_replacement",
)
"""The built-in generators (registered under robustness.query_variations), in taxonomy order.
``synonym_replacement`` needs ``source=`` (see `vary_queries`)."""


def _query_rng(seed: int, name: str, query_id: str) -> random.Random:
    """An rng seeded from (seed, variation, query id) through SHA-256, so a query's variant does
    not depend on iteration order, on the other queries, or on PYTHONHASHSEED."""
    digest = hashlib.sha256(f"{seed}\x00{name}\x00{query_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def vary_queries(
    queries: Mapping[str, str],
    name: str,
    seed: int,
    protected: frozenset[str] = frozenset(),
    **params: Any,
) -> dict[str, str]:
    """Apply the variation ``name`` to every query (id -> text) with its own seeded rng.

    ``params`` go to the generator: ``n_words=`` for typos and synonyms, ``source=`` (a
    `SynonymSource`) and ``k=`` for ``synonym_replacement``. Queries no variation could change
    come back unchanged; compare with the originals to find them.
    """
    variation = resolve("query_variation", name)
    if name == "synonym_replacement" and params.get("source") is None:
        raise ConfigError("query variation 'synonym_replacement' needs a synonym source (source=)")
    return {
        qid: variation(text, _query_rng(seed, name, qid), protected, **params)
        for qid, text in queries.items()
    }
