"""One registry for every pluggable kind of component, built-in or out of tree.

Every kind has an entry-point group. The suite registers its own rankers, tasks, attacks,
certifiers, detectors, synonym sources and query variations in its `pyproject.toml` exactly as
a plug-in package would, so there is one way to add a component and the core never imports
`robustness.attacks` or `robustness.defenses`: it finds them by name.

A name is an entry-point name (`prada`, `minilm`) or a direct reference `package.module:Object`
or `path/to/file.py:Object`. Lookup is lazy: only the module of the component asked for is
imported, and built-in modules import no torch at import time, so `robustness list` is instant.

Parameters are checked against the component's signature before anything runs: an unknown
parameter, a missing required one or a value of the wrong type is one `ConfigError` line that
names where it came from and lists the valid parameters.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import sys
import typing
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable, Mapping

from robustness.errors import ConfigError

KINDS: dict[str, str] = {
    "ranker": "robustness.rankers",
    "task": "robustness.tasks",
    "attack": "robustness.attacks",
    "certifier": "robustness.certifiers",
    "detector": "robustness.detectors",
    "synonym_source": "robustness.synonym_sources",
    "query_variation": "robustness.query_variations",
}
"""Kind -> entry-point group."""

# Arguments the suite itself passes to a component of a kind; they are not spec parameters.
_SUPPLIED: dict[str, frozenset[str]] = {
    "query_variation": frozenset({"query", "rng", "protected", "source"}),  # source: the task's synonym source
}


def _group(kind: str) -> str:
    if kind not in KINDS:
        raise ConfigError(f"unknown component kind {kind!r} (kinds: {', '.join(KINDS)})")
    return KINDS[kind]


@functools.lru_cache(maxsize=64)
def _entry_points(group: str, search_path: tuple[str, ...]) -> tuple[Any, ...]:
    """Installed entry points of a group; scanning installed distributions is slow, so it is
    done once per group and `sys.path` (a package installed later changes the path)."""
    return tuple(entry_points(group=group))


def _registered(kind: str) -> tuple[Any, ...]:
    return _entry_points(_group(kind), tuple(sys.path))


def names(kind: str) -> list[str]:
    """Registered names of a kind, sorted (installed entry points; nothing is imported)."""
    return sorted({ep.name for ep in _registered(kind)})


def _import_reference(kind: str, reference: str) -> Any:
    """Import `package.module:Object` or `path/to/file.py:Object` (one-line errors)."""
    module_part, _, attr = reference.rpartition(":")
    if not module_part or not attr:
        raise ConfigError(f"{kind} reference {reference!r} is not of the form module:Object")
    try:
        if module_part.endswith(".py"):
            path = Path(module_part)
            if not path.is_file():
                raise ConfigError(f"{kind} file {module_part!r} does not exist")
            module_name = f"robustness_plugin_{path.stem}"  # never shadows a real module
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        else:
            module = _import_beside_cwd(module_part)
    except ConfigError:
        raise
    except Exception as exc:  # ImportError, or anything the user's module raises while it runs
        raise ConfigError(f"cannot import {kind} module {module_part!r}: {type(exc).__name__}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"module {module_part!r} has no attribute {attr!r}") from None


def _import_beside_cwd(module_name: str) -> Any:
    """Import a user's module that may sit next to their spec (the working directory), with the
    working directory on `sys.path` only for this import: left there, a `ranx.py` in it would
    later shadow the real package."""
    cwd = str(Path.cwd())
    added = "" not in sys.path and cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module_name)
    finally:
        if added:
            sys.path.remove(cwd)


def resolve(kind: str, name: str) -> Any:
    """The class or function registered as `name` (or referenced by `module:Object`)."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"a {kind} name must be a non-empty string, got {name!r}")
    if ":" in name:
        return _import_reference(kind, name)
    matches = [ep for ep in _registered(kind) if ep.name == name]
    if not matches:
        raise ConfigError(f"unknown {kind.replace('_', ' ')} {name!r} (known: {', '.join(names(kind))}; or give module:Object)")
    try:
        return matches[0].load()
    except Exception as exc:  # a broken plug-in must not bring the run down with a traceback
        raise ConfigError(f"{kind} {name!r} ({matches[0].value}) cannot be loaded: {type(exc).__name__}: {exc}") from None


# -- parameters ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Parameter:
    name: str
    annotation: str
    default: Any  # inspect.Parameter.empty when required

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    def __str__(self) -> str:
        default = "" if self.required else f"={self.default!r}"
        return f"{self.name}: {self.annotation}{default}"


def _callable_of(obj: Any) -> Callable[..., Any]:
    return obj.__init__ if inspect.isclass(obj) else obj


def _hints(obj: Any) -> dict[str, Any]:
    """Resolved annotations of the constructor/function; names that do not resolve (imports
    kept under TYPE_CHECKING) count as Any, one by one."""
    function = _callable_of(obj)
    try:
        return typing.get_type_hints(function)
    except Exception:
        pass
    namespace = dict(getattr(inspect.unwrap(function), "__globals__", {}))
    hints: dict[str, Any] = {}
    for key, annotation in getattr(function, "__annotations__", {}).items():
        try:
            hints[key] = eval(annotation, namespace) if isinstance(annotation, str) else annotation
        except Exception:
            hints[key] = Any
    return hints


def parameters(kind: str, obj: Any) -> tuple[list[Parameter], bool]:
    """The spec parameters of a component and whether it also takes arbitrary `**kwargs`."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return [], True
    supplied = _SUPPLIED.get(kind, frozenset())
    out: list[Parameter] = []
    open_ended = False
    for p in signature.parameters.values():
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            open_ended = True
        elif p.kind is not inspect.Parameter.VAR_POSITIONAL and p.name not in supplied:
            annotation = "Any" if p.annotation is inspect.Parameter.empty else str(p.annotation)
            out.append(Parameter(p.name, annotation.replace("typing.", ""), p.default))
    return out, open_ended


def summary(obj: Any) -> str:
    """The component's one-line description: the first sentence of its docstring's first paragraph."""
    paragraph = (inspect.getdoc(obj) or "").strip().split("\n\n")[0]
    line = " ".join(paragraph.split())
    end = line.find(". ")
    return line[: end + 1] if end >= 0 else line


def check_params(kind: str, name: str, params: Mapping[str, Any], where: str | None = None) -> dict[str, Any]:
    """Validate `params` against the component's signature; return them with values coerced to
    the annotated types (`"5"` for an int stays an error in the spec's YAML, `5` for a float
    becomes `5.0`). One `ConfigError` line on an unknown, missing or mistyped parameter."""
    from pydantic import ConfigDict, ValidationError, create_model

    where = where or f"{kind} {name}"
    obj = resolve(kind, name)
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where}: params must be a mapping, got {type(params).__name__}")
    declared, open_ended = parameters(kind, obj)
    valid = ", ".join(p.name for p in declared) or "none"
    unknown = sorted(set(params) - {p.name for p in declared})
    if unknown and not open_ended:
        raise ConfigError(f"{where}: unknown parameter(s) {', '.join(unknown)} for {kind} {name!r} (valid: {valid})")
    hints = _hints(obj)
    fields = {p.name: (hints.get(p.name, Any), ... if p.required else p.default) for p in declared}
    model = create_model(  # type: ignore[call-overload]
        f"{kind}_{name}_params".replace("-", "_").replace(":", "_").replace(".", "_"),
        __config__=ConfigDict(extra="allow", arbitrary_types_allowed=True),
        **fields,
    )
    try:
        validated = model.model_validate(dict(params))
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        got = error.get("input")
        shown = "" if error["type"] == "missing" else f" (got {got!r})"
        raise ConfigError(f"{where}.{field}: {error['msg']}{shown} (parameters of {kind} {name!r}: {valid})") from None
    return {key: getattr(validated, key) if key in fields else value for key, value in params.items()}


def make(kind: str, name: str, params: Mapping[str, Any] | None = None, where: str | None = None) -> Any:
    """Check `params`, then build the component (call the class or factory with them)."""
    checked = check_params(kind, name, params or {}, where)
    obj = resolve(kind, name)
    try:
        return obj(**checked)
    except TypeError as exc:
        raise ConfigError(f"{where or f'{kind} {name}'}: cannot build {kind} {name!r}: {exc}") from None


def describe(kind: str) -> dict[str, tuple[str, list[Parameter]]]:
    """name -> (one-line description, parameters) of every registered component of a kind.

    Imports each component's module (built-ins are cheap to import); one that cannot be loaded
    is listed with its error instead of stopping the listing."""
    out: dict[str, tuple[str, list[Parameter]]] = {}
    for name in names(kind):
        try:
            obj = resolve(kind, name)
        except ConfigError as exc:
            out[name] = (f"(cannot be loaded: {exc})", [])
            continue
        out[name] = (summary(obj), parameters(kind, obj)[0])
    return out
