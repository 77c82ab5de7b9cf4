"""Word-level text helpers shared by query variations, synonym sources and attacks.

Perturbations replace, drop or move *words* while leaving punctuation and spacing alone, so the
text is split reversibly into word, whitespace and punctuation tokens: ``"".join(split_tokens(t))
== t`` always holds. A word is a run of letters/digits that may contain inner apostrophes or
hyphens ("don't", "covid-19", "state-of-the-art"), so contractions and compounds move and
change as one unit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = [
    "STOPWORDS",
    "inflection_key",
    "is_stopword",
    "is_word",
    "join_kept",
    "match_case",
    "split_tokens",
    "word_spans",
    "words",
]

_WORD = r"\w+(?:['\u2019\-]\w+)*"  # \u2019: typographic apostrophe
# Every character is \w, \s or neither, so the three alternatives cover any text.
_TOKEN_RE = re.compile(rf"{_WORD}|\s+|[^\w\s]")
_WORD_RE = re.compile(_WORD)

# NLTK's English stopword list, written out so nothing is downloaded. The contraction fragments
# it also lists ("s", "t", "d", "ll", "don", "isn", ...) are left out: NLTK's tokenizer produces
# them, ours keeps "don't" whole, and as stopwords they would delete content such as "vitamin D"
# or "T cells" from scientific queries.
STOPWORDS: frozenset[str] = frozenset(
    """
    i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself
    yourselves he him his himself she she's her hers herself it it's its itself they them their
    theirs themselves what which who whom this that that'll these those am is are was were be
    been being have has had having do does did doing a an the and but if or because as until
    while of at by for with about against between into through during before after above below
    to from up down in out on off over under again further then once here there when where why
    how all any both each few more most other some such no nor not only own same so than too
    very can will just don't should should've now aren't couldn't didn't doesn't hadn't hasn't
    haven't isn't mightn't mustn't needn't shan't shouldn't wasn't weren't won't wouldn't
    """.split()
)


def split_tokens(text: str) -> list[str]:
    """Split ``text`` into word, whitespace and single-punctuation tokens; joining them gives
    ``text`` back."""
    return _TOKEN_RE.findall(text)


def word_spans(text: str) -> list[tuple[int, int]]:
    """Character spans [start, end) of the words of `text`, in order."""
    return [m.span() for m in _WORD_RE.finditer(text)]


def is_word(token: str) -> bool:
    """Whether a token from `split_tokens` is a word (not whitespace or punctuation)."""
    return _WORD_RE.fullmatch(token) is not None


def words(text: str) -> list[str]:
    """The word tokens of ``text`` in order, with their original case."""
    return _WORD_RE.findall(text)


def is_stopword(word: str) -> bool:
    """Case-insensitive `STOPWORDS` membership; a typographic apostrophe counts as ``'``."""
    return word.lower().replace("\u2019", "'") in STOPWORDS


def join_kept(tokens: Sequence[str], keep: Sequence[bool]) -> str:
    """Join the kept tokens, merging the whitespace runs that removed words leave behind.

    Whitespace is kept only between two kept non-space tokens (the first run of a gap wins), so
    dropping words never yields double, leading or trailing spaces.
    """
    out: list[str] = []
    pending_space: str | None = None
    for token, kept in zip(tokens, keep, strict=True):
        if not kept:
            continue
        if token.isspace():
            if out and pending_space is None:
                pending_space = token
            continue
        if pending_space is not None:
            out.append(pending_space)
            pending_space = None
        out.append(token)
    return "".join(out)


def match_case(word: str, like: str) -> str:
    """``word`` in the casing of ``like`` (UPPER, Capitalised, or as given): a replacement
    keeps the look of the word it replaces."""
    if len(like) > 1 and like.isupper():
        return word.upper()
    if like[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def inflection_key(word: str) -> str:
    """A conservative key shared by a word's regular inflections ("cars" -> "car", "increased",
    "increasing", "increases" and "increase" -> "increas").

    Synonym sources use it to avoid offering a word's own inflections as its synonyms. It strips
    only inflectional suffixes (possessive, plural/3rd person, past, gerund), never derivational
    ones, so unlike a Porter stem it does not merge distinct words such as "organ" and
    "organization"; irregular forms ("geese") are simply not merged.
    """
    w = word.lower().replace("\u2019", "'")
    if w.endswith("'s"):
        w = w[:-2]
    elif w.endswith("'"):
        w = w[:-1]
    if len(w) > 4 and w.endswith(("ies", "ied")):
        w = w[:-3] + "y"
    elif len(w) > 5 and w.endswith("ing"):
        w = w[:-3]
    elif len(w) > 4 and w.endswith("ed"):
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if len(w) > 2 and w[-1] == w[-2] and w[-1] not in "aeioulsz":
        w = w[:-1]  # "running" -> "runn" -> "run"; "added" and "add" both -> "ad"
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]  # "increase" and "increas(ed)" agree
    return w
