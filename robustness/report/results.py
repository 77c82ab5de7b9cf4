"""The results directory, written as the run goes so that a crash loses nothing.

- results.json: every figure, per-query values, the resolved spec, seed, package versions,
  model and data fingerprints, errors;
- runs/<ranker>.trec: each ranker's re-ranked run;
- report.md / report.tex: the ranx significance comparison, the robustness profile and each
  task's figures.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

from robustness.config import BenchmarkSpec
from robustness.errors import ConfigError, RobustnessError
from robustness.data.collection import Collection, Qrels
from robustness.data.formats import write_trec_run
from robustness.report.markdown import render_markdown
from robustness.report.significance import compare_runs

PACKAGES = ("ranking-robustness", "torch", "transformers", "ranx", "bm25s", "numpy", "pandas", "ir_datasets", "nltk", "textattack")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def write_json_atomic(path: Path, data: Any) -> None:
    """Write via a temp file + rename, so an interrupted write never leaves a truncated file.

    The file gets the permissions of any file the user creates (mkstemp's 0600 would hide a
    shared results directory's figures from the rest of the team)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=1, sort_keys=False, default=float)
    os.chmod(temp, 0o666 & ~_umask())
    os.replace(temp, path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _claim(out: Path, spec: BenchmarkSpec) -> None:
    """Make sure `out` is a writable directory that holds no other spec's results: a run
    resumes its own results directory but never overwrites another run's."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"results directory {out} is not writable ({exc.strerror or exc}): choose another with --output") from None
    existing = out / "results.json"
    if existing.is_file():
        try:
            previous = json.loads(existing.read_text(encoding="utf-8")).get("spec_hash")
        except (OSError, ValueError, AttributeError):
            previous = "unreadable"
        if previous != spec.spec_hash():
            raise ConfigError(
                f"results directory {out} holds the results of another spec (hash {previous}, this one {spec.spec_hash()}): "
                "choose another with --output, or move it aside"
            )


class ResultsWriter:
    """Accumulates a run's figures in `data` and rewrites results.json after every step."""

    def __init__(self, out: Path, spec: BenchmarkSpec, collection: Collection, n_queries: int, relevance_threshold: int = 1):
        _claim(out, spec)
        self.out = out
        self.spec = spec
        self.docs = collection.docs  # the originals of attacked documents, for the report's examples
        self.data: dict[str, Any] = {
            "name": spec.name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seed": spec.seed,
            "spec_hash": spec.spec_hash(),
            "spec": spec.model_dump(),
            "versions": package_versions(),
            "dataset": {
                "name": collection.name,
                "source": collection.source,
                "fingerprint": collection.fingerprint(),
                "split": spec.split,
                "n_queries": n_queries,
                "n_docs": len(collection.docs),
                "candidates_k": spec.candidates_k,
                "relevance_threshold": relevance_threshold,
            },
            "data_warnings": [],
            "stages": {},
            "rankers": {},
            "comparison": None,
            "tasks": {},
            "profile": {},
            "errors": [],
        }
        self.save()

    def save(self) -> None:
        try:
            write_json_atomic(self.out / "results.json", self.data)
        except OSError as exc:
            raise RobustnessError(f"cannot write {self.out / 'results.json'} ({exc.strerror or exc}); the results so far are in the previous version of that file") from None

    def record_stage(self, stage: str, seconds: float) -> None:
        self.data["stages"][stage] = {"seconds": round(seconds, 3)}
        self.save()

    def record_ranker(self, name: str, ranker: Any, result: Any, engine_stats: Any, seconds: float) -> None:
        self.data["rankers"][name] = {
            "fingerprint": ranker.fingerprint() if callable(getattr(ranker, "fingerprint", None)) else None,
            "model": getattr(ranker, "model_id", None),
            "class": f"{type(ranker).__module__}.{type(ranker).__qualname__}",
            "effectiveness": result.effectiveness,
            "per_query": result.per_query,
            "seconds": round(seconds, 3),
            "engine": asdict(engine_stats),
        }
        write_trec_run(self.out / "runs" / f"{name}.trec", result.run, tag=name)
        self.save()

    def record_ranker_error(self, name: str, message: str) -> None:
        self.data["rankers"][name] = {"error": message}
        self.data["errors"].append(f"ranker {name}: {message}")
        self.save()

    def record_data_warnings(self, warnings: list[str]) -> None:
        self.data["data_warnings"] = list(warnings)
        self.save()

    def append_log(self, text: str) -> Path:
        """Append to errors.log (tracebacks of unexpected failures); returns its path."""
        path = self.out / "errors.log"
        with path.open("a", encoding="utf-8") as handle:
            handle.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S%z')} {text}\n")
        return path

    def record_comparison(self, qrels: Qrels, results: Mapping[str, Any], spec: BenchmarkSpec) -> None:
        if not results:
            return
        threshold = self.data["dataset"]["relevance_threshold"]
        report, latex = compare_runs(qrels, {n: r.run for n, r in results.items()}, list(spec.metrics), spec.significance, seed=spec.seed, relevance_threshold=threshold)
        self.data["comparison"] = report
        (self.out / "report.tex").write_text(latex, encoding="utf-8")
        self.save()

    def record_task(self, task: str, ranker: str, figures: dict[str, Any], headline: tuple[str, float] | None, seconds: float) -> None:
        self.data["tasks"].setdefault(task, {})[ranker] = {**figures, "seconds": round(seconds, 3)}
        if headline is not None:
            label, value = headline
            self.data["profile"].setdefault(ranker, {})[task] = {"label": label, "value": value}
        self.save()

    def record_task_error(self, task: str, ranker: str, message: str) -> None:
        self.data["tasks"].setdefault(task, {})[ranker] = {"error": message}
        self.data["errors"].append(f"task {task} on {ranker}: {message}")
        self.save()

    def finish(self) -> None:
        self.data["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.save()
        (self.out / "report.md").write_text(render_markdown(self.data, self.docs), encoding="utf-8")
