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
from typing import Any, Literal, Mapping, Sequence

from robustness.data import bm25_candidates
from robustness.errors import ConfigError
from robustness.metrics import HEADLINE, drop_ratio, mean_effectiveness
from robustness.report.significance import compare_runs
from robustness.tasks.base import TaskContext
from robustness.registry import check_params
from robustness.text.query_variations import BUILTIN_VARIATIONS, vary_queries


class QueryVariationTask:
    """2. OOD: unseen query variations (typos, order, stopwords, keyword form, synonyms).

    - `variations`: registered query-variation names (default: the eight built-ins);
    - `variation_params`: per-variation parameters, e.g. {typo_swap: {n_words: 2}};
    - `synonym_source`: the source of `synonym_replacement` ("combined": WordNet + GloVe);
    - `candidates`: "original" re-ranks the original BM25 lists (isolates the ranker),
      "retrieve" re-runs BM25 with each variant (the full pipeline).
    """

    name = "ood_query"

    def __init__(
        self,
        variations: Sequence[str] = BUILTIN_VARIATIONS,
        variation_params: Mapping[str, Mapping[str, Any]] | None = None,
        synonym_source: str = "combined",
        candidates: Literal["original", "retrieve"] = "original",
    ) -> None:
        if not variations:
            raise ConfigError("ood_query variations must name at least one variation")
        self.variation_params = {name: dict(params) for name, params in (variation_params or {}).items()}
        stray = sorted(set(self.variation_params) - set(variations))
        if stray:
            raise ConfigError(f"ood_query variation_params name variation(s) {stray} that are not in variations {list(variations)}")
        for name in variations:
            check_params("query_variation", name, self.variation_params.get(name, {}), where=f"ood_query variation_params.{name}")
        self.variations = list(variations)
        self.synonym_source = synonym_source
        self.candidates = candidates
        self._variants: dict[str, dict[str, str]] = {}
        self._candidates: dict[str, dict[str, list[str]]] = {}
        self._source = None

    def _synonyms(self):
        if self._source is None:
            from robustness.text.synonyms import load_synonym_source

            self._source = load_synonym_source(self.synonym_source)
        return self._source

    def _vary(self, ctx: TaskContext, name: str) -> dict[str, str]:
        """Variants of the test queries, computed once per run and shared by all rankers."""
        if name not in self._variants:
            params: dict[str, Any] = dict(self.variation_params.get(name, {}))
            if name == "synonym_replacement":
                params["source"] = self._synonyms()
            self._variants[name] = vary_queries(ctx.queries, name, ctx.seed, **params)
        return self._variants[name]

    def _variant_candidates(self, ctx: TaskContext, name: str, variants: Mapping[str, str]) -> dict[str, list[str]]:
        if self.candidates == "original":
            return ctx.candidates
        key = name
        if key not in self._candidates:
            self._candidates[key] = bm25_candidates(ctx.collection, dict(variants), ctx.candidates_k)
        return self._candidates[key]

    def run(self, ctx: TaskContext, ranker_name: str) -> dict[str, Any]:
        original = ctx.results[ranker_name]
        summary: dict[str, Any] = {}
        examples: dict[str, dict[str, str]] = {}
        for name in self.variations:
            variants = self._vary(ctx, name)
            changed = sorted(q for q in ctx.queries if variants[q] != ctx.queries[q])
            if not changed:
                summary[name] = {"n_changed": 0}
                continue
            varied = {q: variants[q] for q in changed}
            run = ctx.rerank(ranker_name, varied, self._variant_candidates(ctx, name, variants), ctx.collection.docs, desc=f"{ranker_name} {name}")
            qrels = {q: ctx.qrels[q] for q in changed}
            varied_values = ctx.evaluate(qrels, run)
            after = mean_effectiveness(varied_values)
            before = {m: sum(original.per_query[m][q] for q in changed) / len(changed) for m in ctx.metrics}
            report, _ = compare_runs(qrels, {"original": {q: original.run[q] for q in changed}, name: run}, [HEADLINE], ctx.significance, seed=ctx.seed)
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
