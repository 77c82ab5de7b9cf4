"""What a defence receives and returns: certifiers and detectors (DESIGN §9).

Implementations live in `robustness.defenses` (and in plug-ins), registered under the
entry-point groups `robustness.certifiers` and `robustness.detectors`; the `certification`
and `detection` tasks find them by name and never import them.

- A `Certifier` says, for one query's ranked candidate list, at which K the top-K is certified
  robust (no document outside it can enter it under the attacks the certificate covers), under
  one or more decision rules (e.g. CertDR's loose and tight Hoeffding rules and a sharper
  bound), with the smoothed scores behind the decision so the smoothed ranker can be evaluated.
- A `Detector` scores how suspicious a (query, document) pair is, higher = more likely
  adversarial, with an optional decision threshold.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, Sequence

import numpy as np

if TYPE_CHECKING:
    from robustness.data.collection import Collection
    from robustness.engine import ScoringEngine


@dataclass
class Certificate:
    """One query's certification.

    - `certified`: rule name -> the K values (of those asked for) at which the query's top-K
      is certified under that rule;
    - `scores`: the certifier's (smoothed) score of each listed document, in list order, or
      None when it has none; the task evaluates the smoothed ranking from them;
    - `figures`: anything else worth reporting per query (samples used, bound widths...).
    """

    certified: dict[str, list[int]]
    scores: list[float] | None = None
    figures: dict[str, float] = field(default_factory=dict)


class Certifier(Protocol):
    name: str

    def certify(
        self, query: str, docs: Sequence[str], ks: Sequence[int], engine: ScoringEngine, rng: random.Random
    ) -> Certificate:
        """Certify the ranked list `docs` (texts, best first, by the engine's ranker) at each K of `ks`.

        `rng` starts from the same seeded state for every query of a ranker, so a certifier can
        draw randomness that belongs to a document rather than a query (CertDR gives a document
        the same smoothed copies in every list, which the engine's caches then serve once)."""
        ...


class Detector(Protocol):
    """Scores (query, document) pairs: higher = more suspicious.

    Optional hook: `fit(collection)` before scoring (corpus statistics, a language model).
    `threshold` (None: no decision rule) turns scores into flags: flagged when score > threshold.
    """

    name: str
    threshold: float | None

    def score(self, queries: Sequence[str], docs: Sequence[str]) -> np.ndarray: ...


def fit_detector(detector: Detector, collection: Collection) -> None:
    """Give a detector that wants corpus statistics its collection; a no-op for the others."""
    fit: Any = getattr(detector, "fit", None)
    if callable(fit):
        fit(collection)
