"""Training triples: where they come from, and the fingerprints that key a trained model.

A triple is (query, preferred document, less-preferred document). Victims get theirs from
judged-relevant documents (:func:`triples_from_qrels`), PRADA surrogates and imitation models
from a black-box ranking (:func:`triples_from_ranking`). The fingerprints name everything that
determines the trained weights, so that a model cache keyed on them is never stale.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from robustness.errors import TrainingError
from robustness.training.config import TrainConfig

Triple = tuple[str, str, str]
"""(query text, preferred document text, less-preferred document text)."""

# Config fields that change how a run is carried out but not which weights it produces; they
# stay out of the fingerprint so that, e.g., a model trained on a GPU is reused on a laptop.
_NON_RESULT_FIELDS = frozenset({"checkpoint_every", "device"})
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def fingerprint_triples(triples: Sequence[Triple]) -> str:
    """sha256 of the triples, in order (the order fixes the seeded data order, hence the weights).

    Each text is length-prefixed so that no two different triple lists hash alike.
    """
    digest = hashlib.sha256()
    for triple in triples:
        for text in triple:
            data = text.encode("utf-8")
            digest.update(len(data).to_bytes(8, "little"))
            digest.update(data)
    return digest.hexdigest()


def _base_model_id(base_model: str | Path) -> str:
    """A local checkpoint by its resolved path (so ``minilm``, ``./m`` and ``/abs/m`` agree with
    their folder), else the hub id as given."""
    from robustness.rankers.loading import resolve_model

    source = resolve_model(base_model)
    return str(Path(source).resolve()) if Path(source).exists() else source


def training_fingerprint(
    base_model: str | Path, triples: Sequence[Triple], config: TrainConfig
) -> str:
    """sha256 of everything that determines the trained weights: base model, triples, config.

    Callers key their model cache on it (``model_cache_path(name, fp[:16])``) and the trainer
    refuses to reuse an ``out_dir`` whose finished model or checkpoint has another fingerprint.
    """
    return run_fingerprint(base_model, fingerprint_triples(triples), config)


def run_fingerprint(base_model: str | Path, triples_sha256: str, config: TrainConfig) -> str:
    """:func:`training_fingerprint` from the triples' sha256, which the trainer also records."""
    payload = {
        "base_model": _base_model_id(base_model),
        "triples_sha256": triples_sha256,
        "config": {
            k: v for k, v in dataclasses.asdict(config).items() if k not in _NON_RESULT_FIELDS
        },
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def model_cache_path(name: str, fingerprint: str) -> Path:
    """``<cache>/models/<name>-<fingerprint>``: one directory per distinct trained model."""
    for label, value in (("name", name), ("fingerprint", fingerprint)):
        if not _SAFE_NAME.fullmatch(value):
            raise TrainingError(
                f"model cache {label} must be letters, digits, '.', '_' or '-', got {value!r}"
            )
    from robustness.cache import cache_dir

    return cache_dir() / "models" / f"{name}-{fingerprint}"


def validate_triples(triples: Sequence[Triple]) -> list[Triple]:
    """The triples as tuples of three non-empty strings, checked before anything is loaded."""
    if len(triples) == 0:
        raise TrainingError("triples is empty: need at least one (query, preferred, less-preferred)")
    parts = ("query", "preferred document", "less-preferred document")
    checked: list[Triple] = []
    for index, triple in enumerate(triples):
        if not isinstance(triple, (tuple, list)) or len(triple) != 3:
            raise TrainingError(f"triple {index} is not a (query, preferred, less-preferred) triple")
        for part, text in zip(parts, triple):
            if not isinstance(text, str):
                raise TrainingError(f"triple {index}: the {part} is {type(text).__name__}, not str")
            if not text.strip():
                raise TrainingError(f"triple {index}: the {part} is empty")
        checked.append((triple[0], triple[1], triple[2]))
    return checked


def _text(doc_text: Mapping[str, str], doc_id: str, where: str) -> str:
    try:
        return doc_text[doc_id]
    except KeyError:
        raise TrainingError(f"document {doc_id!r} ({where}) is not in doc_text") from None


def _query(queries: Mapping[str, str], qid: str, where: str) -> str:
    try:
        return queries[qid]
    except KeyError:
        raise TrainingError(f"query {qid!r} (in {where}) is not in queries") from None


def triples_from_qrels(
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    doc_text: Mapping[str, str],
    negatives: Mapping[str, Sequence[str]],
    per_positive: int,
    rng: random.Random,
) -> list[Triple]:
    """Supervised triples: each judged-relevant document against sampled candidates.

    For every query in ``qrels`` (sorted by id, so the result does not depend on dict order),
    every document with grade > 0 is paired with ``per_positive`` documents drawn without
    replacement from ``negatives[qid]`` (typically the BM25 top-k: hard negatives the ranker
    will actually have to beat). Relevant documents are removed from that pool, otherwise a
    relevant document would be taught as less relevant than another; documents judged 0 stay,
    as they are true negatives. Queries without a positive or without any negative left are
    skipped. Fewer than ``per_positive`` candidates means all of them are used.
    """
    if per_positive < 1:
        raise TrainingError(f"per_positive must be >= 1, got {per_positive}")
    triples: list[Triple] = []
    for qid in sorted(qrels):
        judged = qrels[qid]
        positives = sorted(d for d, grade in judged.items() if grade > 0)
        if not positives:
            continue
        pool = [d for d in dict.fromkeys(negatives.get(qid, ())) if judged.get(d, 0) <= 0]
        if not pool:
            continue
        query = _query(queries, qid, "qrels")
        for pos in positives:
            pos_text = _text(doc_text, pos, f"relevant to query {qid!r}")
            for neg in rng.sample(pool, min(per_positive, len(pool))):
                triples.append((query, pos_text, _text(doc_text, neg, f"negative for {qid!r}")))
    return triples


def triples_from_ranking(
    queries: Mapping[str, str],
    rankings: Mapping[str, Sequence[str]],
    doc_text: Mapping[str, str],
    rng: random.Random,
    top: int = 10,
    n_pairs_per_query: int | None = 20,
    min_gap: int = 1,
) -> list[Triple]:
    """Pseudo-relevance-feedback triples from a black-box ranking (PRADA's surrogate, §8.1).

    The attacker sees only the victim's order, so the label is the order itself: a document
    ranked higher is preferred to one ranked lower. Of all such pairs, we sample those whose
    preferred document is in the first ``top`` ranks (``i < top``) and whose other document is
    at least ``min_gap`` ranks below it (``j >= i + min_gap``), uniformly, ``n_pairs_per_query``
    per query (``None``: all of them). Why this shape:

    * the preferred side comes from the top because that is where the victim's order carries
      signal and what the attacks care about (pushing a rank-51..100 target into the top-10);
      pairs between two tail documents mostly teach the victim's noise;
    * the other side ranges over every lower rank, so a sample mixes fine-grained pairs inside
      the top (the order among the best documents, as in IDEM's all-pairs-in-top-k) with
      top-versus-tail pairs (the boundary a promoted target must cross, as in Order-Disorder's
      negatives from below the top-25) in proportion to how many of each exist;
    * ``min_gap`` > 1 drops near-ties, whose order the victim decides by tiny score differences;
    * sampling instead of enumerating caps the cost: top-10 of a 100-list alone has 945 pairs
      per query, and MiniLM trains at ~7 triples/s (128 tokens) on 2 CPU cores.

    Queries are visited in sorted id order so the result depends only on the inputs and ``rng``.
    """
    if top < 1:
        raise TrainingError(f"top must be >= 1, got {top}")
    if n_pairs_per_query is not None and n_pairs_per_query < 1:
        raise TrainingError(f"n_pairs_per_query must be >= 1 or None, got {n_pairs_per_query}")
    if min_gap < 1:
        raise TrainingError(f"min_gap must be >= 1, got {min_gap}")
    triples: list[Triple] = []
    for qid in sorted(rankings):
        ranking = list(rankings[qid])
        if len(set(ranking)) != len(ranking):
            raise TrainingError(f"ranking of query {qid!r} lists a document more than once")
        pairs = [
            (i, j)
            for i in range(min(top, len(ranking)))
            for j in range(i + min_gap, len(ranking))
        ]
        if not pairs:
            continue
        if n_pairs_per_query is not None and n_pairs_per_query < len(pairs):
            pairs = sorted(rng.sample(pairs, n_pairs_per_query))
        query = _query(queries, qid, "rankings")
        where = f"ranked for query {qid!r}"
        triples.extend(
            (query, _text(doc_text, ranking[i], where), _text(doc_text, ranking[j], where))
            for i, j in pairs
        )
    return triples
