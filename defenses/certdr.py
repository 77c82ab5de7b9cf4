"""CertDR (Wu et al., CIKM 2022): certified top-K robustness by randomized smoothing over
synonym substitutions (DESIGN §9.1, issue 10).

For one query's ranked list, every document is sampled `samples` times from the smoothing
distribution (`defenses/smoothing.py`). The samples are scored in one engine call, so
repeated perturbed texts are scored once and cached, and squashed to [0, 1] by a sigmoid of
score / `temperature`. The mean is the smoothed score ĝ. The list is then certified at each K by
three rules (`defenses/bounds.py`): the released code's loose rule and the paper's tight rule,
both with the paper's Hoeffding ε, and empirical-Bernstein intervals under a union bound over
the list ("bernstein"). The certificate covers attacks that replace words of a document
outside the top K by members of their substitution sets (at most `budget` words when set);
queries are not attacked.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from robustness.errors import ConfigError
from robustness.protocols.defense import Certificate
from robustness.text.synonyms import load_synonym_source
from robustness.text.tokenize import is_word, match_case, split_tokens

from robustness.defenses.bounds import certified_by_intervals, certified_loose, certified_tight, hoeffding_epsilon, intervals
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
    - `budget`: the attacker's number of substituted words R (None: any number).
    """

    name = "certdr"

    def __init__(
        self,
        samples: int = 100,
        alpha: float = 0.05,
        temperature: float = 1.0,
        synonym_source: str = "combined",
        set_size: int = 100,
        budget: int | None = None,
    ) -> None:
        if not isinstance(samples, int) or samples < 2:
            raise ConfigError(f"certdr samples must be an integer >= 2, got {samples!r}")
        if not temperature > 0:
            raise ConfigError(f"certdr temperature must be > 0, got {temperature}")
        check_set_size(set_size)
        check_budget(budget)
        self.samples = samples
        self.alpha = alpha
        self.epsilon = hoeffding_epsilon(samples, alpha)
        self.temperature = temperature
        self.budget = budget
        self.synonym_source = synonym_source
        self.set_size = set_size
        self._sets: SubstitutionSets | None = None

    @property
    def sets(self) -> SubstitutionSets:
        """The substitution sets, built on first use (loading a synonym source takes seconds)."""
        if self._sets is None:
            self._sets = SubstitutionSets(load_synonym_source(self.synonym_source), max_size=self.set_size)
        return self._sets

    def _smoothed_copy(self, tokens: Sequence[str], rng: random.Random) -> str:
        return "".join(match_case(rng.choice(self.sets.of(t.lower())), t) if is_word(t) else t for t in tokens)

    def certify(self, query: str, docs: Sequence[str], ks: Sequence[int], engine: ScoringEngine, rng: random.Random) -> Certificate:
        token_lists = [split_tokens(doc) for doc in docs]
        copies = [self._smoothed_copy(tokens, rng) for tokens in token_lists for _ in range(self.samples)]
        raw = engine.score([query] * len(copies), copies, desc="certdr samples")
        squashed = (1.0 / (1.0 + np.exp(-np.asarray(raw, dtype=np.float64) / self.temperature))).reshape(len(docs), self.samples)
        delta = np.array([self.sets.delta([t.lower() for t in tokens if is_word(t)], self.budget) for tokens in token_lists])
        g, lower, upper = intervals(squashed, self.alpha, method="bernstein")
        usable = [k for k in ks if 1 <= k < len(docs)]
        certified = {
            "loose": [k for k in usable if certified_loose(g, delta, k, self.epsilon)],
            "tight": [k for k in usable if certified_tight(g, delta, k, self.epsilon)],
            "bernstein": [k for k in usable if certified_by_intervals(g, lower, upper, delta, k)],
        }
        figures = {
            "epsilon": self.epsilon,
            "mean_delta": float(delta.mean()),
            "mean_bernstein_width": float((upper - lower).mean()),
            "samples": float(self.samples),
            "distinct_copies_share": len(set(copies)) / len(copies) if copies else math.nan,
        }
        return Certificate(certified=certified, scores=g.tolist(), figures=figures)
