"""Run a benchmark spec end to end: checks -> rankers -> candidates -> re-ranking -> tasks -> reports.

1. Everything that can be checked without running a model is checked first (`check_spec`):
   the device, the metric names, every ranker's type, parameters and interface, every task's
   parameters (and those of the attacks, certifiers and detectors it will build). A bad spec
   is one `ConfigError` line before any work.
2. Results are written after every ranker and every task cell, and every score goes through
   the ScoringEngine's on-disk store, so a crash loses nothing and a re-run resumes.
3. A ranker or task that fails — with a `RobustnessError` or with any exception raised by a
   user's code — is recorded against that ranker with a one-line message (tracebacks of
   unexpected exceptions go to `errors.log` in the results directory); the others still run
   and report, and the run's errors make the CLI exit non-zero.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from robustness.config import DEFAULT_SPEC, BenchmarkSpec, RankerSpec, load_spec
from robustness.errors import ConfigError, RankerError, RobustnessError

logger = logging.getLogger(__name__)


@dataclass
class BenchmarkResults:
    """The content of results.json plus where it was written."""

    data: dict[str, Any]
    output_dir: Path
    errors: list[str] = field(default_factory=list)

    def effectiveness(self, ranker: str) -> dict[str, float]:
        """Mean effectiveness of a ranker; a one-line error if it failed or is unknown."""
        entry = self.data["rankers"].get(ranker)
        if entry is None:
            raise RobustnessError(f"no ranker {ranker!r} in these results (rankers: {', '.join(self.data['rankers'])})")
        if "error" in entry:
            raise RobustnessError(f"ranker {ranker!r} failed in this run: {entry['error']}")
        return entry["effectiveness"]


def _as_spec(spec: BenchmarkSpec | Mapping[str, Any] | str | Path | None, overrides: Sequence[str]) -> BenchmarkSpec:
    if isinstance(spec, BenchmarkSpec):
        return load_spec(data=spec.model_dump(), overrides=overrides) if overrides else spec
    if isinstance(spec, Mapping):
        return load_spec(data=dict(spec), overrides=overrides)
    return load_spec(DEFAULT_SPEC if spec is None else spec, overrides)


def _ranker_specs(spec: BenchmarkSpec, extra: Sequence[Any]) -> list[RankerSpec]:
    """The spec's rankers with the reference (BM25, the paper's baseline) always present."""
    specs = list(spec.rankers)
    if not any(r.label == spec.reference for r in specs) and not any(getattr(r, "name", None) == spec.reference for r in extra):
        specs.insert(0, RankerSpec(type=spec.reference))
    return specs


def _ranker_params(spec: RankerSpec, device: str, where: str) -> dict[str, Any]:
    """The checked parameters of a ranker spec, with the run's device for rankers that take one."""
    from robustness.registry import check_params, parameters, resolve

    factory = resolve("ranker", spec.type)
    if isinstance(factory, type) and not callable(getattr(factory, "score", None)):  # before any model loads
        raise RankerError(f"ranker {spec.type!r} has no 'score': it does not implement the Ranker interface (name, score)")
    params = dict(spec.params)
    declared, open_ended = parameters("ranker", factory)
    if open_ended or "device" in {p.name for p in declared}:
        params.setdefault("device", device)
    return check_params("ranker", spec.type, params, where=f"{where}.params")


def build_ranker(spec: RankerSpec, device: str = "auto", where: str = "ranker") -> Any:
    """A ranker from its spec: registry lookup, checked params, the run's device for rankers
    that take one, the spec's `name`, and the interface check."""
    from robustness.rankers.base import check_interface
    from robustness.registry import make

    ranker = make("ranker", spec.type, _ranker_params(spec, device, where), where=f"{where}.params")
    check_interface(ranker, f"ranker {spec.type!r}")
    if spec.name is not None:
        ranker.name = spec.name
    return ranker


def check_spec(spec: BenchmarkSpec, extra: Sequence[Any] = ()) -> list[tuple[Any, Any]]:
    """Check everything that needs no model: device, metrics, rankers, tasks; return the
    (task spec, task) pairs, built (tasks are cheap objects that check their own parameters)."""
    from robustness.device import check_device
    from robustness.metrics import check_metrics
    from robustness.rankers.base import check_interface
    from robustness.registry import make

    check_device(spec.device)
    check_metrics(spec.metrics, where="spec field metrics")
    for i, ranker_spec in enumerate(_ranker_specs(spec, extra)):
        _ranker_params(ranker_spec, spec.device, f"rankers.{i}")
    for ranker in extra:
        check_interface(ranker, f"ranker object {ranker!r}")
    return [(t, make("task", t.name, t.params, where=f"tasks.{i}.params")) for i, t in enumerate(spec.tasks)]


def _drop_stopword_only(queries: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Queries with a content word, and the ids of those made only of stopwords ("what is
    the"): they match nothing specific and would lower every ranker's mean alike."""
    from robustness.text.tokenize import is_stopword, words

    dropped = sorted(q for q, text in queries.items() if all(is_stopword(w) for w in words(text)))
    return {q: t for q, t in queries.items() if q not in set(dropped)}, dropped


def _select_queries(queries: dict[str, str], limit: int | None, seed: int) -> list[str]:
    """All test queries, or a seeded sample of `limit` of them (kept in id order)."""
    import random

    ids = sorted(queries)
    if limit is None or limit >= len(ids):
        return ids
    return sorted(random.Random(f"{seed}|queries").sample(ids, limit))


def relevance_threshold(spec: BenchmarkSpec, source: str) -> int:
    """The grade from which a judgement counts as relevant for binary metrics (MRR, MAP, ...):
    the spec's `relevance_threshold`, else the collection's convention (2 for TREC Deep
    Learning, 1 otherwise). nDCG always uses every grade as its gain."""
    from robustness.metrics import default_relevance_threshold

    return spec.relevance_threshold if spec.relevance_threshold is not None else default_relevance_threshold(source)


class _Failures:
    """Records what failed: one line in results and on the terminal, tracebacks in errors.log."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer
        self.messages: list[str] = []

    def guard(self, where: str, record: Callable[[str], None], action: Callable[[], Any]) -> tuple[bool, Any]:
        """Run `action`; on failure record a one-line message under `where` and return (False, None)."""
        try:
            return True, action()
        except RobustnessError as exc:
            message = str(exc)
        except Exception as exc:  # a user's ranker or plug-in raised: record it, keep the run going
            log = self.writer.append_log(f"{where}\n{traceback.format_exc()}")
            message = f"{type(exc).__name__}: {exc} (traceback in {log})".replace("\n", " ")
        self.messages.append(f"{where}: {message}")
        record(message)
        return False, None


def _check_fingerprints(rankers: Mapping[str, Any], specs: Mapping[str, RankerSpec | None]) -> None:
    """Two rankers that report the same fingerprint share cached scores; unless they are
    configured identically, that would serve one ranker the other's scores."""
    seen: dict[str, str] = {}
    for name, ranker in rankers.items():
        method = getattr(ranker, "fingerprint", None)
        if not callable(method):
            continue
        fingerprint = method()
        other = seen.get(fingerprint)
        if other is not None:
            a, b = specs.get(other), specs.get(name)
            if a is None or b is None or (a.type, a.params) != (b.type, b.params):
                raise RankerError(
                    f"rankers {other!r} and {name!r} report the same fingerprint {fingerprint!r} but are configured "
                    "differently: fingerprint() must identify weights and configuration, or the score cache mixes them"
                )
        seen[fingerprint] = name


def _spot_check(name: str, ranker: Any, queries: Sequence[str], docs: Sequence[str]) -> None:
    """Warn when a ranker's scores change between calls or with batching, on a few pairs:
    cached scores and reruns would not reproduce (robustness.testing.check_ranker checks fully)."""
    import numpy as np

    together = np.asarray(ranker.score(list(queries), list(docs)), dtype=np.float64).reshape(-1)
    again = np.array([float(np.asarray(ranker.score([q], [d]), dtype=np.float64).reshape(-1)[0]) for q, d in zip(queries, docs)])
    if together.shape != again.shape:
        return  # the engine reports wrong shapes with its own error
    if not (np.isfinite(together).all() and np.isfinite(again).all()):
        return  # the engine reports non-finite scores with its own error
    gap = float(np.max(np.abs(together - again))) if together.size else 0.0
    scale = max(1.0, float(np.max(np.abs(together))) if together.size else 1.0)
    if gap > 1e-4 * scale:
        logger.warning(
            "ranker %r scores the same pairs differently across calls or batches (max |diff| %.3g): its results may not "
            "reproduce and cached scores may not match a rerun; check it with robustness.testing.check_ranker", name, gap,
        )


def run_benchmark(
    spec: BenchmarkSpec | Mapping[str, Any] | str | Path | None = None,
    rankers: Sequence[Any] = (),
    overrides: Sequence[str] = (),
    output_dir: str | Path | None = None,
    progress: bool = True,
) -> BenchmarkResults:
    """Run `spec` (a BenchmarkSpec, dict, or YAML path) with its rankers plus `rankers` objects.

    Returns the results and writes them (results.json, TREC runs, Markdown/LaTeX reports) to
    `output_dir` (default: the spec's `output_dir`, named by the spec's name and hash).
    """
    from robustness.cache import cache_dir
    from robustness.data import bm25_candidates, load_collection
    from robustness.engine import ScoreStore, ScoringEngine
    from robustness.metrics import mean_effectiveness, per_query
    from robustness.rankers.base import prepare_ranker
    from robustness.report.results import ResultsWriter
    from robustness.tasks import RankerResult, TaskContext

    spec = _as_spec(spec, overrides)
    tasks = check_spec(spec, rankers)
    out = Path(output_dir) if output_dir is not None else spec.results_dir()
    collection = load_collection(spec.dataset)
    split_queries, qrels = collection.split(spec.split)
    data_warnings = collection.warnings + collection.split_warnings(spec.split)
    split_queries, dropped = _drop_stopword_only(split_queries)
    if dropped:
        data_warnings.append(f"{len(dropped)} judged query(ies) of split {spec.split!r} hold only stopwords and were dropped (first: {dropped[0]!r})")
    if not split_queries:
        raise ConfigError(f"collection {collection.name!r} split {spec.split!r} has no usable query left: {'; '.join(data_warnings)}")
    qids = _select_queries(split_queries, spec.max_queries, spec.seed)
    queries = {q: split_queries[q] for q in qids}
    qrels = {q: qrels[q] for q in qids}
    threshold = relevance_threshold(spec, collection.source)
    writer = ResultsWriter(out, spec, collection, len(queries), threshold)
    writer.record_data_warnings(data_warnings)
    for warning in data_warnings:
        logger.warning("data: %s", warning)
    failures = _Failures(writer)

    ranker_objects: dict[str, Any] = {}
    ranker_specs: dict[str, RankerSpec | None] = {}
    for i, ranker_spec in enumerate(_ranker_specs(spec, rankers)):
        label = ranker_spec.label
        built, ranker = failures.guard(f"ranker {label}", lambda m, n=label: writer.record_ranker_error(n, m), lambda s=ranker_spec, i=i: build_ranker(s, spec.device, f"rankers.{i}"))
        if built:
            ranker_objects[_unique(ranker_objects, ranker.name)] = ranker
            ranker_specs[ranker.name] = ranker_spec
    for ranker in rankers:
        ranker_objects[_unique(ranker_objects, ranker.name)] = ranker
        ranker_specs[ranker.name] = None
    for task_spec, _ in tasks:
        unknown = sorted(set(task_spec.rankers or ()) - set(ranker_objects) - set(writer.data["rankers"]))
        if unknown:
            raise ConfigError(f"task {task_spec.name} names unknown ranker(s) {unknown} (rankers: {', '.join(ranker_objects)})")

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
        progress=progress, device=spec.device, relevance_threshold=threshold,
    )
    prepared: dict[str, Any] = {}
    for name, ranker in ranker_objects.items():
        if failures.guard(f"ranker {name}", lambda m, n=name: writer.record_ranker_error(n, m), lambda r=ranker: prepare_ranker(r, collection.docs))[0]:
            prepared[name] = ranker
    _check_fingerprints(prepared, ranker_specs)
    sample = [(queries[q], collection.docs[d]) for q in qids[:2] for d in candidates.get(q, [])[:2]]
    for name, ranker in prepared.items():
        started = time.perf_counter()

        def rerank(name: str = name, ranker: Any = ranker) -> Any:
            if sample:
                _spot_check(name, ranker, [q for q, _ in sample], [d for _, d in sample])
            ctx.rankers[name] = ranker
            return ctx.rerank(name, queries, candidates, collection.docs, desc=f"re-ranking with {name}")

        done, run = failures.guard(f"ranker {name}", lambda m, n=name: writer.record_ranker_error(n, m), rerank)
        if not done:
            ctx.rankers.pop(name, None)
            continue
        values = per_query(qrels, run, spec.metrics, threshold)
        ctx.results[name] = RankerResult(run=run, per_query=values, effectiveness=mean_effectiveness(values))
        writer.record_ranker(name, ranker, ctx.results[name], ctx.engine(name).stats, time.perf_counter() - started)

    writer.record_comparison(qrels, ctx.results, spec)
    for task_spec, task in tasks:
        for name in [n for n in ctx.results if task_spec.rankers is None or n in task_spec.rankers]:
            started = time.perf_counter()
            done, figures = failures.guard(
                f"task {task_spec.name} on {name}", lambda m, t=task_spec.name, n=name: writer.record_task_error(t, n, m),
                lambda t=task, n=name: t.run(ctx, n),
            )
            if done:
                writer.record_task(task_spec.name, name, figures, task.headline(figures), time.perf_counter() - started)
    writer.finish()
    if store is not None:
        store.close()
    return BenchmarkResults(data=writer.data, output_dir=out, errors=failures.messages)


def _unique(existing: Mapping[str, Any], name: str) -> str:
    if name in existing:
        raise ConfigError(f"two rankers are named {name!r}: give one a distinct name")
    return name
