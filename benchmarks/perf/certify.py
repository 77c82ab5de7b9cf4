"""Certification cost benchmark: certified queries per minute, engine vs raw forward, early stopping.

CertDR certifies SciFact test queries (BM25 top-`list-size` lists) against one cross-encoder,
in one process, so the ratios are measured side by side:
- certdr, n fixed (looks = 1): queries per minute, and the pairs it scored per second through
  the engine (sampling, de-duplication, sigmoid and bounds included) against the raw model
  forward at its best batch size on exactly those pairs;
- certdr, early stopping (looks > 1): the same queries; samples used, CRQ of each rule, time;
- a bi-encoder certifying each query and its word-shuffled variant (two lists of the same
  documents, as when certification runs over query variations): texts encoded when a
  document's copies are shared by every list it is in (CertDR's seeding) against copies drawn
  per query.

    python benchmarks/perf/certify.py [--queries 4] [--list-size 10] [--samples 50] [--model trained]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence

import torch
from engine import raw_pairs_per_second  # benchmarks/perf/engine.py, beside this script

from robustness.data import bm25_candidates, load_collection
from robustness.defenses.certdr import CertDR
from robustness.engine import ScoringEngine
from robustness.rankers.bi_encoder import BiEncoderRanker
from robustness.rankers.cross_encoder import CrossEncoderRanker
from robustness.text.query_variations import word_shuffle
from robustness.training.victims import trained_cross_encoder


class Recording:
    """Wraps a ranker and keeps every pair that reaches the model."""

    def __init__(self, ranker: CrossEncoderRanker) -> None:
        self.ranker, self.name, self.max_length, self.pairs = ranker, ranker.name, ranker.max_length, []

    def fingerprint(self) -> str:
        return self.ranker.fingerprint()

    def score(self, queries: Sequence[str], docs: Sequence[str]):
        self.pairs.extend(zip(queries, docs))
        return self.ranker.score(queries, docs)


def certify_all(certdr: CertDR, ranker, lists: dict[str, tuple[str, list[str]]], per_query_rng: bool = False) -> tuple[float, list, ScoringEngine]:
    engine = ScoringEngine(ranker, progress=False)
    started = time.perf_counter()
    certificates = [
        certdr.certify(query, docs, range(1, len(docs)), engine, random.Random(f"{qid}" if per_query_rng else "run"))
        for qid, (query, docs) in lists.items()
    ]
    return time.perf_counter() - started, certificates, engine


def crq(certificates: list, rule: str, k: int) -> float:
    return 100 * sum(k in c.certified[rule] for c in certificates) / len(certificates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=4)
    parser.add_argument("--list-size", type=int, default=10)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--looks", type=int, default=4)
    parser.add_argument("--budget", type=int, default=0, help="attack budget R (0: the Monte Carlo error alone)")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--model", choices=["minilm", "trained"], default="trained", help="trained: the SciFact cross-encoder (trained on first use)")
    args = parser.parse_args()
    torch.manual_seed(0)
    collection = load_collection("scifact")
    queries, _ = collection.split("test")
    chosen = {q: queries[q] for q in sorted(queries)[: args.queries]}
    candidates = bm25_candidates(collection, chosen, args.list_size)
    lists = {q: (chosen[q], [collection.docs[d] for d in candidates[q]]) for q in chosen}
    ranker = trained_cross_encoder("scifact") if args.model == "trained" else CrossEncoderRanker("minilm", max_length=128)
    params = dict(samples=args.samples, temperature=args.temperature, budget=args.budget)
    CertDR(**params).sets  # load the synonym source outside the timings
    print(f"{len(lists)} SciFact queries x top-{args.list_size}, n = {args.samples}, R = {args.budget}, cross-encoder {args.model} (max_length {ranker.max_length}), device {ranker.device}, torch threads {torch.get_num_threads()}")

    recording = Recording(ranker)
    fixed_seconds, fixed, engine = certify_all(CertDR(**params, looks=1), recording, lists)
    qs, ds = [q for q, _ in recording.pairs], [d for _, d in recording.pairs]
    raw = {b: raw_pairs_per_second(ranker, qs, ds, b) for b in (8, 16, 32)}
    best = max(raw, key=raw.get)
    early_seconds, early, _ = certify_all(CertDR(**params, looks=args.looks), ranker, lists)

    print(f"  certdr n fixed      : {60 * len(lists) / fixed_seconds:6.2f} certified queries/min, {engine.stats.pairs_scored} pairs scored ({engine.stats.pairs_requested} asked), {len(qs) / fixed_seconds:6.1f} pairs/s end to end")
    print(f"  raw forward         : " + ", ".join(f"batch {b}: {r:6.1f}" for b, r in raw.items()) + " pairs/s")
    print(f"ratio certdr pairs/s / raw best (batch {best}): {len(qs) / fixed_seconds / raw[best]:.2f}")
    share = sum(c.figures["samples_share"] for c in early) / len(early)
    print(f"  certdr looks={args.looks}     : {60 * len(lists) / early_seconds:6.2f} certified queries/min, {100 * share:.0f}% of the n x list samples drawn")
    print(f"ratio early / fixed queries per minute: {fixed_seconds / early_seconds:.2f}")
    for rule in ("loose", "tight", "bernstein"):
        print(f"  CRQ@1 / CRQ@3 {rule:<9}: fixed {crq(fixed, rule, 1):5.1f} / {crq(fixed, rule, 3):5.1f}   early {crq(early, rule, 1):5.1f} / {crq(early, rule, 3):5.1f}")

    variants = dict(lists) | {f"{q}~": (word_shuffle(query, random.Random(q)), docs) for q, (query, docs) in lists.items()}
    bi_shared, bi_per_query = BiEncoderRanker("minilm"), BiEncoderRanker("minilm")
    small = dict(params, samples=min(args.samples, 20))
    shared_seconds, _, _ = certify_all(CertDR(**small), bi_shared, variants)
    per_query_seconds, _, _ = certify_all(CertDR(**small), bi_per_query, variants, per_query_rng=True)
    print(f"  bi-encoder, {len(variants)} lists (queries and their shuffled variants), n = {small['samples']}: texts encoded {len(bi_shared._cache)} (copies shared) vs {len(bi_per_query._cache)} (copies per query)")
    print(f"ratio bi-encoder time shared / per query: {shared_seconds / per_query_seconds:.2f}")


if __name__ == "__main__":
    main()
