"""What a robustness task receives and returns.

A task is a small object built from its spec parameters (its constructor's signature is what a
spec may set; robustness.registry checks it before anything runs), with a `name` and
`run(ctx, ranker_name) -> dict`. The context gives it everything the runner already computed
(collection, test queries, candidates, each ranker's in-domain run and per-query
effectiveness) and the means to score more (`ctx.engine(name)`, `ctx.rerank(...)`), so tasks
never touch models directly and never recompute the baseline.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

from robustness.data.candidates import Candidates
from robustness.data.collection import Collection, Qrels
from robustness.engine import RunDict, ScoringEngine
from robustness.rankers.base import Ranker


class Task(Protocol):
    name: str

    def run(self, ctx: "TaskContext", ranker_name: str) -> dict[str, Any]: ...

    def headline(self, figures: Mapping[str, Any]) -> tuple[str, float] | None:
        """(label, value) summarising this task for one ranker in the robustness profile."""
        ...


@dataclass
class RankerResult:
    """A ranker's in-domain re-ranking: the run, per-query effectiveness and their means."""

    run: RunDict
    per_query: dict[str, dict[str, float]]
    effectiveness: dict[str, float]


@dataclass
class TaskContext:
    collection: Collection
    queries: dict[str, str]
    qrels: Qrels
    candidates: Candidates
    rankers: dict[str, Ranker]
    results: dict[str, RankerResult]
    seed: int
    reference: str
    metrics: list[str]
    significance: str = "student"
    engine_factory: Callable[[Ranker], ScoringEngine] | None = None
    candidates_k: int = 100
    progress: bool = True
    device: str = "auto"
    relevance_threshold: int = 1
    _engines: dict[str, ScoringEngine] = field(default_factory=dict)

    def engine(self, ranker_name: str) -> ScoringEngine:
        """The one engine (and cache) of a ranker, shared by the baseline and every task."""
        if ranker_name not in self._engines:
            ranker = self.rankers[ranker_name]
            self._engines[ranker_name] = self.engine_factory(ranker) if self.engine_factory else ScoringEngine(ranker)
        return self._engines[ranker_name]

    def rng(self, *salt: object) -> random.Random:
        """A random stream determined by the run seed and `salt` (task, ranker, query...)."""
        return random.Random(f"{self.seed}|" + "|".join(map(str, salt)))

    def evaluate(self, qrels: Qrels, run: RunDict, metrics: list[str] | None = None) -> dict[str, dict[str, float]]:
        """Per-query effectiveness on the in-domain collection (its relevance threshold applied)."""
        from robustness.metrics import per_query

        return per_query(qrels, run, metrics or self.metrics, self.relevance_threshold)

    def rerank(self, ranker_name: str, queries: Mapping[str, str], candidates: Candidates, docs: Mapping[str, str], desc: str | None = None) -> RunDict:
        """Score every (query, candidate) pair in one engine call; returns a ranx-style run."""
        return self.engine(ranker_name).rerank(queries, candidates, docs, desc=desc)
