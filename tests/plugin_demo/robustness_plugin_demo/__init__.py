"""Test doubles of the attack, certifier and detector protocols, shipped as a plug-in package.

They are small but real implementations of the protocols (no fixed outputs): the attack appends
the query's words, the certifier certifies a top-K whose score gap to the next document exceeds
a margin, the detector scores the share of a document's words that are query words.
"""

from __future__ import annotations

import random
from typing import Sequence

import numpy as np

from robustness.protocols.attack import AttackOutcome, Edit, Target, Victim, apply_edits
from robustness.protocols.defense import Certificate


class AppendQueryWords:
    """Append the query's words `times` times to the document (a static attack)."""

    def __init__(self, times: int = 1) -> None:
        self.times = times
        self.name = f"demo-append-{times}"

    def attack(self, target: Target, victim: Victim, rng: random.Random) -> AttackOutcome:
        edits = [Edit.insert(len(target.text), " " + " ".join([target.query] * self.times))]
        return AttackOutcome(apply_edits(target.text, edits), edits)


class ScoreGapCertifier:
    """Certify the top-K of a list when the K-th score beats the (K+1)-th by more than `margin`."""

    name = "demo-gap"

    def __init__(self, margin: float = 0.5) -> None:
        self.margin = margin

    def certify(self, query: str, docs: Sequence[str], ks: Sequence[int], engine, rng: random.Random) -> Certificate:
        scores = engine.score([query] * len(docs), list(docs))
        certified = [k for k in ks if k < len(docs) and scores[k - 1] - scores[k] > self.margin]
        return Certificate({"gap": certified}, scores=[float(s) for s in scores], figures={"top_gap": float(scores[0] - scores[1])})


class QueryOverlapDetector:
    """Share of a document's words that are query words: keyword stuffing raises it."""

    name = "demo-overlap"

    def __init__(self, threshold: float | None = 0.2) -> None:
        self.threshold = threshold

    def score(self, queries: Sequence[str], docs: Sequence[str]) -> np.ndarray:
        out = []
        for query, doc in zip(queries, docs):
            terms, words = set(query.lower().split()), doc.lower().split()
            out.append(sum(w in terms for w in words) / max(len(words), 1))
        return np.array(out)
