"""Attack cost benchmark: victim queries per attack and attacks per minute, side by side.

Every attack runs against the same victim, queries and Easy-5/Hard-5 targets (SciFact test,
BM25 top-100 re-ranked by the victim) in one process. The attacks and their parameters are the
`adv_substitution` attacks of a benchmark spec (default: benchmarks/specs/attack.yaml), so the
figures price exactly what that benchmark runs. Setup (e.g. PRADA's surrogate training, cached
after the first run) is timed apart from the attacks themselves.

    python benchmarks/perf/attack.py [--victim minilm] [--queries 5] [--attacks prada random_substitution]
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np

from robustness.config import ComponentSpec, load_spec
from robustness.data import bm25_candidates, load_collection
from robustness.engine import ScoringEngine
from robustness.protocols.attack import AttackSetup
from robustness.protocols.evaluation import evaluate_attack, summarise
from robustness.rankers import prepare_ranker
from robustness.registry import make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--victim", default="minilm", help="ranker type (minilm, bm25, trained-cross-encoder, module:Class)")
    parser.add_argument("--queries", type=int, default=5)
    parser.add_argument("--spec", default="benchmarks/specs/attack.yaml", help="spec whose adv_substitution attacks are run")
    parser.add_argument("--attacks", nargs="+", help="only these attack names (default: all of the spec's)")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    task = next((t for t in load_spec(args.spec).tasks if t.name == "adv_substitution"), None)
    if task is None:
        parser.error(f"{args.spec} has no adv_substitution task")
    configs = [ComponentSpec.model_validate(a) for a in task.params.get("attacks", [])]
    configs = [a for a in configs if not args.attacks or a.name in args.attacks]

    collection = load_collection("scifact")
    test_queries, qrels = collection.split("test")
    ids = sorted(random.Random(f"{args.seed}|perf").sample(sorted(test_queries), args.queries))
    queries = {q: test_queries[q] for q in ids}
    candidates = bm25_candidates(collection, queries, 100)
    victim = make("ranker", args.victim)
    prepare_ranker(victim, collection.docs)
    engine = ScoringEngine(victim, progress=False)
    rankings = engine.rerank(queries, candidates, collection.docs)
    relevant = {q: {d for d, g in qrels[q].items() if g > 0} for q in ids}

    print(f"victim {victim.name}, {len(ids)} SciFact test queries, Easy-5 + Hard-5 targets, attacks of {args.spec}")
    print(f"{'attack':<36}{'targets':>8}{'setup s':>9}{'victim q/attack':>17}{'attacks/min':>13}{'ASR %':>8}{'PP %':>7}")
    for config in configs:
        attack = make("attack", config.name, config.params)
        started = time.perf_counter()
        if hasattr(attack, "setup"):
            attack.setup(AttackSetup(victim.name, engine, collection, args.seed, 100, progress=False))
        setup_seconds = time.perf_counter() - started
        started = time.perf_counter()
        results = evaluate_attack(engine, attack, queries, rankings, collection.docs, relevant,
                                  lambda *salt: random.Random(f"{args.seed}|{'|'.join(map(str, salt))}"), progress=False)
        minutes = (time.perf_counter() - started) / 60
        figures = summarise(results)["all"]
        print(f"{attack.name:<36}{len(results):>8}{setup_seconds:>9.1f}{np.mean([r.victim_queries for r in results]):>17.1f}"
              f"{len(results) / minutes:>13.1f}{figures['asr']:>8.1f}{figures['pp']:>7.1f}")


if __name__ == "__main__":
    main()
