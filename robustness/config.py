"""Benchmark specs: YAML files validated by pydantic, overridable with `--set key=value`.

A spec says what to run: which dataset and split, which rankers, which tasks with which
parameters, the seed, where results go. Every field has a default, so `robustness run` with
no spec runs benchmarks/specs/default.yaml's content.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from robustness.errors import ConfigError

DEFAULT_SPEC = Path(__file__).resolve().parent.parent / "benchmarks" / "specs" / "default.yaml"


def _expand_shorthands(data: dict[str, Any]) -> None:
    """`- bm25` -> `- {type: bm25}`, `- iid` -> `- {name: iid}`, so overrides can address items."""
    for name, key in (("rankers", "type"), ("tasks", "name")):
        if isinstance(data.get(name), list):
            data[name] = [{key: v} if isinstance(v, str) else v for v in data[name]]


class RankerSpec(BaseModel):
    """A ranker: `type` is a built-in name, an entry-point name or `module:Class`."""

    model_config = ConfigDict(extra="forbid")
    type: str
    name: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.name or str(self.params.get("name") or self.type)


class ComponentSpec(BaseModel):
    """A component a task builds by name (an attack, a certifier, a detector) and its params."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class TaskSpec(BaseModel):
    """A task; `rankers` restricts it to some rankers (default: all), e.g. costly attacks."""

    model_config = ConfigDict(extra="forbid")
    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    rankers: list[str] | None = None


class BenchmarkSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "benchmark"
    seed: int = 13
    dataset: str = "scifact"
    split: str = "test"
    max_queries: int | None = Field(default=None, ge=1)
    candidates_k: int = Field(default=100, ge=1, le=10_000)
    rankers: list[RankerSpec] = Field(default_factory=lambda: [RankerSpec(type="bm25"), RankerSpec(type="minilm")])
    reference: str = "bm25"
    tasks: list[TaskSpec] = Field(default_factory=list)
    metrics: list[str] = Field(default_factory=lambda: ["ndcg@10", "mrr@10", "map"])
    relevance_threshold: int | None = Field(default=None, ge=1)
    significance: str = "student"
    output_dir: str = "results/{name}-{hash}"
    cache: bool = True
    device: str = "auto"

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        """Allow `- bm25` for `- {type: bm25}` and `- iid` for `- {name: iid}`."""
        if isinstance(data, dict):
            data = dict(data)
            _expand_shorthands(data)
        return data

    @field_validator("significance")
    @classmethod
    def _known_test(cls, value: str) -> str:
        if value not in ("student", "fisher", "tukey", "wilcoxon"):
            raise ValueError("must be one of student, fisher, tukey, wilcoxon")
        return value

    def spec_hash(self) -> str:
        """Short hash of everything that decides the results (not where they go, nor caching):
        two runs of the same resolved spec share it, any other spec gets another."""
        decisive = self.model_dump(exclude={"output_dir", "cache"})
        return hashlib.sha256(json.dumps(decisive, sort_keys=True, default=str).encode()).hexdigest()[:8]

    def results_dir(self) -> Path:
        """`output_dir` with `{name}` and `{hash}` filled in (default `results/<name>-<hash>`)."""
        try:
            return Path(self.output_dir.format(name=self.name, hash=self.spec_hash()))
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"spec field output_dir {self.output_dir!r}: only {{name}} and {{hash}} can be filled in ({exc})") from None


def _parse_value(key: str, text: str) -> Any:
    """`--set` values are YAML scalars/lists: `5`, `true`, `[bm25, minilm]`, `scifact`."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"--set {key}={text}: the value is not valid YAML ({problem}); quote it to pass a string") from None


def _child(node: Any, part: str, key: str) -> Any:
    """Step from `node` into `part` (a mapping key or a list index), creating mappings as needed."""
    if isinstance(node, list):
        if not part.isdigit() or int(part) >= len(node):
            raise ConfigError(f"--set {key}: the list has no item {part!r}")
        return node[int(part)]
    if isinstance(node, dict):
        child = node.setdefault(part, {})
        if child is None:
            child = node[part] = {}
        return child
    raise ConfigError(f"--set {key}: cannot go below the plain value {node!r}")


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one `dotted.key=value`; list items are addressed by index (`tasks.0.params.k=5`)."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set {assignment!r} is not of the form key=value")
    _expand_shorthands(data)
    parts = key.split(".")
    node: Any = data
    for part in parts[:-1]:
        node = _child(node, part, key)
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise ConfigError(f"--set {key}: the list has no item {last!r}")
        node[int(last)] = _parse_value(key, raw)
    elif isinstance(node, dict):
        node[last] = _parse_value(key, raw)
    else:
        raise ConfigError(f"--set {key}: cannot go below the plain value {node!r}")


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """The YAML error's problem with its line and column (1-based), on one line."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    context = getattr(exc, "context", None)
    return f"{where}{problem}" + (f" ({context})" if context else "")


def load_spec(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (), data: dict[str, Any] | None = None) -> BenchmarkSpec:
    """Read a YAML spec (or a dict), apply `key=value` overrides, validate; one-line errors."""
    if data is None:
        data = {}
        if path is not None:
            path = Path(path)
            if not path.is_file():
                raise ConfigError(f"spec file not found: {path}")
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except UnicodeDecodeError as exc:
                raise ConfigError(f"spec {path} is not valid UTF-8 (byte {exc.start})") from None
            except yaml.YAMLError as exc:
                raise ConfigError(f"spec {path} is not valid YAML: {_yaml_problem(exc)}") from None
            if not isinstance(data, dict):
                raise ConfigError(f"spec {path} must be a mapping of fields")
    data = yaml.safe_load(yaml.safe_dump(data))  # a deep copy the overrides may edit
    for assignment in overrides:
        apply_override(data, assignment)
    try:
        return BenchmarkSpec.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "spec"
        raise ConfigError(f"spec field {where}: {error['msg']}") from None
