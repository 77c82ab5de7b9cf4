"""Small defects that each broke a promise: the working directory left on sys.path, results.json
readable only by its writer, a bare KeyError from the results API, an explicit device overridden
by the environment, a ranker constructor that reseeds the caller's RNG, BM25 rehashing its
corpus on every switch, and the run's seed not reaching tasks' significance tests."""

from __future__ import annotations

import json
import os
import stat
import sys

import pytest

from robustness import CallableRanker, run_benchmark
from robustness.errors import RobustnessError

SPEC = {"name": "small", "seed": 2, "dataset": "cranfield", "max_queries": 4, "candidates_k": 20, "rankers": ["bm25"], "tasks": []}


def overlap(queries, docs):
    return [len(set(q.split()) & set(d.split())) + 1e-6 * len(d) for q, d in zip(queries, docs)]


def test_a_users_module_import_leaves_sys_path_as_it_was(tmp_path, monkeypatch) -> None:
    from robustness.registry import resolve

    (tmp_path / "my_ranker_mod_xyz.py").write_text("class R:\n    name = 'r'\n    def score(self, q, d):\n        return [0.0] * len(q)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    before = list(sys.path)
    assert resolve("ranker", "my_ranker_mod_xyz:R").name == "r"
    assert sys.path == before  # a ranx.py next to the spec can no longer shadow ranx
    sys.modules.pop("my_ranker_mod_xyz", None)


def test_results_json_gets_ordinary_file_permissions(tmp_path) -> None:
    results = run_benchmark(SPEC, output_dir=tmp_path, progress=False)
    mask = os.umask(0)
    os.umask(mask)
    mode = stat.S_IMODE((results.output_dir / "results.json").stat().st_mode)
    assert mode == 0o666 & ~mask


def test_effectiveness_of_a_failed_or_unknown_ranker_is_one_line(tmp_path) -> None:
    nan = CallableRanker(lambda q, d: [float("nan")] * len(q), name="nan", version="1")
    results = run_benchmark(SPEC, rankers=[nan], output_dir=tmp_path, progress=False)
    with pytest.raises(RobustnessError, match=r"ranker 'nan' failed in this run: .*non-finite"):
        results.effectiveness("nan")
    with pytest.raises(RobustnessError, match=r"no ranker 'nope' in these results \(rankers: bm25, nan\)"):
        results.effectiveness("nope")


def test_an_explicit_device_wins_over_the_environment(monkeypatch) -> None:
    from robustness.device import pick_device

    monkeypatch.setenv("ROBUSTNESS_DEVICE", "cuda")
    assert pick_device("cpu").type == "cpu"
    monkeypatch.setenv("ROBUSTNESS_DEVICE", "cpu")
    assert pick_device("auto").type == "cpu"


def test_building_a_cross_encoder_does_not_reseed_the_callers_rng(minilm_path) -> None:
    import torch

    from robustness.rankers.cross_encoder import CrossEncoderRanker

    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    first = CrossEncoderRanker("minilm", max_length=32, device="cpu", seed=7)
    assert torch.equal(torch.rand(3), expected)  # the caller's stream is untouched ...
    second = CrossEncoderRanker("minilm", max_length=32, device="cpu", seed=7)
    assert first.fingerprint() == second.fingerprint()  # ... and the seeded head is reproducible


def test_bm25_hashes_a_corpus_once(cranfield, monkeypatch) -> None:
    from robustness.rankers import bm25 as module

    ranker = module.BM25Ranker()
    ranker.prepare(cranfield.docs)
    calls = {"n": 0}
    real = module.hashlib.sha256

    def counting(*args):
        calls["n"] += 1
        return real(*args)

    monkeypatch.setattr(module.hashlib, "sha256", counting)
    for _ in range(3):
        ranker.prepare(cranfield.docs)
    assert calls["n"] == 0
    ranker.prepare(dict(cranfield.docs))  # another object with the same content: hashed once, same key
    assert calls["n"] == 1 and ranker.fingerprint().endswith(ranker._keys[id(cranfield.docs)][2])


def test_ood_query_uses_the_specs_significance_test(tmp_path) -> None:
    spec = dict(SPEC, max_queries=8, tasks=[{"name": "ood_query", "params": {"variations": ["typo_delete"]}}])
    student = run_benchmark(dict(spec, significance="student"), output_dir=tmp_path / "s", progress=False)
    fisher = run_benchmark(dict(spec, significance="fisher"), output_dir=tmp_path / "f", progress=False)
    p_student = student.data["tasks"]["ood_query"]["bm25"]["summary"]["typo_delete"]["p_value"]
    p_fisher = fisher.data["tasks"]["ood_query"]["bm25"]["summary"]["typo_delete"]["p_value"]
    assert p_student != p_fisher  # the test follows the spec instead of a fixed one


def test_graded_collections_apply_the_relevance_threshold_to_binary_metrics_only(tmp_path) -> None:
    one = run_benchmark(dict(SPEC, relevance_threshold=1), output_dir=tmp_path / "one", progress=False)
    three = run_benchmark(dict(SPEC, relevance_threshold=3), output_dir=tmp_path / "three", progress=False)
    a, b = one.effectiveness("bm25"), three.effectiveness("bm25")
    assert a["ndcg@10"] == b["ndcg@10"]  # graded gains are unchanged
    assert b["mrr@10"] <= a["mrr@10"] and b["map"] != a["map"]  # fewer documents count as relevant
    data = json.loads((three.output_dir / "results.json").read_text())
    assert data["dataset"]["relevance_threshold"] == 3
    assert data["comparison"]["bm25"]["scores"]["mrr@10"] == pytest.approx(b["mrr@10"])  # the report agrees


def test_a_ranker_whose_scores_drift_is_flagged_before_the_run(tmp_path, caplog) -> None:
    calls = {"n": 0}

    def drifting(queries, docs):
        calls["n"] += 1
        return [calls["n"] + x for x in overlap(queries, docs)]

    with caplog.at_level("WARNING", logger="robustness.runner"):
        results = run_benchmark(SPEC, rankers=[CallableRanker(drifting, name="drift", version="1")], output_dir=tmp_path, progress=False)
    assert not results.errors
    flagged = [r.getMessage() for r in caplog.records if "drift" in r.getMessage()]
    assert len(flagged) == 1 and "scores the same pairs differently" in flagged[0] and "check_ranker" in flagged[0]
    assert not any("'bm25'" in r.getMessage() for r in caplog.records)  # a deterministic ranker is not flagged


def test_a_plugin_without_score_is_refused_before_any_model_loads(tmp_path, monkeypatch) -> None:
    from robustness.rankers import bi_encoder

    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded before the plug-in was checked")

    monkeypatch.setattr(bi_encoder.BiEncoderRanker, "__init__", no_loading)
    plugin = tmp_path / "no_score_plugin.py"
    plugin.write_text("class NoScore:\n    name = 'noscore'\n")
    spec = {**SPEC, "rankers": ["bm25", "minilm", {"type": f"{plugin}:NoScore"}]}
    with pytest.raises(RobustnessError, match="has no 'score'"):
        run_benchmark(spec, output_dir=tmp_path / "out", progress=False)
