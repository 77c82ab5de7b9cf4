"""Task 2 — OOD generalisation to unseen query variations (Wu et al., TOIS 2022).

The same information need asked differently — typos, word order, stopword removal, synonyms,
keyword form (taxonomy of Penha et al., ECIR 2022; generators in robustness.text) — should
find the same documents. For each variation type: effectiveness on the varied queries, the
drop ratio against the originals on exactly the queries the variation changed, and a paired
significance test (ranx). Variants re-rank the original BM25 candidates by default, which
isolates the ranker's sensitivity from the first stage (`candidates: retrieve` re-runs BM25
with the varied query instead, the full-pipeline view).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from robustness.data import bm25_candidates
from robustness.errors import ConfigError
from robustness.metrics import HEADLINE, drop_ratio, mean_effectiveness, per_query
from robustness.report.significance import compare_runs
from robustness.tasks.base import TaskContext
from robustness.text.query_variations import VARIATIONS, vary_queries


class QueryVariationTask:
    name = "ood_query"

    def __init__(self) -> None:
        self._variants: dict[tuple, dict[str, str]] = {}
        self._candidates: dict[tuple, dict[str, list[str]]] = {}
        self._source = None

    def _synonyms(self, ctx: TaskContext):
        if self._source is None:
            from robustness.text.synonyms import load_synonym_source

            self._source = load_synonym_source(ctx.params.get("synonym_source", "combined"))
        return self._source

    def _vary(self, ctx: TaskContext, name: str) -> dict[str, str]:
        """Variants of the test queries, computed once per run and shared by all rankers."""
        key = (name, ctx.seed)
        if key not in self._variants:
            params: dict[str, Any] = dict((ctx.params.get("variation_params") or {}).get(name, {}))
            if name == "synonym_replacement":
                params["source"] = self._synonyms(ctx)
            self._variants[key] = vary_queries(ctx.queries, name, ctx.seed, **params)
        return self._variants[key]

    def _variant_candidates(self, ctx: TaskContext, name: str, variants: Mapping[str, str]) -> dict[str, list[str]]:
        mode = ctx.params.get("candidates", "original")
        if mode == "original":
            return ctx.candidates
        if mode != "retrieve":
            raise ConfigError(f"ood_query candidates must be 'original' or 'retrieve', got {mode!r}")
        key = (name, ctx.seed)
        if key not in self._candidates:
            self._candidates[key] = bm25_candidates(ctx.collection, dict(variants), ctx.candidates_k)
        return self._candidates[key]

    def run(self, ctx: TaskContext, ranker_name: str) -> dict[str, Any]:
        names = ctx.params.get("variations", list(VARIATIONS))
        unknown = [n for n in names if n not in VARIATIONS]
        if unknown:
            raise ConfigError(f"ood_query: unknown variation(s) {unknown} (known: {', '.join(VARIATIONS)})")
        original = ctx.results[ranker_name]
        summary: dict[str, Any] = {}
        examples: dict[str, dict[str, str]] = {}
        for name in names:
            variants = self._vary(ctx, name)
            changed = sorted(q for q in ctx.queries if variants[q] != ctx.queries[q])
            if not changed:
                summary[name] = {"n_changed": 0}
                continue
            varied = {q: variants[q] for q in changed}
            run = ctx.rerank(ranker_name, varied, self._variant_candidates(ctx, name, variants), ctx.collection.docs, desc=f"{ranker_name} {name}")
            qrels = {q: ctx.qrels[q] for q in changed}
            varied_values = per_query(qrels, run, ctx.metrics)
            after = mean_effectiveness(varied_values)
            before = {m: sum(original.per_query[m][q] for q in changed) / len(changed) for m in ctx.metrics}
            report, _ = compare_runs(qrels, {"original": {q: original.run[q] for q in changed}, name: run}, [HEADLINE], seed=ctx.seed)
            summary[name] = {
                "n_changed": len(changed),
                f"{HEADLINE}_original": before[HEADLINE],
                **{m: after[m] for m in ctx.metrics},
                f"{HEADLINE}_drop_pct": drop_ratio(before[HEADLINE], after[HEADLINE]),
                "p_value": _p_value(report["original"]["comparisons"][name][HEADLINE], original.per_query[HEADLINE], varied_values[HEADLINE]),
            }
            examples[name] = {q: varied[q] for q in changed[:3]}
        return {"summary": summary, "examples": examples}

    def headline(self, figures: Mapping[str, Any]) -> tuple[str, float] | None:
        drops = [v[f"{HEADLINE}_drop_pct"] for v in figures["summary"].values() if v.get("n_changed")]
        if not drops:
            return None
        return "mean nDCG@10 drop % over variations", sum(drops) / len(drops)


def _p_value(p: float, before: Mapping[str, float], after: Mapping[str, float]) -> float:
    """ranx's paired t-test is undefined (NaN) when every query changes by the same amount:
    no change at all is p = 1; the same non-zero change on every query is certain (p = 0)."""
    if not math.isnan(p):
        return float(p)
    return 1.0 if all(before[q] == after[q] for q in after) else 0.0
