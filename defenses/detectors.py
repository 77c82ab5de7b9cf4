"""Detectors of adversarial documents (DESIGN §9.2), registered under `robustness.detectors`.

- `OSDSpamicity` (`osd_spamicity`): the term spamicity of OSD (Zhou & Pei, 2009) as the
  imitation-attack paper (PAT, Liu et al., CCS 2022) used it against keyword stuffing: how much
  of a document's tf-idf weight sits on the query's terms.
- `PerplexityDetector` (`perplexity`): how unlike the collection's prose a document reads,
  under a language model (`robustness.text.language_model`).
Both score (query, document) pairs, higher = more suspicious; the `detection` task turns the
scores into ROC AUC and, with a threshold, detection and false-positive rates.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING, Sequence

import numpy as np

from robustness.text.language_model import DEFAULT_ORDER, LanguageModel, build_language_model, language_model_kind
from robustness.text.tokenize import words

if TYPE_CHECKING:
    from robustness.data.collection import Collection


def _terms(text: str) -> Counter[str]:
    return Counter(w.lower() for w in words(text))


class OSDSpamicity:
    """OSD term spamicity of a (query, document) pair; flagged above `threshold` (0.05, PAT's).

    spamicity(q, d) = Σ_{t ∈ q} w_d(t) / (|q| · max_{t ∈ q} w_q(t)), where
    - terms are the distinct lower-cased words (`robustness.text.tokenize`) of a text, all of
      them, stopwords included (as in PAT), and |q| counts the query's distinct terms;
    - w_x is the L2-normalised tf-idf vector of text x: tf = raw count in x, idf(t) =
      ln((1 + N) / (1 + df(t))) + 1 (smoothed), N the collection's documents and df(t) those
      containing t (`fit`). A term the collection never saw gets the largest idf, not an error;
    - "the query's max tf-idf" is read as PAT's code computes it: the largest weight in the
      query's own normalised tf-idf vector.
    Why this reading: both vectors have unit length, so the numerator is at most √|q| (Cauchy–
    Schwarz over the query's coordinates) and max w_q ≥ 1/√|q|; the ratio lies in [0, 1], and
    reaches 1 only when the query's terms weigh the same and the document is made of them, in
    equal weights. The other readings are unbounded (raw tf-idf) or blind to stuffing (dividing by the largest
    document weight among the query terms measures only how even they are).
    A query without a word, or a document without a word, scores 0.0: nothing is stuffed.
    """

    name = "osd_spamicity"

    def __init__(self, threshold: float | None = 0.05) -> None:
        self.threshold = threshold
        self._documents = 0
        self._df: Counter[str] | None = None

    def fit(self, collection: Collection) -> None:
        """Document frequencies of the collection's terms."""
        df: Counter[str] = Counter()
        for text in collection.docs.values():
            df.update(set(_terms(text)))
        self._df, self._documents = df, len(collection.docs)

    def _idf(self, term: str) -> float:
        assert self._df is not None
        return math.log((1 + self._documents) / (1 + self._df.get(term, 0))) + 1

    def _weights(self, text: str) -> dict[str, float]:
        """The L2-normalised tf-idf vector of `text` (empty for a text without a word)."""
        raw = {t: c * self._idf(t) for t, c in _terms(text).items()}
        norm = math.sqrt(sum(v * v for v in raw.values()))
        return {t: v / norm for t, v in raw.items()}

    def spamicity(self, query: str, doc: str) -> float:
        if self._df is None:
            raise RuntimeError("osd_spamicity needs document frequencies: call fit(collection) first")
        q, d = self._weights(query), self._weights(doc)
        if not q or not d:
            return 0.0
        return sum(d.get(t, 0.0) for t in q) / (len(q) * max(q.values()))

    def score(self, queries: Sequence[str], docs: Sequence[str]) -> np.ndarray:
        return np.array([self.spamicity(q, d) for q, d in zip(queries, docs, strict=True)], dtype=np.float64)


class PerplexityDetector:
    """A document's perplexity under a language model: stuffed or machine-made text reads
    unlike the collection's prose. The query plays no part.

    - `language_model`: "ngram" (an interpolated Kneser–Ney model of `order` fitted on the
      collection by `fit`), or a Hugging Face causal LM (a local folder, owner/name, hf:<id>),
      loaded on first use on `device` (see `robustness.text.language_model`);
    - `threshold`: flag above this perplexity; None (default) reports ROC AUC only, since a
      perplexity's scale depends on the model and the collection.
    Fitted on the documents it later scores, the n-gram model would remember them (in SciFact,
    median perplexity ~20 in-sample against ~430 held out) and flag any edit by memory, so the
    `detection` task fits it on the collection without the scored lists' documents.
    """

    name = "perplexity"

    def __init__(self, language_model: str = "ngram", order: int = DEFAULT_ORDER, threshold: float | None = None, device: str = "auto") -> None:
        language_model_kind(language_model)  # a bad spec fails when the detector is made
        self.language_model = language_model
        self.order = order
        self.threshold = threshold
        self.device = device
        self._model: LanguageModel | None = None

    def fit(self, collection: Collection) -> None:
        self._model = build_language_model(self.language_model, collection, order=self.order, device=self.device)

    def score(self, queries: Sequence[str], docs: Sequence[str]) -> np.ndarray:
        if len(queries) != len(docs):
            raise ValueError(f"{len(queries)} queries but {len(docs)} documents")
        if self._model is None:
            self._model = build_language_model(self.language_model, None, order=self.order, device=self.device)
        unique = list(dict.fromkeys(docs))  # a clean document recurs in many lists
        found = dict(zip(unique, self._model.perplexities(unique)))
        return np.array([found[d] for d in docs], dtype=np.float64)
