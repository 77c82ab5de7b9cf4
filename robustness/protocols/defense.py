"""What a defence receives and returns: certifiers and detectors (DESIGN §9).

Implementations live in `robustness.defenses` (and in plug-ins), registered under the
entry-point groups `robustness.certifiers` and `robustness.detectors`; the `certification`
and `detection` tasks find them by name and never import them.

- A `Certifier` says, for one query's ranked candidate list, at which K the top-K is certified
  robust (no document outside it can enter it under the attacks the certificate covers), under
  one or more decision rules (e.g. CertDR's loose and tight Hoeffding rules and a sharper
  bound), with the smoothed scores behind the decision so the smoothed ranker can be evaluated.
- A `Detector` scores how suspicious a (query, document) pair is, higher = more likely
  adversarial, with an optional decision threshold. `fit_held_out` fits detectors and
  `detection_figures` scores them, the same way for the detection task and for detectors run
  inside the attack tasks.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Protocol, Sequence

import numpy as np

from robustness.metrics import roc_auc

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


def fit_held_out(detectors: Sequence[Detector], collection: Collection, listed_doc_ids: Iterable[str]) -> None:
    """Fit detectors on the collection without the documents of the lists they will score: a
    language model fitted on a clean document would tell it from any edited copy by memory
    alone. (The empty `_fingerprint` makes the reduced collection compute its own.)"""
    listed = set(listed_doc_ids)
    held_out = dataclasses.replace(collection, docs={d: t for d, t in collection.docs.items() if d not in listed}, _fingerprint="")
    for detector in detectors:
        fit_detector(detector, held_out)


def detection_figures(detector: Detector, adversarial: Sequence[tuple[str, str]], clean: Sequence[tuple[str, str]]) -> dict[str, float]:
    """How well a detector tells adversarial from clean (query, document) pairs: ROC AUC, the
    mean score of each side and, with a threshold, the detection and false-positive rates (%)."""
    attacked = np.asarray(detector.score([q for q, _ in adversarial], [d for _, d in adversarial]), dtype=np.float64)
    normal = np.asarray(detector.score([q for q, _ in clean], [d for _, d in clean]), dtype=np.float64)
    figures: dict[str, float] = {
        "auc": roc_auc(attacked, normal), "n_adversarial": len(adversarial), "n_clean": len(clean),
        "mean_adversarial": float(attacked.mean()), "mean_clean": float(normal.mean()),
    }
    if detector.threshold is not None:
        figures["detection_rate"] = float(100 * np.mean(attacked > detector.threshold))
        figures["false_positive_rate"] = float(100 * np.mean(normal > detector.threshold))
    return figures
