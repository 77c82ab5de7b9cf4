"""Benchmark specs (YAML + --set overrides, one-line errors) and the command line."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from robustness.cli import main
from robustness.config import DEFAULT_SPEC, BenchmarkSpec, load_spec
from robustness.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


# -- specs -----------------------------------------------------------------------------------
def test_defaults() -> None:
    spec = load_spec()
    assert isinstance(spec, BenchmarkSpec)
    assert spec.dataset == "scifact" and spec.split == "test"
    assert spec.seed == 13 and spec.max_queries is None and spec.candidates_k == 100
    assert [r.type for r in spec.rankers] == ["bm25", "minilm"]
    assert spec.reference == "bm25" and spec.tasks == []
    assert spec.metrics == ["ndcg@10", "mrr@10", "map"]
    assert spec.significance == "student" and spec.cache is True
    assert spec.results_dir() == Path(f"results/benchmark-{spec.spec_hash()}")
    assert load_spec(overrides=["max_queries=20"]).spec_hash() != spec.spec_hash()  # another spec, another directory
    assert load_spec(overrides=["cache=false"]).spec_hash() == spec.spec_hash()  # caching changes no figure


def test_default_spec_file() -> None:
    spec = load_spec(DEFAULT_SPEC)
    raw = yaml.safe_load(DEFAULT_SPEC.read_text())
    assert spec.name == raw["name"] == "default"
    assert [r.type for r in spec.rankers] == [r if isinstance(r, str) else r["type"] for r in raw["rankers"]]
    assert [t.name for t in spec.tasks] == [t if isinstance(t, str) else t["name"] for t in raw.get("tasks") or []]
    assert "bm25" in [r.type for r in spec.rankers]  # the paper's reference
    assert spec.results_dir() == Path(f"results/default-{spec.spec_hash()}")


@pytest.fixture
def spec_file(tmp_path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(
        "name: mine\n"
        "dataset: cranfield\n"
        "rankers:\n  - bm25\n  - {type: minilm, params: {max_length: 64}}\n"
        "tasks:\n  - iid\n  - {name: adv_spam, params: {max_queries: 5}}\n",
        encoding="utf-8",
    )
    return path


def test_spec_file_and_shorthands(spec_file) -> None:
    spec = load_spec(spec_file)
    assert spec.name == "mine" and spec.dataset == "cranfield"
    assert [(r.type, r.params) for r in spec.rankers] == [("bm25", {}), ("minilm", {"max_length": 64})]
    assert [(t.name, t.params) for t in spec.tasks] == [("iid", {}), ("adv_spam", {"max_queries": 5})]
    assert spec.rankers[1].label == "minilm"


def test_set_overrides_scalars_lists_and_nested_params(spec_file) -> None:
    spec = load_spec(
        spec_file,
        [
            "max_queries=8",
            "cache=false",
            "seed=7",
            "metrics=[ndcg@10, map]",
            "tasks.0.params.worst_fraction=0.2",  # a shorthand entry, addressed by index
            "tasks.1.params.max_queries=3",
            "rankers.1.params.max_length=32",
            "rankers.0.name=lexical",
        ],
    )
    assert spec.max_queries == 8 and isinstance(spec.max_queries, int)
    assert spec.cache is False and spec.seed == 7
    assert spec.metrics == ["ndcg@10", "map"]
    assert spec.tasks[0].params == {"worst_fraction": 0.2}
    assert spec.tasks[1].params == {"max_queries": 3}
    assert spec.rankers[1].params == {"max_length": 32}
    assert spec.rankers[0].label == "lexical"
    assert load_spec(spec_file).tasks[1].params == {"max_queries": 5}  # the file is untouched


def test_set_replaces_whole_lists() -> None:
    spec = load_spec(overrides=["rankers=[bm25]", "tasks=[iid, adv_spam]"])
    assert [r.type for r in spec.rankers] == ["bm25"]
    assert [t.name for t in spec.tasks] == ["iid", "adv_spam"]


def test_set_can_address_shorthands_it_created() -> None:
    spec = load_spec(overrides=["tasks=[iid, adv_spam]", "tasks.1.params.max_queries=3"])
    assert spec.tasks[1].params == {"max_queries": 3}


def test_set_below_a_scalar_is_a_config_error(tmp_path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("seed: 13\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_spec(path, ["seed.x=1"])


@pytest.mark.parametrize(
    "overrides, field",
    [
        (["colour=blue"], "colour"),
        (["seed=abc"], "seed"),
        (["max_queries=0"], "max_queries"),
        (["candidates_k=-5"], "candidates_k"),
        (["significance=bonferroni"], "significance"),
        (["rankers=[{kind: bm25}]"], "rankers.0"),
        (["tasks.0.params.k=1"], "tasks"),
        (["max_queries"], "max_queries"),
    ],
)
def test_bad_fields_are_one_line_config_errors(overrides, field) -> None:
    with pytest.raises(ConfigError) as info:
        load_spec(overrides=overrides)
    message = str(info.value)
    assert "\n" not in message
    assert field in message


def test_bad_field_in_a_file(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nmax_queries: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"spec field max_queries: .*greater than or equal to 1"):
        load_spec(path)


def test_missing_spec_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="spec file not found") as info:
        load_spec(tmp_path / "nope.yaml")
    assert str(tmp_path / "nope.yaml") in str(info.value)


@pytest.mark.parametrize("content, fragment", [("name: [unclosed\nseed: 1\n", "not valid YAML"), ("- just\n- a list\n", "must be a mapping")])
def test_invalid_yaml(tmp_path, content, fragment) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    assert fragment in str(info.value) and str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_empty_yaml_is_all_defaults(tmp_path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing\n", encoding="utf-8")
    assert load_spec(path) == load_spec()


# -- command line ------------------------------------------------------------------------------
def test_help() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "run" in result.output and "list" in result.output
    result = CliRunner().invoke(main, ["run", "--help"])
    assert result.exit_code == 0
    for option in ("--set", "--ranker", "--output", "--no-progress"):
        assert option in result.output


def test_cli_module_does_not_import_torch() -> None:
    code = "import robustness.cli, sys; print('torch' in sys.modules, 'transformers' in sys.modules, 'ranx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["False", "False", "False"]


def test_list_names_every_kind_of_component() -> None:
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    sections = {line.rstrip(":"): i for i, line in enumerate(lines) if not line.startswith(" ")}
    assert list(sections) == ["datasets", "rankers", "tasks", "attacks", "certifiers", "detectors", "synonym_sources", "query_variations"]
    names = [line.split()[0] for line in lines if line.startswith("  ")]
    for name in ("bm25", "minilm", "cross-encoder", "scifact", "vaswani", "cranfield", "iid", "adv_spam", "ood_domain", "prada", "combined", "typo_swap"):
        assert name in names
    def section_of(name: str) -> str:
        index = next(i for i, line in enumerate(lines) if line.split()[:1] == [name] and line.startswith("  "))
        return max((title for title, start in sections.items() if start < index), key=sections.get)

    assert section_of("bm25") == "rankers"
    assert section_of("cranfield") == "datasets"
    assert section_of("iid") == "tasks"
    assert section_of("prada") == "attacks"


def test_list_one_kind_with_parameters() -> None:
    result = CliRunner().invoke(main, ["list", "attacks", "--params"])
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == "attacks:"
    assert "params: budget: int=20" in result.output and "rankers:" not in result.output


def test_run_with_an_unknown_ranker_exits_2(tmp_path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("dataset: cranfield\nrankers: [bm25]\nmax_queries: 2\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(spec), "--ranker", "no-such-ranker-xyz", "--output", str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ") and "'no-such-ranker-xyz'" in lines[0]
    assert "Traceback" not in result.output


def test_run_with_a_bad_override_exits_2(tmp_path) -> None:
    result = CliRunner().invoke(main, ["run", "--set", "max_queries=0", "--output", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error: spec field max_queries")
    assert not (tmp_path / "out").exists()


def test_run_with_a_missing_spec_exits_2(tmp_path) -> None:
    result = CliRunner().invoke(main, ["run", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: spec file not found")


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "benchmarks" / "specs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_specs_name_known_rankers_tasks_and_valid_attacks(path) -> None:
    """A typo in a shipped spec must fail here, not an hour into a benchmark run."""
    from robustness.registry import check_params, make, names

    spec = load_spec(path)
    assert {r.type for r in spec.rankers} <= set(names("ranker"))
    for i, ranker in enumerate(spec.rankers):
        check_params("ranker", ranker.type, ranker.params, where=f"rankers.{i}")
    labels = {r.label for r in spec.rankers}
    for task in spec.tasks:
        if task.rankers:
            assert set(task.rankers) <= labels
        make("task", task.name, task.params)  # checks the task's and its attacks' params
        for entry in task.params.get("attacks", []):
            entry = {"name": entry} if isinstance(entry, str) else entry  # a bare name or {name, params}
            if entry["name"] == "textattack" and importlib.util.find_spec("textattack") is None:
                continue
            make("attack", entry["name"], entry.get("params", {}))  # raises ConfigError on a bad param
