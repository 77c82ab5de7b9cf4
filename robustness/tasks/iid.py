"""Task 1 — I.I.D. performance variance (Wu et al., TOIS 2022, §robustness as performance variance).

On the in-domain test split a robust ranker is not only good on average: its per-query
effectiveness varies little and its worst queries stay usable. Figures per ranker and metric:
mean, standard deviation, variance, worst-10% mean, bootstrap 95% CIs. With `seed_groups`
(name -> rankers trained with different seeds) it also reports the variance across seeds.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from robustness.errors import ConfigError
from robustness.metrics import distribution
from robustness.tasks.base import TaskContext


class IIDTask:
    name = "iid"

    def run(self, ctx: TaskContext, ranker_name: str) -> dict[str, Any]:
        fraction = float(ctx.params.get("worst_fraction", 0.1))
        metrics = [m for m in ctx.params.get("metrics", ["ndcg@10", "mrr@10"])]
        per_query = ctx.results[ranker_name].per_query
        missing = [m for m in metrics if m not in per_query]
        if missing:
            raise ConfigError(f"iid metrics {missing} are not among the spec's metrics {list(per_query)}")
        summary: dict[str, Any] = {}
        for metric in metrics:
            values = [per_query[metric][q] for q in sorted(per_query[metric])]
            summary[metric] = distribution(values, fraction, seed=ctx.seed)
        seeds = self._across_seeds(ctx, ranker_name, metrics[0])
        if seeds:
            summary["across_seeds"] = seeds
        return {"summary": summary}

    @staticmethod
    def _across_seeds(ctx: TaskContext, ranker_name: str, metric: str) -> dict[str, float] | None:
        """Variance of mean effectiveness across the rankers of this ranker's seed group."""
        for group, members in (ctx.params.get("seed_groups") or {}).items():
            if ranker_name not in members:
                continue
            absent = [m for m in members if m not in ctx.results]
            if absent:
                raise ConfigError(f"iid seed group {group!r} names rankers without results: {absent}")
            means = np.array([ctx.results[m].effectiveness[metric] for m in members])
            return {"group": group, "n_seeds": len(members), f"{metric}_mean": float(means.mean()), f"{metric}_std": float(means.std()), f"{metric}_var": float(means.var())}
        return None

    def headline(self, figures: Mapping[str, Any]) -> tuple[str, float]:
        first = next(iter(figures["summary"].values()))
        return "nDCG@10 std (lower=steadier)", first["std"]
