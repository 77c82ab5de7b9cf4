"""Attacker-side models: the one preparation path for every model an attack trains on a victim.

PRADA's surrogate, the Order-Disorder imitation model and the topic attack's policy are all
prepared the same way, so they cost, cache and report the same way:

1. queries: only the collection's training queries (`training_queries`), never an attacked one;
2. the victim is asked as a black box, through its engine (`victim_rankings`), and every pair
   it scores is counted in the figures;
3. the model is trained with the project's pairwise trainer into
   `<cache>/models/<kind>-<fingerprint>`, where the fingerprint names the victim, the data, the
   seed and the configuration (`attacker_fingerprint`), so a second run loads it without
   asking the victim anything;
4. its fidelity to the victim (top-10 overlap, rank-biased overlap, rank correlations) is
   measured on held-out training queries, next to the untrained starting model's
   (`rank_fidelity`), and stored with the model (`load_or_prepare`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from robustness.data.candidates import bm25_candidates
from robustness.data.collection import Collection
from robustness.engine import ScoringEngine
from robustness.errors import DataError
from robustness.metrics import rank_biased_overlap, ranked, top_k_overlap
from robustness.protocols.attack import AttackSetup
from robustness.rankers.loading import resolve_model
from robustness.training import TRAINING_JSON, TrainConfig, Triple, model_cache_path, train_pairwise

if TYPE_CHECKING:
    from robustness.rankers.cross_encoder import CrossEncoderRanker

FIGURES_JSON = "attacker.json"
_TEST_SPLIT = "test"
_TRAIN_SPLIT = "train"


def training_queries(collection: Collection) -> list[str]:
    """Ids of the queries an attacker may learn from: the "train" split if the collection has
    one, else every query outside the "test" split; never an attacked (test) query."""
    test = set(collection.qrels.get(_TEST_SPLIT, {}))
    if _TRAIN_SPLIT in collection.qrels:
        pool = {q for q in collection.qrels[_TRAIN_SPLIT] if q in collection.queries}
    else:
        pool = set(collection.queries)
    pool = {q for q in pool - test if collection.queries[q].strip()}
    if not pool:
        raise DataError(
            f"collection {collection.name!r} has no training queries for an attacker-side model "
            f"(it needs a {_TRAIN_SPLIT!r} split or queries outside {_TEST_SPLIT!r})"
        )
    return sorted(pool)


def attacker_fingerprint(procedure: str, setup: AttackSetup, config: Any, base_model: str) -> str:
    """What determines an attacker-side model: the procedure, the victim, the data, the seed,
    the base model and the configuration (a dataclass; its `device` field excluded, since it
    changes where the model trains, not what it learns). The victim's answers are a function
    of these, so the cache can be checked before asking the victim anything."""
    payload = {
        "procedure": procedure,
        "victim": setup.engine.ranker.fingerprint(),
        "collection": setup.collection.fingerprint(),
        "seed": setup.seed,
        "base_model": resolve_model(base_model),
        "config": {k: v for k, v in dataclasses.asdict(config).items() if k != "device"},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def victim_rankings(
    engine: ScoringEngine, collection: Collection, queries: dict[str, str], depth: int, desc: str
) -> tuple[dict[str, list[str]], dict[str, np.ndarray]]:
    """The victim's order of each query's BM25 top-`depth` (ties by document id), and its
    scores in that order; the scores only serve to measure fidelity, never to train."""
    candidates = bm25_candidates(collection, queries, depth)
    asked = {q: queries[q] for q in sorted(queries) if len(candidates[q]) >= 2}
    run = engine.rerank(asked, candidates, collection.docs, desc=desc)
    order = {q: ranked(scores) for q, scores in run.items()}
    return order, {q: np.array([run[q][d] for d in order[q]]) for q in order}


def rank_fidelity(
    model: CrossEncoderRanker,
    queries: dict[str, str],
    order: dict[str, list[str]],
    victim_scores: dict[str, np.ndarray],
    docs: dict[str, str],
) -> dict[str, float]:
    """How well `model` reproduces the victim's order of each held-out candidate list, as the
    mean over queries of: top-10 overlap and rank-biased overlap (p = 0.7, Order-Disorder's
    fidelity measures, top-weighted), and Spearman and Kendall correlation of the scores
    (skipped where either side is constant). The model's order breaks ties by the victim's."""
    from scipy.stats import kendalltau, spearmanr

    engine = ScoringEngine(model, progress=False)
    pairs = [(q, d) for q in sorted(order) for d in order[q]]
    scores = engine.score([queries[q] for q, _ in pairs], [docs[d] for _, d in pairs])
    values: dict[str, list[float]] = {"top10_overlap": [], "rbo": [], "spearman": [], "kendall": []}
    start = 0
    for qid in sorted(order):
        mine = scores[start : start + len(order[qid])]
        start += len(order[qid])
        imitated = [order[qid][i] for i in np.argsort(-mine, kind="stable")]
        values["top10_overlap"].append(top_k_overlap(imitated, order[qid], 10))
        values["rbo"].append(rank_biased_overlap(imitated, order[qid], p=0.7))
        if np.ptp(mine) == 0 or np.ptp(victim_scores[qid]) == 0:
            continue
        values["spearman"].append(float(spearmanr(mine, victim_scores[qid]).statistic))
        values["kendall"].append(float(kendalltau(mine, victim_scores[qid]).statistic))
    return {name: float(np.mean(v)) for name, v in values.items() if v}


def load_or_prepare(
    kind: str, fingerprint: str, prepare: Callable[[Path], dict[str, Any]], load: Callable[[Path], Any]
) -> tuple[Any, dict[str, Any]]:
    """The model of `kind` cached under `fingerprint`, or prepare it there first.

    `prepare(out_dir)` trains the model into `out_dir` (through the project's trainer, which
    writes TRAINING_JSON last) and returns its figures (victim queries, fidelity...);
    `load(out_dir)` builds the model from the folder. Figures are stored beside the model and
    returned with `cached` (True when nothing was trained and the victim was not asked)."""
    out_dir = model_cache_path(kind, fingerprint)
    figures_path = out_dir / FIGURES_JSON
    if (out_dir / TRAINING_JSON).is_file() and figures_path.is_file():
        return load(out_dir), {**json.loads(figures_path.read_text()), "cached": True}
    figures = prepare(out_dir)
    figures_path.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    return load(out_dir), {**figures, "cached": False}


TriplesFromRankings = Callable[[Mapping[str, str], Mapping[str, Sequence[str]], random.Random], list[Triple]]


def train_on_victim_rankings(
    setup: AttackSetup,
    kind: str,
    out_dir: Path,
    n_train_queries: int,
    n_heldout_queries: int,
    depth: int,
    make_triples: TriplesFromRankings,
    base_model: str,
    train_config: TrainConfig,
) -> dict[str, Any]:
    """Steps 1-4 of the module docstring for one model: a seeded sample of training queries,
    the victim's order of their BM25 top-`depth`, `make_triples(query texts, orders, rng)`,
    pairwise training into `out_dir`, and fidelity on the held-out queries (the trained model
    and the untrained starting model, fresh head, same seed). Returns the figures:
    `victim_queries`, `n_train_queries`, `train_query_ids`, `n_triples`, `train_seconds`,
    `final_loss`, and with held-out queries `fidelity_victim_queries`, `n_heldout_queries` and
    `rank_fidelity`'s figures (suffix `_untrained` for the starting model)."""
    from robustness.rankers.cross_encoder import CrossEncoderRanker

    collection = setup.collection
    pool = training_queries(collection)
    chosen = random.Random(f"{setup.seed}|{kind}|queries").sample(pool, min(len(pool), n_train_queries + n_heldout_queries))
    train_ids = sorted(chosen[:n_train_queries])
    heldout_ids = sorted(chosen[n_train_queries:])
    texts = {q: collection.queries[q] for q in chosen}
    desc = f"{kind}: victim rankings"
    order, _ = victim_rankings(setup.engine, collection, {q: texts[q] for q in train_ids}, depth, desc)
    triples = make_triples(texts, order, random.Random(f"{setup.seed}|{kind}|triples"))
    if not triples:
        raise DataError(f"no {kind} training triples: BM25 found no candidates for the {len(train_ids)} training queries")
    train_pairwise(base_model, triples, out_dir, train_config, progress=setup.progress)
    record = json.loads((out_dir / TRAINING_JSON).read_text())
    figures: dict[str, Any] = {
        "victim_queries": sum(len(ids) for ids in order.values()),
        "n_train_queries": len(order),
        "train_query_ids": sorted(order),
        "n_triples": len(triples),
        "train_seconds": record["seconds"],
        "final_loss": record["final_loss"],
    }
    if heldout_ids:
        held_order, held_scores = victim_rankings(setup.engine, collection, {q: texts[q] for q in heldout_ids}, depth, desc)
        trained = CrossEncoderRanker(out_dir, kind, train_config.max_length, train_config.device)
        untrained = CrossEncoderRanker(base_model, "untrained", train_config.max_length, train_config.device, seed=setup.seed)
        figures["fidelity_victim_queries"] = sum(len(ids) for ids in held_order.values())
        figures["n_heldout_queries"] = len(held_order)
        figures.update(rank_fidelity(trained, texts, held_order, held_scores, collection.docs))
        untrained_figures = rank_fidelity(untrained, texts, held_order, held_scores, collection.docs)
        figures.update({f"{name}_untrained": value for name, value in untrained_figures.items()})
    return figures
