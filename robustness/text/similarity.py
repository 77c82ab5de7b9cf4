"""Semantic similarity (SS) of an original and an adversarial document (DESIGN §8).

The attack papers measured SS with the Universal Sentence Encoder; offline we use the shipped
all-MiniLM-L6-v2 sentence encoder (cosine of mean-pooled, normalised embeddings), and reports
say so. Embeddings are cached by text, so originals shared across attacks are encoded once.

Document-level SS cannot see a context-blind word swap: one bad synonym in a 200-word abstract
("cell" -> "cellphone") still scores 0.98+. TextFooler's windowed constraint (Jin et al., AAAI
2020) compares only the words around a change, where one word weighs as much as it does for a
reader: `WindowedSimilarity` does that for `Edit` records (the attacks' constraint and the
evaluation's report share it), and `window_similarity` / `window_similarities` are its
one-call forms for reports.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import numpy as np

from robustness.cache import LRU
from robustness.text.edits import apply_edits
from robustness.text.tokenize import word_spans

if TYPE_CHECKING:
    from robustness.rankers.bi_encoder import BiEncoderRanker

__all__ = [
    "DEFAULT_WINDOW",
    "SentenceSimilarity",
    "TextEncoder",
    "WindowedSimilarity",
    "window_similarities",
    "window_similarity",
    "word_window",
]

DEFAULT_WINDOW = 11
"""Words per window: the changed word and 5 on each side. TextFooler used 15 with USE; with
all-MiniLM-L6-v2, 15-word windows saturate (median 0.982 over 800 random single synonym swaps
on SciFact abstracts, bad swaps at a median 0.977 against 0.995 for good ones), while 11 words
separate them better (0.958 against 0.991)."""


class TextEncoder(Protocol):
    """Anything that embeds texts, one row per text (`SentenceSimilarity`, `BiEncoderRanker`)."""

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class SentenceSimilarity:
    """Cosine similarity of sentence embeddings; `model` as for BiEncoderRanker.

    `encode` exposes the (cached) embeddings, so a `WindowedSimilarity` can share this encoder.
    """

    name = "all-MiniLM-L6-v2 cosine (stands in for USE)"

    def __init__(self, model: str = "minilm", device: str = "auto"):
        from robustness.rankers.bi_encoder import BiEncoderRanker

        self._encoder: BiEncoderRanker = BiEncoderRanker(model, name="ss-encoder", device=device)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised embeddings of `texts` (n, dim), each text encoded once per process."""
        return self._encoder.encode(list(texts))

    def __call__(self, originals: Sequence[str], adversarial: Sequence[str]) -> np.ndarray:
        if len(originals) != len(adversarial):
            raise ValueError(f"{len(originals)} originals but {len(adversarial)} adversarial texts")
        if not originals:
            return np.zeros(0)
        a = self._encoder.encode(list(originals))
        b = self._encoder.encode(list(adversarial))
        return (a * b).sum(axis=1).astype(np.float64)


def word_window(text: str, start: int, end: int, window: int = DEFAULT_WINDOW) -> tuple[int, int]:
    """Character span [a, b) of the `window` words of `text` centred on the change at [start, end).

    The words overlapping the change count towards `window` (an insertion, at start == end,
    overlaps none); the rest are split evenly before and after it, and a side that runs out of
    words (the text's start or end) gives its share to the other side, as in TextFooler. The
    span always covers [start, end), and runs from a word's first character to a word's last,
    so the punctuation between them ("9.17", "(n = 17)") is part of the window.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1 word, got {window}")
    spans = word_spans(text)
    if not spans:
        return start, end
    ends = [e for _, e in spans]
    first = bisect.bisect_right(ends, start)  # first word ending after `start`
    if end > start:
        last = bisect.bisect_left([s for s, _ in spans], end)  # words starting before `end`
    else:
        last = first
    # [first, last): the words overlapping the change; before: spans[:first]; after: spans[last:]
    spare = max(window - (last - first), 0)
    before = min(spare // 2, first)
    after = min(spare - before, len(spans) - last)
    before = min(spare - after, first)
    lo, hi = first - before, last + after
    a = spans[lo][0] if lo < len(spans) and lo < hi else start
    b = spans[hi - 1][1] if hi > 0 and lo < hi else end
    return min(a, start), max(b, end)


class _Change(NamedTuple):
    """What this module reads of an edit: at offset `position` of the original, `old` became `new`."""

    position: int
    old: str
    new: str


EditLike = Any
"""A `robustness.protocols.attack.Edit` (or any object with `position`, `old`, `new`) or its
`as_record()` dict. This layer may not import the protocols, so edits are read by duck typing."""


def _change(edit: EditLike) -> _Change:
    if isinstance(edit, Mapping):
        return _Change(int(edit["position"]), edit["old"], edit["new"])
    return _Change(int(edit.position), edit.old, edit.new)


class WindowedSimilarity:
    """TextFooler's windowed sentence similarity of an original text and its edited version.

    For one edit, the window is the `window` words of the original around the edited span
    (`word_window`), widened to cover any edit it cuts into; the edited window is that slice of
    the original with every edit inside it applied, so changes already made nearby count (as
    in TextFooler, whose window is taken from the text with the swaps kept so far). The score
    is the cosine of the two windows' embeddings under `encoder` (any `TextEncoder`; the
    shipped all-MiniLM-L6-v2 `SentenceSimilarity` by default). Embeddings are cached by text
    (here and in the encoder), so original windows are encoded once.
    """

    def __init__(self, encoder: TextEncoder, window: int = DEFAULT_WINDOW, cache_size: int = 20_000) -> None:
        if not isinstance(window, int) or window < 1:
            raise ValueError(f"window must be an integer >= 1 word, got {window!r}")
        self.encoder = encoder
        self.window = window
        self._cache: LRU[str, np.ndarray] = LRU(cache_size)

    def windows(self, original: str, edits: Sequence[EditLike], focus: int) -> tuple[str, str]:
        """(original window, edited window) around `edits[focus]`; offsets refer to `original`."""
        edits = [_change(e) for e in edits]
        edit = edits[focus]
        a, b = word_window(original, edit.position, edit.position + len(edit.old), self.window)
        while True:  # widen over edits cut by the window's ends (whole-word swaps never are)
            cut = [e for e in edits if e.position < a < e.position + len(e.old) or e.position < b < e.position + len(e.old)]
            if not cut:
                break
            a = min([a] + [e.position for e in cut])
            b = max([b] + [e.position + len(e.old) for e in cut])
        inside = [_Change(e.position - a, e.old, e.new) for e in edits if a <= e.position and e.position + len(e.old) <= b]
        return original[a:b], apply_edits(original[a:b], inside)

    def pairs(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Cosine of each (original window, edited window) pair, in one encoder call."""
        if not pairs:
            return np.zeros(0)
        texts = [t for pair in pairs for t in pair]
        vectors = self._embed(texts)
        a, b = vectors[0::2], vectors[1::2]
        return np.clip((a * b).sum(axis=1), -1.0, 1.0).astype(np.float64)

    def similarities(self, original: str, edits: Sequence[EditLike]) -> list[float]:
        """The windowed similarity around each edit (all edits applied), in edit order."""
        if not edits:
            return []
        return [float(s) for s in self.pairs([self.windows(original, edits, i) for i in range(len(edits))])]

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        found = {t: v for t in dict.fromkeys(texts) if (v := self._cache.get(t)) is not None}
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            vectors = np.asarray(self.encoder.encode(missing), dtype=np.float32)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.where(norms == 0, 1, norms)
            for text, vector in zip(missing, vectors):
                self._cache.put(text, vector)
                found[text] = vector
        return np.stack([found[t] for t in texts])


def window_similarities(
    encoder: TextEncoder | WindowedSimilarity,
    original_text: str,
    adversarial_text: str,
    edits: Sequence[EditLike],
    window: int = DEFAULT_WINDOW,
) -> list[float]:
    """The windowed similarity around every edit of an attack, in edit order ([] for none).

    `edits` are `Edit` records (or their `as_record()` dicts) with offsets into
    `original_text`; they must replay to `adversarial_text` (as `apply_edits` does), else
    ValueError.
    `encoder` is a `TextEncoder` or a `WindowedSimilarity` (whose cache and window are then
    used; `window` is ignored).
    """
    if apply_edits(original_text, [_change(e) for e in edits]) != adversarial_text:
        raise ValueError("the edits do not turn the original text into the adversarial text")
    scorer = encoder if isinstance(encoder, WindowedSimilarity) else WindowedSimilarity(encoder, window)
    return scorer.similarities(original_text, edits)


def window_similarity(
    encoder: TextEncoder | WindowedSimilarity,
    original_text: str,
    adversarial_text: str,
    edits: Sequence[EditLike],
    window: int = DEFAULT_WINDOW,
) -> float:
    """The lowest windowed similarity over an attack's edits (its worst-read change); 1.0
    when there are no edits (nothing changed). See `window_similarities`."""
    scores = window_similarities(encoder, original_text, adversarial_text, edits, window)
    return min(scores) if scores else 1.0
