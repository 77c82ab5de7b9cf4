"""run_benchmark end to end on real Cranfield data, with BM25 and cheap Python rankers."""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from robustness import CallableRanker, run_benchmark
from robustness.cli import main
from robustness.errors import DataError


def _tiebreak(doc: str) -> float:
    """A stable, content-derived fraction in [0, 1e-3): keeps word-overlap scores free of ties."""
    return int(hashlib.blake2b(doc.encode(), digest_size=8).hexdigest(), 16) / 2**64 * 1e-3


def word_overlap(queries, docs):
    return [len(set(q.lower().split()) & set(d.lower().split())) + _tiebreak(d) for q, d in zip(queries, docs)]


def ndcg10(judged: dict[str, int], ranked: list[str]) -> float:
    """nDCG@10 with linear gain, written out independently of ranx."""
    dcg = sum(judged.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def read_run_file(path: Path) -> dict[str, list[str]]:
    ranked: dict[str, list[tuple[int, str]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        qid, q0, did, rank, score, tag = line.split()
        assert q0 == "Q0" and tag == path.stem
        ranked.setdefault(qid, []).append((int(rank), did))
    return {q: [d for _, d in sorted(v)] for q, v in ranked.items()}


SPEC = {
    "name": "pipeline",
    "seed": 5,
    "dataset": "cranfield",
    "max_queries": 8,
    # adv_spam targets come from ranks 51-100, so the lists must be full top-100 lists
    # (with shorter lists no target is selected: see test_short_candidate_lists_...).
    "candidates_k": 100,
    "rankers": ["bm25"],
    "tasks": ["iid", {"name": "adv_spam", "params": {"max_queries": 3}}],
}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    out = tmp_path_factory.mktemp("pipeline")
    results = run_benchmark(SPEC, rankers=[CallableRanker(word_overlap, name="overlap")], output_dir=out, progress=False)
    return results, out


def test_results_json_records_the_run(pipeline, cranfield) -> None:
    results, out = pipeline
    assert results.errors == []
    assert results.output_dir == out
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert data["seed"] == 5 and data["name"] == "pipeline" and data["spec"]["max_queries"] == 8
    assert {"python", "numpy", "ranx", "torch"} <= set(data["versions"])
    assert data["dataset"]["fingerprint"] == cranfield.fingerprint()
    assert data["dataset"]["n_queries"] == 8 and data["dataset"]["n_docs"] == 1400
    assert data["dataset"]["candidates_k"] == 100
    assert list(data["rankers"]) == ["bm25", "overlap"]
    assert data["errors"] == [] and "finished" in data

    test_queries, _ = cranfield.split("test")
    for name, entry in data["rankers"].items():
        assert set(entry["per_query"]) == {"ndcg@10", "mrr@10", "map"}
        qids = set(entry["per_query"]["ndcg@10"])
        assert len(qids) == 8 and qids <= set(test_queries)
        for metric, values in entry["per_query"].items():
            assert entry["effectiveness"][metric] == pytest.approx(np.mean(list(values.values())))
        assert entry["engine"]["pairs_requested"] >= 8 * 90
    assert data["rankers"]["overlap"]["fingerprint"].startswith("callable-")
    assert data["rankers"]["bm25"]["fingerprint"].startswith("bm25-")
    # BM25 beats word overlap on Cranfield, as any IR textbook would predict
    assert data["rankers"]["bm25"]["effectiveness"]["ndcg@10"] > data["rankers"]["overlap"]["effectiveness"]["ndcg@10"]


def test_run_files_agree_with_per_query_values(pipeline, cranfield) -> None:
    results, out = pipeline
    _, qrels = cranfield.split("test")
    for name in ("bm25", "overlap"):
        ranked = read_run_file(out / "runs" / f"{name}.trec")
        per_query = results.data["rankers"][name]["per_query"]["ndcg@10"]
        assert set(ranked) == set(per_query)
        for qid, docs in ranked.items():
            assert len(docs) == len(set(docs)) <= 100
            assert ndcg10(qrels[qid], docs) == pytest.approx(per_query[qid], abs=1e-6)


def test_comparison_has_significance(pipeline) -> None:
    results, _ = pipeline
    comparison = results.data["comparison"]
    assert comparison["stat_test"] == "student"
    assert comparison["model_names"] == ["bm25", "overlap"]
    for model, other in (("bm25", "overlap"), ("overlap", "bm25")):
        for metric in ("ndcg@10", "mrr@10", "map"):
            p_value = comparison[model]["comparisons"][other][metric]
            assert 0.0 <= p_value <= 1.0
            # the report's means are the same numbers as results.json's effectiveness
            assert comparison[model]["scores"][metric] == pytest.approx(results.effectiveness(model)[metric], abs=1e-9)


def test_task_figures(pipeline) -> None:
    results, _ = pipeline
    data = results.data
    for name in ("bm25", "overlap"):
        iid = data["tasks"]["iid"][name]["summary"]["ndcg@10"]
        values = list(data["rankers"][name]["per_query"]["ndcg@10"].values())
        assert iid["mean"] == pytest.approx(np.mean(values))
        assert iid["std"] == pytest.approx(np.std(values))
        assert iid["worst10_mean"] == pytest.approx(min(values))  # 10% of 8 queries -> the worst one
        assert iid["n_queries"] == 8

        spam = data["tasks"]["adv_spam"][name]
        assert spam["n_queries"] == 3
        records = spam["details"]["query+start"]["records"]
        attacked = {r["query_id"] for r in records}
        assert len(attacked) == 3 and attacked <= set(data["rankers"][name]["per_query"]["ndcg@10"])
        assert all(r["old_rank"] > 50 and r["new_rank"] <= r["old_rank"] for r in records)
        assert spam["summary"]["query+start hard"]["n_targets"] == 15
        assert set(spam["details"]) == {"query+start", "query+end", "query+repeat"}
        ranking = spam["summary"]["query+start ranking"]
        assert 0 <= ranking["ndcg@10_after"] <= ranking["ndcg@10_before"] + 1e-9  # spam only hurts

        profile = data["profile"][name]
        assert profile["iid"]["value"] == pytest.approx(iid["std"])
        assert profile["adv_spam"]["value"] == pytest.approx(spam["summary"]["query+start hard"]["asr"])


def test_report_markdown(pipeline, cranfield) -> None:
    _, out = pipeline
    report = (out / "report.md").read_text(encoding="utf-8")
    assert report.startswith("# Robustness report: pipeline")
    assert cranfield.fingerprint() in report
    for fragment in ("| a | bm25 |", "| b | overlap |", "## Robustness profile", "## Task `iid`", "## Task `adv_spam`", "Seed 5"):
        assert fragment in report
    assert "## Errors" not in report
    assert (out / "report.tex").is_file()


def nan_ranker(queries, docs):
    return [float("nan")] * len(queries)


def test_failing_ranker_is_recorded_and_the_others_kept(tmp_path) -> None:
    spec = dict(SPEC, max_queries=4, candidates_k=20, tasks=["iid"])
    results = run_benchmark(spec, rankers=[CallableRanker(nan_ranker, name="nanny"), CallableRanker(word_overlap, name="overlap")], output_dir=tmp_path, progress=False)
    assert len(results.errors) == 1 and "'nanny'" in results.errors[0] and "non-finite" in results.errors[0]
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert results.errors[0] == f"ranker nanny: {data['rankers']['nanny']['error']}"
    assert data["errors"] == results.errors
    for kept in ("bm25", "overlap"):
        assert set(data["rankers"][kept]["per_query"]["ndcg@10"]) and (tmp_path / "runs" / f"{kept}.trec").is_file()
        assert kept in data["tasks"]["iid"]
    assert not (tmp_path / "runs" / "nanny.trec").exists()
    assert "nanny" not in data["tasks"]["iid"]
    assert data["comparison"]["model_names"] == ["bm25", "overlap"]
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "## Errors" in report and "nanny" in report


def test_missing_split_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(DataError, match=r"collection 'cranfield' has no 'train' split \(splits: test\)"):
        run_benchmark(dict(SPEC, split="train", tasks=[]), output_dir=tmp_path / "a", progress=False)
    assert not (tmp_path / "a").exists()


def test_task_on_a_collection_without_the_split(tmp_path) -> None:
    spec = dict(SPEC, max_queries=3, candidates_k=10, tasks=[{"name": "ood_domain", "params": {"datasets": ["vaswani"], "split": "train"}}])
    results = run_benchmark(spec, output_dir=tmp_path, progress=False)
    assert results.errors == ["task ood_domain on bm25: collection 'vaswani' has no 'train' split (splits: test)"]
    assert results.data["tasks"]["ood_domain"]["bm25"] == {"error": "collection 'vaswani' has no 'train' split (splits: test)"}
    assert "bm25" in results.data["rankers"] and "error" not in results.data["rankers"]["bm25"]


def test_unknown_task_fails_before_any_work(tmp_path) -> None:
    from robustness.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown task 'nope'"):
        run_benchmark(dict(SPEC, tasks=["nope"]), output_dir=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def _tiny_beir(folder, n_common: int = 30) -> str:
    """A BEIR folder where query 'full' matches every document and 'short' only three."""
    folder.mkdir()
    (folder / "qrels").mkdir()
    docs = [{"_id": f"d{i:02d}", "text": f"common words {'rare term' if i < 3 else 'filler'} number {i}"} for i in range(n_common)]
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in docs), encoding="utf-8")
    queries = [{"_id": "full", "text": "common words"}, {"_id": "short", "text": "rare term"}]
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries), encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nfull\td05\t1\nshort\td01\t1\n", encoding="utf-8")
    return f"beir:{folder}"


def test_short_candidate_lists_are_not_silently_unattacked(tmp_path) -> None:
    dataset = _tiny_beir(tmp_path / "tiny")
    spec = dict(SPEC, dataset=dataset, max_queries=None, candidates_k=12, tasks=[{"name": "adv_spam", "params": {"max_queries": 2}}])
    results = run_benchmark(spec, output_dir=tmp_path / "out", progress=False)
    assert not results.errors
    figures = results.data["tasks"]["adv_spam"]["bm25"]
    records = figures["details"]["query+start"]["records"]
    assert {r["query_id"] for r in records} == {"full"}  # the 3-document list is not attacked ...
    assert figures["n_short_lists"] == 1 and figures["n_queries"] == 1  # ... and is counted
    assert "adv_spam on bm25: 1 queries left out" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")


def integer_overlap(queries, docs):
    return [len(set(q.lower().split()) & set(d.lower().split())) for q, d in zip(queries, docs)]


def test_tied_scores_give_one_effectiveness_figure(tmp_path) -> None:
    spec = dict(SPEC, tasks=[])
    results = run_benchmark(spec, rankers=[CallableRanker(integer_overlap, name="ties")], output_dir=tmp_path, progress=False)
    comparison = results.data["comparison"]["ties"]["scores"]
    for metric, value in results.effectiveness("ties").items():
        assert comparison[metric] == pytest.approx(value, abs=1e-9)


# -- a user's ranker from their own module ------------------------------------------------------
USER_MODULE = '''
class Overlap:
    """Query words found in the document, plus a content-derived tie-break."""

    name = "user-overlap"

    def score(self, queries, docs):
        import hashlib
        return [
            len(set(q.lower().split()) & set(d.lower().split()))
            + int(hashlib.blake2b(d.encode(), digest_size=8).hexdigest(), 16) / 2**64 * 1e-3
            for q, d in zip(queries, docs)
        ]

    def fingerprint(self):
        return "user-overlap-1"


class Broken:
    name = "broken"

    def score(self, queries, docs):
        return [float("nan")] * len(queries)

    def fingerprint(self):
        return "broken-1"
'''


@pytest.fixture
def user_project(tmp_path, monkeypatch):
    """A user's working directory: their ranker module and a small spec next to it."""
    module = f"my_rankers_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(USER_MODULE, encoding="utf-8")
    (tmp_path / "spec.yaml").write_text(
        "name: user\ndataset: cranfield\nmax_queries: 3\ncandidates_k: 10\nrankers: [bm25]\ntasks: [iid]\n", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    importlib.invalidate_caches()
    yield module
    sys.modules.pop(module, None)


def test_cli_runs_a_user_ranker(user_project, tmp_path) -> None:
    result = CliRunner().invoke(main, ["run", "spec.yaml", "--ranker", f"{user_project}:Overlap", "--output", "out", "--no-progress"])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert list(data["rankers"]) == ["bm25", "user-overlap"]
    assert data["rankers"]["user-overlap"]["class"] == f"{user_project}.Overlap"
    assert "user-overlap" in result.output and "results:" in result.output

    # The same class handed to the library API gives the same per-query figures.
    sys.path.insert(0, str(tmp_path))
    module = importlib.import_module(user_project)
    api = run_benchmark("spec.yaml", rankers=[module.Overlap()], output_dir=tmp_path / "api", progress=False)
    assert api.errors == []
    assert api.data["rankers"]["user-overlap"]["per_query"] == data["rankers"]["user-overlap"]["per_query"]
    assert api.data["rankers"]["bm25"]["per_query"] == data["rankers"]["bm25"]["per_query"]
    assert (tmp_path / "api" / "runs" / "user-overlap.trec").read_text() == (tmp_path / "out" / "runs" / "user-overlap.trec").read_text()


def test_cli_exit_1_when_a_ranker_fails(user_project, tmp_path) -> None:
    result = CliRunner().invoke(main, ["run", "spec.yaml", "--ranker", f"{user_project}:Broken", "--output", "out", "--no-progress"])
    assert result.exit_code == 1
    assert "'broken'" in result.output and "non-finite" in result.output
    data = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert "error" in data["rankers"]["broken"] and "effectiveness" in data["rankers"]["bm25"]


def test_ranker_objects_must_implement_the_interface(tmp_path) -> None:
    from robustness.errors import ConfigError, RankerError

    class NoFingerprint:
        name = "nofp"

        def score(self, queries, docs):
            return [0.0] * len(queries)

    class NoScore:
        name = "noscore"

    with pytest.raises(RankerError, match="has no 'score'"):
        run_benchmark(dict(SPEC, tasks=[]), rankers=[NoScore()], output_dir=tmp_path, progress=False)
    results = run_benchmark(dict(SPEC, tasks=[]), rankers=[NoFingerprint()], output_dir=tmp_path, progress=False)
    assert not results.errors and "nofp" in results.data["rankers"]  # fingerprint is optional
    with pytest.raises(ConfigError, match="two rankers are named 'bm25'"):
        run_benchmark(dict(SPEC, tasks=[]), rankers=[CallableRanker(word_overlap, name="bm25")], output_dir=tmp_path, progress=False)
