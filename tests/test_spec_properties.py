"""Property tests for benchmark specs: whatever bytes, YAML or overrides a user gives, loading a
spec returns a valid spec or raises a one-line `ConfigError` — never another exception."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robustness.config import BenchmarkSpec, load_spec
from robustness.errors import ConfigError

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True), st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=12)
fields = st.sampled_from(["name", "seed", "dataset", "split", "max_queries", "candidates_k", "rankers", "tasks", "metrics", "relevance_threshold", "significance", "output_dir", "cache", "device", "bogus"])


def _loads_or_refuses(call) -> None:
    try:
        spec = call()
    except ConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message, repr(message)
        return
    assert isinstance(spec, BenchmarkSpec)


@SETTINGS
@given(st.binary(max_size=300))
def test_any_spec_file_bytes(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(content)
    _loads_or_refuses(lambda: load_spec(path))


@SETTINGS
@given(st.dictionaries(fields, values, max_size=6))
def test_any_spec_mapping(data: dict) -> None:
    _loads_or_refuses(lambda: load_spec(data=data))


@SETTINGS
@given(st.lists(st.text(max_size=40), max_size=4))
def test_any_overrides(overrides: list[str]) -> None:
    _loads_or_refuses(lambda: load_spec(data={}, overrides=overrides))
