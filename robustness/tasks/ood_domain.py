"""Task 3 — OOD generalisation to unseen domains (Wu et al., TOIS 2022; BEIR-style transfer).

A ranker built for the in-domain collection is evaluated, unchanged, on other collections
(default: the built-in Vaswani and Cranfield). Per target collection: effectiveness, its ratio
to BM25 on the same collection (does the neural ranker still beat the lexical baseline out of
domain?), and the drop relative to the ranker's own in-domain effectiveness.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from robustness.data import bm25_candidates, load_collection
from robustness.errors import ConfigError
from robustness.metrics import HEADLINE, default_relevance_threshold, drop_ratio, mean_effectiveness, per_query
from robustness.rankers.base import prepare_ranker
from robustness.tasks.base import TaskContext


class DomainTask:
    """3. OOD: unseen domains (other collections, re-ranked unchanged).

    - `datasets`: target collections (any dataset reference; default Vaswani and Cranfield);
    - `max_queries`: a seeded sample of each target's queries (None: all);
    - `split`: the targets' split.
    """

    name = "ood_domain"

    def __init__(self, datasets: Sequence[str] = ("vaswani", "cranfield"), max_queries: int | None = None, split: str = "test") -> None:
        if not datasets:
            raise ConfigError("ood_domain datasets must name at least one collection")
        if max_queries is not None and max_queries < 1:
            raise ConfigError(f"ood_domain max_queries must be >= 1 or null, got {max_queries}")
        self.datasets = list(datasets)
        self.max_queries = max_queries
        self.split = split
        self._prepared: dict[str, tuple[Any, dict, dict, dict]] = {}

    def _target(self, ctx: TaskContext, reference: str):
        """Load a target collection, its BM25 candidates and queries once per run."""
        if reference not in self._prepared:
            collection = load_collection(reference)
            queries, qrels = collection.split(self.split)
            if self.max_queries is not None:
                keep = sorted(ctx.rng("ood_domain", reference).sample(sorted(queries), min(self.max_queries, len(queries))))
                queries, qrels = {q: queries[q] for q in keep}, {q: qrels[q] for q in keep}
            self._prepared[reference] = (collection, queries, qrels, bm25_candidates(collection, queries, ctx.candidates_k))
        return self._prepared[reference]

    def _effectiveness(self, ctx: TaskContext, ranker_name: str, target: tuple) -> dict[str, float]:
        collection, queries, qrels, candidates = target
        ranker = ctx.rankers[ranker_name]
        prepare_ranker(ranker, collection.docs)
        try:
            run = ctx.rerank(ranker_name, queries, candidates, collection.docs, desc=f"{ranker_name} on {collection.name}")
        finally:
            prepare_ranker(ranker, ctx.collection.docs)  # back to the in-domain corpus for later tasks
        return mean_effectiveness(per_query(qrels, run, ctx.metrics, default_relevance_threshold(collection.source)))

    def run(self, ctx: TaskContext, ranker_name: str) -> dict[str, Any]:
        in_domain = ctx.results[ranker_name].effectiveness
        summary: dict[str, Any] = {}
        for reference in self.datasets:
            target = self._target(ctx, reference)
            mine = self._effectiveness(ctx, ranker_name, target)
            baseline = mine if ranker_name == ctx.reference else self._effectiveness(ctx, ctx.reference, target)
            figures = dict(mine)
            figures[f"{HEADLINE}_vs_bm25"] = mine[HEADLINE] / baseline[HEADLINE] if baseline[HEADLINE] else float("nan")
            figures[f"{HEADLINE}_drop_pct"] = drop_ratio(in_domain[HEADLINE], mine[HEADLINE])
            figures["n_queries"] = len(target[1])
            summary[reference] = figures
        return {"summary": summary}

    def headline(self, figures: Mapping[str, Any]) -> tuple[str, float]:
        ratios = [v[f"{HEADLINE}_vs_bm25"] for v in figures["summary"].values()]
        return "mean nDCG@10 / BM25 (OOD)", sum(ratios) / len(ratios)
