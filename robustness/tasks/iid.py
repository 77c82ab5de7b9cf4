"""Task 1 — I.I.D. performance variance (Wu et al., TOIS 2022, §robustness as performance variance).

On the in-domain test split a robust ranker is not only good on average: its per-query
effectiveness varies little and its worst queries stay usable. Figures per ranker and metric:
mean, standard deviation, variance, worst-10% mean, bootstrap 95% CIs. With `seed_groups`
(name -> rankers trained with different seeds) it also reports the variance across seeds.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from robustness.errors import ConfigError
from robustness.metrics import distribution
from robustness.tasks.base import TaskContext


class IIDTask:
    """1. I.I.D. performance variance on the in-domain test split.

    - `worst_fraction`: the floor is the mean of this share of the worst queries (0.1);
    - `metrics`: which of the spec's metrics get a distribution (nDCG@10, MRR@10);
    - `seed_groups`: name -> rankers trained with different seeds, for the across-seed variance.
    """

    name = "iid"

    def __init__(
        self,
        worst_fraction: float = 0.1,
        metrics: Sequence[str] = ("ndcg@10", "mrr@10"),
        seed_groups: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        if not 0 < worst_fraction <= 1:
            raise ConfigError(f"iid worst_fraction must be in (0, 1], got {worst_fraction}")
        if not metrics:
            raise ConfigError("iid metrics must name at least one metric")
        self.worst_fraction = worst_fraction
        self.metrics = list(metrics)
        self.seed_groups = {group: list(members) for group, members in (seed_groups or {}).items()}

    def run(self, ctx: TaskContext, ranker_name: str) -> dict[str, Any]:
        per_query = ctx.results[ranker_name].per_query
        missing = [m for m in self.metrics if m not in per_query]
        if missing:
            raise ConfigError(f"iid metrics {missing} are not among the spec's metrics {list(per_query)}")
        summary: dict[str, Any] = {}
        for metric in self.metrics:
            values = [per_query[metric][q] for q in sorted(per_query[metric])]
            summary[metric] = distribution(values, self.worst_fraction, seed=ctx.seed)
        seeds = self._across_seeds(ctx, ranker_name, self.metrics[0])
        if seeds:
            summary["across_seeds"] = seeds
        return {"summary": summary}

    def _across_seeds(self, ctx: TaskContext, ranker_name: str, metric: str) -> dict[str, float] | None:
        """Variance of mean effectiveness across the rankers of this ranker's seed group."""
        for group, members in self.seed_groups.items():
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
