"""CertDR (Wu et al., CIKM 2022): certified top-K robustness by randomized smoothing over
synonym substitutions (DESIGN §9.1, issue 10).

For one query's ranked list, every document is sampled up to `samples` times from the
smoothing distribution (`defenses/smoothing.py`). Its copies come from a random stream seeded
by the run and the document's text, not the query: a document gets the same copies in every
list it appears in, so the engine's caches (a bi-encoder's document embeddings, the score
store) serve them once for all queries. Scores are squashed to [0, 1] by a sigmoid of score /
`temperature`; their mean is the smoothed score ĝ. The list is certified at each K by three
rules (`defenses/bounds.py`): the released code's loose rule and the paper's tight rule, both
on the paper's Hoeffding ε, and the tight rule on empirical-Bernstein intervals under a union
bound over the list ("bernstein").

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
    - `temperature`: base scores are squashed by sigmoid(score / temperature). Use a scale where
      the ranker's scores differ: about 1 for cross-encoder logits, 0.1 for cosine similarities;
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
        streams = [random.Random(f"certdr/{stream_seed}/{text_hash(doc)}") for doc in docs]
        token_lists = [split_tokens(doc) for doc in docs]
        words = [[t.lower() for t in tokens if is_word(t)] for tokens in token_lists]
        deltas = {r: np.array([self.sets.delta(w, r) for w in words]) for r in self.budgets}
        usable = [k for k in ks if 1 <= k < len(docs)]
        samples: list[list[float]] = [[] for _ in docs]
        alpha = self.alpha / self.looks
        paper = (np.full(len(docs), -np.inf), np.full(len(docs), np.inf))
        bernstein = (np.zeros(len(docs)), np.ones(len(docs)))
        wanted = np.ones(len(docs), dtype=bool)
        copies_seen: set[str] = set()
        for size in self.schedule():
            rows = [i for i in range(len(docs)) if wanted[i] for _ in range(size - len(samples[i]))]
            copies = [self.sets.perturb(token_lists[i], streams[i]) for i in rows]
            copies_seen.update(copies)
            raw = engine.score([query] * len(copies), copies, desc="certdr samples")
            for i, value in zip(rows, 1.0 / (1.0 + np.exp(-np.asarray(raw, dtype=np.float64) / self.temperature))):
                samples[i].append(float(value))
            counts = np.array([len(s) for s in samples], dtype=np.float64)
            g = np.array([np.mean(s) for s in samples])
            paper = _intersect(paper, paper_intervals(g, counts, alpha))
            bernstein = _intersect(bernstein, intervals(g, np.array([np.var(s, ddof=1) for s in samples]), counts, alpha))
            wanted = np.zeros(len(docs), dtype=bool)
            for delta in deltas.values():
                wanted |= open_documents(g, *paper, delta, usable) | open_documents(g, *bernstein, delta, usable)
            if not wanted.any():
                break
        certified: dict[str, list[int]] = {}
        figures: dict[str, float] = {"epsilon": self.epsilon}
        for r, delta in deltas.items():
            suffix = "" if len(self.budgets) == 1 else f" R={'any' if r is None else r}"
            certified[f"loose{suffix}"] = [k for k in usable if certified_loose(g, *paper, delta, k)]
            certified[f"tight{suffix}"] = [k for k in usable if certified_tight(g, *paper, delta, k)]
            certified[f"bernstein{suffix}"] = [k for k in usable if certified_tight(g, *bernstein, delta, k)]
            figures[f"mean_delta{suffix}"] = float(delta.mean())
        figures |= {
            "mean_bernstein_width": float((bernstein[1] - bernstein[0]).mean()),
            "samples": float(counts.mean()),
            "samples_share": float(counts.sum() / (self.samples * len(docs))),
            "distinct_copies_share": len(copies_seen) / counts.sum(),
        }
        return Certificate(certified=certified, scores=g.tolist(), figures=figures)

    def schedule(self) -> list[int]:
        """Samples per document after each round: n/2^(looks−1), …, n/2, n (at least 2)."""
        return sorted({max(2, math.ceil(self.samples / 2 ** (self.looks - 1 - j))) for j in range(self.looks)})


def _intersect(old: tuple[np.ndarray, np.ndarray], new: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The running intersection of two rounds' intervals (both hold, under the union bound)."""
    return np.maximum(old[0], new[0]), np.minimum(old[1], new[1])
