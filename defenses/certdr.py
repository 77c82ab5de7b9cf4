"""CertDR (Wu et al., CIKM 2022): certified top-K robustness by randomized smoothing over
synonym substitutions (DESIGN §9.1, issue 10).

For one query's ranked list, every document is sampled up to `samples` times from the
smoothing distribution (`defenses/smoothing.py`). Its copies come from a random stream seeded
by the run and the document's text, not the query: a document gets the same copies in every
list it appears in, so the engine's caches (a bi-encoder's document embeddings, the score
store) serve them once for all queries. Scores are squashed to [0, 1] by a sigmoid of (score − `offset`) /
`temperature`; their mean is the smoothed score ĝ. The list is certified at each K by three
rules (`defenses/bounds.py`): the released code's loose rule and the paper's tight rule, both
on the paper's Hoeffding ε, which bounds each compared pair and not the list as a whole; and
the tight rule on intervals that hold for the whole list together (a union bound over it), by
Hoeffding ("hoeffding") and by empirical Bernstein ("bernstein"): those two are the valid
comparison of a variance-blind and a variance-aware bound at the same α and the same n.

With `looks` > 1, sampling runs in rounds (n/2^(looks−1), …, n/2, n copies) and a document
stops once no open K needs it (`open_documents`, under either interval family); every round's
intervals get α / looks (a union bound over the rounds) and the running intersection is kept,
so the certificates stay valid at any stopping point. looks = 1 is the paper's fixed n.
The certificate covers attacks that replace words of a document outside the top K by members
of their substitution sets (at most R words for each R of `budget`; None: any number of
words); queries are not attacked.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from robustness.errors import ConfigError
from robustness.protocols.defense import Certificate
from robustness.rankers.base import text_hash
from robustness.text.synonyms import load_synonym_source
from robustness.text.tokenize import is_word, split_tokens

from robustness.defenses.bounds import certified_loose, certified_tight, hoeffding_epsilon, intervals, open_documents, paper_intervals
from robustness.defenses.smoothing import SubstitutionSets, check_budget, check_set_size

if TYPE_CHECKING:
    from robustness.engine import ScoringEngine


class CertDR:
    """Randomized-smoothing certifier of a ranked list's top K.

    - `samples` (n): smoothed copies per document; the paper uses 1,000. Hoeffding's ε is 0.27
      at n = 100 and 0.086 at n = 1,000, so use the Bernstein rule at small n;
    - `alpha`: the certificate's failure probability (0.05);
    - `temperature`, `offset`: base scores are squashed by sigmoid((score − offset) / temperature).
      A small temperature makes each copy's value nearly 0 or 1 (is the copy's score above
      `offset`?), so ĝ is the probability that it is, with a small variance near 0 and 1, where
      the Bernstein rule gains most. Put `offset` where the ranker separates relevant from not
      (0 for a cross-encoder's logits; BM25 scores need one in their own range);
    - `synonym_source`, `set_size`: the substitution sets (component if ≤ `set_size` words);
    - `budget`: the attacker's number of substituted words R (None: any number), or a list of
      them: the same samples are then certified at every R, with rules named "tight R=1" etc.
      (certified share against attack size, in one pass);
    - `looks`: sampling rounds; > 1 stops sampling a document early once no decision needs it
      (each round's bounds get α / looks). 1: every document gets n samples, as in the paper.
    """

    name = "certdr"

    def __init__(
        self,
        samples: int = 100,
        alpha: float = 0.05,
        temperature: float = 1.0,
        offset: float = 0.0,
        synonym_source: str = "combined",
        set_size: int = 100,
        budget: int | None | list[int | None] = None,
        looks: int = 1,
    ) -> None:
        if not isinstance(samples, int) or samples < 2:
            raise ConfigError(f"certdr samples must be an integer >= 2, got {samples!r}")
        if not temperature > 0:
            raise ConfigError(f"certdr temperature must be > 0, got {temperature}")
        check_set_size(set_size)
        self.budgets = budget if isinstance(budget, list) else [budget]
        if not self.budgets:
            raise ConfigError("certdr budget list is empty: give R values, or null for any number of words")
        for r in self.budgets:
            check_budget(r)
        if not isinstance(looks, int) or not 1 <= looks <= math.log2(samples) + 1:
            raise ConfigError(f"certdr looks must be an integer from 1 to log2(samples) + 1 ({int(math.log2(samples)) + 1}), got {looks!r}")
        self.samples = samples
        self.alpha = alpha
        self.epsilon = hoeffding_epsilon(samples, alpha / looks)
        self.temperature = temperature
        self.offset = offset
        self.synonym_source = synonym_source
        self.set_size = set_size
        self.looks = looks
        self._sets: SubstitutionSets | None = None

    @property
    def sets(self) -> SubstitutionSets:
        """The substitution sets, built on first use (loading a synonym source takes seconds)."""
        if self._sets is None:
            self._sets = SubstitutionSets(load_synonym_source(self.synonym_source), max_size=self.set_size)
        return self._sets

    def certify(self, query: str, docs: Sequence[str], ks: Sequence[int], engine: ScoringEngine, rng: random.Random) -> Certificate:
        stream_seed = rng.getrandbits(64)
        streams = [np.random.default_rng([stream_seed, int(text_hash(doc)[:16], 16)]) for doc in docs]
        token_lists = [split_tokens(doc) for doc in docs]
        words = [[t.lower() for t in tokens if is_word(t)] for tokens in token_lists]
        deltas = {r: np.array([self.sets.delta(w, r) for w in words]) for r in self.budgets}
        usable = [k for k in ks if 1 <= k < len(docs)]
        estimates = _Estimates.empty(len(docs), self.alpha / self.looks)
        wanted = np.ones(len(docs), dtype=bool)
        distinct: set[str] = set()
        for size in self.schedule():
            draws = {i: self.sets.copies(token_lists[i], size - len(estimates.samples[i]), streams[i]) for i in np.flatnonzero(wanted)}
            rows = [i for i, copies in draws.items() for _ in copies]
            copies = [c for batch in draws.values() for c in batch]
            distinct.update(copies)
            raw = np.asarray(engine.score([query] * len(copies), copies, desc="certdr samples"), dtype=np.float64)
            estimates.add(rows, 1.0 / (1.0 + np.exp(-(raw - self.offset) / self.temperature)))
            wanted = np.zeros(len(docs), dtype=bool)
            for delta in deltas.values():
                for bounds in (estimates.paper, estimates.hoeffding, estimates.bernstein):
                    wanted |= open_documents(estimates.g, *bounds, delta, usable)
            if not wanted.any():
                break
        return self._certificate(estimates, deltas, usable, len(distinct))

    def _certificate(self, estimates: _Estimates, deltas: dict[int | None, np.ndarray], usable: list[int], distinct: int) -> Certificate:
        g, counts = estimates.g, estimates.counts
        certified: dict[str, list[int]] = {}
        figures: dict[str, float] = {"epsilon": self.epsilon}
        for r, delta in deltas.items():
            suffix = "" if len(self.budgets) == 1 else f" R={'any' if r is None else r}"
            certified[f"loose{suffix}"] = [k for k in usable if certified_loose(g, *estimates.paper, delta, k)]
            certified[f"tight{suffix}"] = [k for k in usable if certified_tight(g, *estimates.paper, delta, k)]
            certified[f"hoeffding{suffix}"] = [k for k in usable if certified_tight(g, *estimates.hoeffding, delta, k)]
            certified[f"bernstein{suffix}"] = [k for k in usable if certified_tight(g, *estimates.bernstein, delta, k)]
            figures[f"mean_delta{suffix}"] = float(delta.mean())
        figures |= {
            "mean_bernstein_width": float((estimates.bernstein[1] - estimates.bernstein[0]).mean()),
            "samples": float(counts.mean()),
            "samples_share": float(counts.sum() / (self.samples * len(g))),
            "distinct_copies_share": distinct / float(counts.sum()),
        }
        return Certificate(certified=certified, scores=g.tolist(), figures=figures)

    def schedule(self) -> list[int]:
        """Samples per document after each round: n/2^(looks−1), …, n/2, n (at least 2)."""
        return sorted({max(2, math.ceil(self.samples / 2 ** (self.looks - 1 - j))) for j in range(self.looks)})


@dataclass
class _Estimates:
    """A list's smoothed-score samples so far and the running intersection of every round's
    intervals (each round's hold with probability ≥ 1 − α / looks, so all of them together
    with ≥ 1 − α, and so does their intersection)."""

    samples: list[list[float]]
    alpha: float
    paper: tuple[np.ndarray, np.ndarray]
    hoeffding: tuple[np.ndarray, np.ndarray]
    bernstein: tuple[np.ndarray, np.ndarray]

    @classmethod
    def empty(cls, size: int, alpha: float) -> _Estimates:
        unit = (np.zeros(size), np.ones(size))
        return cls([[] for _ in range(size)], alpha, (np.full(size, -np.inf), np.full(size, np.inf)), unit, unit)

    @property
    def g(self) -> np.ndarray:
        return np.array([np.mean(s) for s in self.samples])

    @property
    def counts(self) -> np.ndarray:
        return np.array([len(s) for s in self.samples], dtype=np.float64)

    def add(self, rows: Sequence[int], values: np.ndarray) -> None:
        """Record a round's squashed scores (`rows[j]`: the document of `values[j]`)."""
        for i, value in zip(rows, values.tolist()):
            self.samples[i].append(value)
        g, counts = self.g, self.counts
        variances = np.array([np.var(s, ddof=1) for s in self.samples])
        for name, (lo, hi) in (
            ("paper", paper_intervals(g, counts, self.alpha)),
            ("hoeffding", intervals(g, variances, counts, self.alpha, method="hoeffding")),
            ("bernstein", intervals(g, variances, counts, self.alpha, method="bernstein")),
        ):
            old_lo, old_hi = getattr(self, name)
            setattr(self, name, (np.maximum(old_lo, lo), np.minimum(old_hi, hi)))
