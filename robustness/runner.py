"""Run a benchmark spec end to end: rankers -> candidates -> re-ranking -> tasks -> reports.

Results are written after every ranker and every task cell, and every score goes through the
ScoringEngine's on-disk store, so a crash loses nothing and a re-run resumes where it stopped.
A ranker that fails is recorded with its one-line error; the others still run and report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from robustness.config import DEFAULT_SPEC, BenchmarkSpec, RankerSpec, load_spec
from robustness.errors import ConfigError, RobustnessError

@dataclass
class BenchmarkResults:
    """The content of results.json plus where it was written."""

    data: dict[str, Any]
    output_dir: Path
    errors: list[str] = field(default_factory=list)

    def effectiveness(self, ranker: str) -> dict[str, float]:
        return self.data["rankers"][ranker]["effectiveness"]


def _as_spec(spec: BenchmarkSpec | Mapping[str, Any] | str | Path | None, overrides: Sequence[str]) -> BenchmarkSpec:
    if isinstance(spec, BenchmarkSpec):
        return load_spec(data=spec.model_dump(), overrides=overrides) if overrides else spec
    if isinstance(spec, Mapping):
        return load_spec(data=dict(spec), overrides=overrides)
    return load_spec(DEFAULT_SPEC if spec is None else spec, overrides)


def build_ranker(spec: RankerSpec, device: str = "auto", where: str = "ranker") -> Any:
    """A ranker from its spec: registry lookup, checked params, the run's device for rankers
    that take one, the spec's `name`, and the interface check."""
    from robustness.rankers.base import check_interface
    from robustness.registry import make, parameters, resolve

    params = dict(spec.params)
    declared, open_ended = parameters("ranker", resolve("ranker", spec.type))
    if open_ended or "device" in {p.name for p in declared}:
        params.setdefault("device", device)
    ranker = make("ranker", spec.type, params, where=f"{where}.params")
    check_interface(ranker, f"ranker {spec.type!r}")
    if spec.name is not None:
        ranker.name = spec.name
    return ranker


def _build_rankers(spec: BenchmarkSpec, extra: Sequence[Any]) -> dict[str, Any]:
    from robustness.rankers.base import check_interface

    specs = list(spec.rankers)
    if not any(r.label == spec.reference for r in specs) and not any(getattr(r, "name", None) == spec.reference for r in extra):
        specs.insert(0, RankerSpec(type=spec.reference))  # the paper's reference is always present
    rankers: dict[str, Any] = {}
    for i, ranker_spec in enumerate(specs):
        ranker = build_ranker(ranker_spec, spec.device, where=f"rankers.{i}")
        rankers[_unique(rankers, ranker.name)] = ranker
    for ranker in extra:
        check_interface(ranker, f"ranker object {ranker!r}")
        rankers[_unique(rankers, ranker.name)] = ranker
    return rankers


def _unique(existing: Mapping[str, Any], name: str) -> str:
    if name in existing:
        raise ConfigError(f"two rankers are named {name!r}: give one a distinct name")
    return name


def _select_queries(queries: dict[str, str], limit: int | None, seed: int) -> list[str]:
    """All test queries, or a seeded sample of `limit` of them (kept in id order)."""
    import random

    ids = sorted(queries)
    if limit is None or limit >= len(ids):
        return ids
    return sorted(random.Random(f"{seed}|queries").sample(ids, limit))


def run_benchmark(
    spec: BenchmarkSpec | Mapping[str, Any] | str | Path | None = None,
    rankers: Sequence[Any] = (),
    overrides: Sequence[str] = (),
    output_dir: str | Path | None = None,
    progress: bool = True,
) -> BenchmarkResults:
    """Run `spec` (a BenchmarkSpec, dict, or YAML path) with its rankers plus `rankers` objects.

    Returns the results and writes them (results.json, TREC runs, Markdown/LaTeX reports) to
    `output_dir` (default: the spec's `output_dir`).
    """
    from robustness.cache import cache_dir
    from robustness.data import bm25_candidates, load_collection
    from robustness.engine import ScoreStore, ScoringEngine
    from robustness.metrics import mean_effectiveness, per_query
    from robustness.rankers.base import prepare_ranker
    from robustness.registry import make
    from robustness.report.results import ResultsWriter
    from robustness.tasks import RankerResult, TaskContext

    spec = _as_spec(spec, overrides)
    # Tasks check their parameters (and those of the attacks they will build) before any work.
    tasks = [(t, make("task", t.name, t.params, where=f"tasks.{i}.params")) for i, t in enumerate(spec.tasks)]
    out = Path(output_dir) if output_dir is not None else spec.results_dir()
    collection = load_collection(spec.dataset)
    split_queries, qrels = collection.split(spec.split)
    qids = _select_queries(split_queries, spec.max_queries, spec.seed)
    queries = {q: split_queries[q] for q in qids}
    qrels = {q: qrels[q] for q in qids}
    ranker_objects = _build_rankers(spec, rankers)
    for task_spec, _ in tasks:
        unknown = sorted(set(task_spec.rankers or ()) - set(ranker_objects))
        if unknown:
            raise ConfigError(f"task {task_spec.name} names unknown ranker(s) {unknown} (rankers: {', '.join(ranker_objects)})")
    writer = ResultsWriter(out, spec, collection, len(queries))

    started = time.perf_counter()
    candidates = bm25_candidates(collection, queries, spec.candidates_k)
    writer.record_stage("candidates", time.perf_counter() - started)
    store = ScoreStore(cache_dir() / "scores.sqlite") if spec.cache else None

    def engine_factory(ranker: Any) -> ScoringEngine:
        return ScoringEngine(ranker, store=store, progress=progress)

    ctx = TaskContext(
        collection=collection, queries=queries, qrels=qrels, candidates=candidates,
        rankers={}, results={}, seed=spec.seed, reference=spec.reference, metrics=list(spec.metrics),
        significance=spec.significance, engine_factory=engine_factory, candidates_k=spec.candidates_k,
        progress=progress, device=spec.device,
    )
    errors: list[str] = []
    for name, ranker in ranker_objects.items():
        started = time.perf_counter()
        try:
            prepare_ranker(ranker, collection.docs)
            ctx.rankers[name] = ranker
            run = ctx.rerank(name, queries, candidates, collection.docs, desc=f"re-ranking with {name}")
        except RobustnessError as exc:
            ctx.rankers.pop(name, None)
            errors.append(str(exc))
            writer.record_ranker_error(name, str(exc))
            continue
        values = per_query(qrels, run, spec.metrics)
        ctx.results[name] = RankerResult(run=run, per_query=values, effectiveness=mean_effectiveness(values))
        writer.record_ranker(name, ranker, ctx.results[name], ctx.engine(name).stats, time.perf_counter() - started)

    writer.record_comparison(qrels, ctx.results, spec)
    for task_spec, task in tasks:
        for name in [n for n in ctx.results if task_spec.rankers is None or n in task_spec.rankers]:
            started = time.perf_counter()
            try:
                figures = task.run(ctx, name)
            except RobustnessError as exc:
                errors.append(f"task {task_spec.name} on {name}: {exc}")
                writer.record_task_error(task_spec.name, name, str(exc))
                continue
            writer.record_task(task_spec.name, name, figures, task.headline(figures), time.perf_counter() - started)
    writer.finish()
    if store is not None:
        store.close()
    return BenchmarkResults(data=writer.data, output_dir=out, errors=errors)
