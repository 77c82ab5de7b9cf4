"""CertDR's smoothing distribution and its worst-case shift Δ_d (DESIGN §9.1, issue 10).

Each word w has a substitution set T_w: its connected component in the synonym graph when
that has at most `max_size` words, else w and its `max_size - 1` nearest synonyms. A smoothed
sample of a document replaces every word independently by a uniform draw from its set (w
included). An attacker who swaps w for a synonym v moves the distribution of that position
from uniform on T_w to uniform on T_v; the two share the mass |T_v ∩ T_w| / max(|T_v|, |T_w|),
at least q_w = the minimum of that over v in T_w, so a smoothed score in [0, 1] moves by at
most Δ_d = 1 − ∏ q_w over the document's words (or over the R smallest q_w when the attacker
may change at most R words). DESIGN writes the share as |T_v ∩ T_w| / |T_w|, which is the
same when the two sets are equally large (components, or two 100-word sets) and overstates
it when T_v is the larger one; the max keeps the bound sound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from robustness.errors import ConfigError
from robustness.text.synonyms import SynonymSource
from robustness.text.tokenize import is_word, match_case


class SubstitutionSets:
    """T_w and q_w for words, from a synonym source, computed once per word.

    Components are found by a breadth-first walk over the source's neighbours that stops as
    soon as it passes `max_size` words, so a word in a large component costs at most
    `max_size + 1` lookups. The graph is taken as the source gives it (a source whose
    neighbour lists are not symmetric yields the component reachable from w).
    """

    def __init__(self, source: SynonymSource, max_size: int = 100, neighbours_per_word: int = 50) -> None:
        check_set_size(max_size)
        self.source = source
        self.max_size = max_size
        self.neighbours_per_word = neighbours_per_word
        self._sets: dict[str, tuple[str, ...]] = {}
        self._overlaps: dict[str, float] = {}

    def _neighbours(self, word: str, k: int) -> list[str]:
        return [candidate for candidate, _ in self.source.neighbours(word, k) if candidate != word]

    def of(self, word: str) -> tuple[str, ...]:
        """T_w, sorted, with `word` in it."""
        if word not in self._sets:
            component, frontier = {word}, [word]
            while frontier and len(component) <= self.max_size:
                node = frontier.pop(0)
                for neighbour in self._neighbours(node, self.neighbours_per_word):
                    if neighbour not in component:
                        component.add(neighbour)
                        frontier.append(neighbour)
            if len(component) > self.max_size:  # a large component: the nearest words instead
                component = {word, *self._neighbours(word, self.max_size - 1)}
            self._sets[word] = tuple(sorted(component))
        return self._sets[word]

    def overlap(self, word: str) -> float:
        """q_w: the smallest mass that uniform draws from T_w and from T_v share, over v in T_w."""
        if word not in self._overlaps:
            own = set(self.of(word))
            self._overlaps[word] = min(len(own.intersection(self.of(v))) / max(len(own), len(self.of(v))) for v in own)
        return self._overlaps[word]

    def delta(self, words: Sequence[str], budget: int | None = None) -> float:
        """Δ_d for a document's words; with `budget` R, over the R smallest q_w."""
        return shift_bound([self.overlap(w) for w in words], budget)

    def copies(self, tokens: Sequence[str], n: int, generator: np.random.Generator) -> list[str]:
        """`n` smoothed copies of a tokenised text (`split_tokens`): every word replaced by a
        uniform draw from its set, in the word's case; spacing and punctuation kept. All draws
        of a copy come from `generator` at once, so a copy costs one string join."""
        slots = [i for i, t in enumerate(tokens) if is_word(t)]
        choices = [[match_case(v, tokens[i]) for v in self.of(tokens[i].lower())] for i in slots]
        sizes = np.array([len(c) for c in choices], dtype=np.int64)
        picks = (generator.random((n, len(slots))) * sizes).astype(np.int64) if slots else np.zeros((n, 0), dtype=np.int64)
        out = []
        for row in picks:
            parts = list(tokens)
            for slot, options, pick in zip(slots, choices, row.tolist()):
                parts[slot] = options[pick]
            out.append("".join(parts))
        return out


def check_set_size(max_size: object) -> None:
    if not isinstance(max_size, int) or max_size < 1:
        raise ConfigError(f"substitution set size must be an integer >= 1, got {max_size!r}")


def check_budget(budget: object) -> None:
    if budget is not None and (not isinstance(budget, int) or budget < 0):
        raise ConfigError(f"substitution budget R must be an integer >= 0 or None, got {budget!r}")


def shift_bound(overlaps: Sequence[float], budget: int | None = None) -> float:
    """Δ = 1 − ∏ q_w over all words, or over the `budget` smallest q_w (an attacker who changes
    at most R words can only move the distribution at R positions)."""
    check_budget(budget)
    if any(not 0.0 <= q <= 1.0 for q in overlaps):
        raise ConfigError("per-word overlaps q_w must lie in [0, 1]")
    chosen = sorted(overlaps)[:budget] if budget is not None else list(overlaps)
    return 1.0 - math.prod(chosen)
