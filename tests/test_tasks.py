"""The robustness tasks' outputs on real data: ood_query, ood_domain, iid, adv tasks' errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from robustness import CallableRanker, run_benchmark
from robustness.errors import DataError
from robustness.testing import check_ranker


def overlap(queries, docs):
    """Word overlap with a length tie-break: cheap, deterministic, and sensitive to typos."""
    return [len(set(q.lower().split()) & set(d.lower().split())) + 1e-6 * len(d) for q, d in zip(queries, docs)]


BASE = {"name": "tasks", "seed": 3, "dataset": "cranfield", "max_queries": 12, "candidates_k": 30, "rankers": ["bm25"]}


def test_ood_query_reports_every_variation_with_drop_and_significance(tmp_path) -> None:
    variations = ["typo_swap", "word_shuffle", "stopword_removal", "keyword_only"]
    spec = dict(BASE, tasks=[{"name": "ood_query", "params": {"variations": variations}}])
    results = run_benchmark(spec, rankers=[CallableRanker(overlap, name="overlap", version="1")], output_dir=tmp_path, progress=False)
    assert not results.errors
    for ranker in ("bm25", "overlap"):
        summary = results.data["tasks"]["ood_query"][ranker]["summary"]
        assert list(summary) == variations
        for name, figures in summary.items():
            assert 0 < figures["n_changed"] <= 12
            original, varied = figures["ndcg@10_original"], figures["ndcg@10"]
            assert figures["ndcg@10_drop_pct"] == pytest.approx(100 * (original - varied) / original)
            assert 0 <= figures["p_value"] <= 1
        # word order cannot matter to a bag-of-words ranker over the same candidates
        assert summary["word_shuffle"]["ndcg@10_drop_pct"] == pytest.approx(0.0, abs=1e-9)
        profile = results.data["profile"][ranker]["ood_query"]
        assert profile["value"] == pytest.approx(np.mean([v["ndcg@10_drop_pct"] for v in summary.values()]))
    examples = results.data["tasks"]["ood_query"]["bm25"]["examples"]["typo_swap"]
    queries = load_queries()
    assert all(text != queries[qid] for qid, text in examples.items())


def load_queries() -> dict[str, str]:
    from robustness.data import load_collection

    return load_collection("cranfield").queries


def test_ood_query_variants_are_the_same_for_every_ranker_and_seeded(tmp_path) -> None:
    spec = dict(BASE, tasks=[{"name": "ood_query", "params": {"variations": ["typo_insert"]}}])
    first = run_benchmark(spec, output_dir=tmp_path / "a", progress=False).data["tasks"]["ood_query"]["bm25"]
    again = run_benchmark(spec, output_dir=tmp_path / "b", progress=False).data["tasks"]["ood_query"]["bm25"]
    other_seed = run_benchmark(dict(spec, seed=4), output_dir=tmp_path / "c", progress=False).data["tasks"]["ood_query"]["bm25"]
    assert first["examples"] == again["examples"]
    assert first["examples"] != other_seed["examples"]


def test_ood_domain_relates_to_bm25_and_in_domain(tmp_path) -> None:
    spec = dict(BASE, tasks=[{"name": "ood_domain", "params": {"datasets": ["vaswani"], "max_queries": 10}}])
    results = run_benchmark(spec, rankers=[CallableRanker(overlap, name="overlap", version="1")], output_dir=tmp_path, progress=False)
    bm25 = results.data["tasks"]["ood_domain"]["bm25"]["summary"]["vaswani"]
    mine = results.data["tasks"]["ood_domain"]["overlap"]["summary"]["vaswani"]
    assert bm25["ndcg@10_vs_bm25"] == pytest.approx(1.0)
    assert mine["ndcg@10_vs_bm25"] == pytest.approx(mine["ndcg@10"] / bm25["ndcg@10"])
    in_domain = results.effectiveness("overlap")["ndcg@10"]
    assert mine["ndcg@10_drop_pct"] == pytest.approx(100 * (in_domain - mine["ndcg@10"]) / in_domain)
    assert mine["n_queries"] == 10


def test_ood_domain_restores_the_in_domain_corpus_for_later_tasks(tmp_path) -> None:
    """BM25 scores stuffed documents with the active corpus' statistics: a task after ood_domain
    must see exactly what it sees without ood_domain before it."""
    spam = {"name": "adv_spam", "params": {"max_queries": 2}}
    domain = {"name": "ood_domain", "params": {"datasets": ["vaswani"], "max_queries": 5}}
    alone = run_benchmark(dict(BASE, tasks=[spam], candidates_k=100), output_dir=tmp_path / "a", progress=False)
    after = run_benchmark(dict(BASE, tasks=[domain, spam], candidates_k=100), output_dir=tmp_path / "b", progress=False)
    assert not alone.errors and not after.errors
    records = [after.data["tasks"]["adv_spam"]["bm25"]["details"][a]["records"] for a in ("query+start", "query+repeat")]
    expected = [alone.data["tasks"]["adv_spam"]["bm25"]["details"][a]["records"] for a in ("query+start", "query+repeat")]
    assert [[r["new_rank"] for r in group] for group in records] == [[r["new_rank"] for r in group] for group in expected]
    assert after.data["tasks"]["adv_spam"]["bm25"]["summary"] == alone.data["tasks"]["adv_spam"]["bm25"]["summary"]


def test_iid_figures_match_the_per_query_values(tmp_path) -> None:
    results = run_benchmark(dict(BASE, tasks=["iid"]), output_dir=tmp_path, progress=False)
    values = np.array(list(results.data["rankers"]["bm25"]["per_query"]["ndcg@10"].values()))
    figures = results.data["tasks"]["iid"]["bm25"]["summary"]["ndcg@10"]
    assert figures["mean"] == pytest.approx(values.mean())
    assert figures["var"] == pytest.approx(values.var())
    assert figures["worst10_mean"] == pytest.approx(np.sort(values)[:1].mean())
    assert figures["mean_ci_low"] <= figures["mean"] <= figures["mean_ci_high"]


def test_iid_seed_groups_report_variance_across_seeds(tmp_path) -> None:
    rankers = [CallableRanker(lambda q, d, s=s: [x + s * 1e-3 * len(y) for x, y in zip(overlap(q, d), d)], name=f"seed{s}", version=str(s)) for s in (1, 2)]
    spec = dict(BASE, tasks=[{"name": "iid", "params": {"seed_groups": {"overlap": ["seed1", "seed2"]}}}])
    results = run_benchmark(spec, rankers=rankers, output_dir=tmp_path, progress=False)
    seeds = results.data["tasks"]["iid"]["seed1"]["summary"]["across_seeds"]
    means = [results.effectiveness(n)["ndcg@10"] for n in ("seed1", "seed2")]
    assert seeds["n_seeds"] == 2 and seeds["ndcg@10_var"] == pytest.approx(np.var(means))
    assert "across_seeds" not in results.data["tasks"]["iid"]["bm25"]["summary"]


def test_task_on_a_collection_without_the_split_fails_clearly(tmp_path) -> None:
    with pytest.raises(DataError, match="has no 'train' split"):
        run_benchmark(dict(BASE, split="train", tasks=["iid"]), output_dir=tmp_path, progress=False)


def test_ood_domain_target_without_judged_queries_is_recorded_as_an_error(tmp_path) -> None:
    folder = tmp_path / "nojudged"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text('{"_id": "d1", "text": "wing lift"}\n', encoding="utf-8")
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": "lift"}\n', encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t0\n", encoding="utf-8")
    spec = dict(BASE, tasks=[{"name": "ood_domain", "params": {"datasets": [f"beir:{folder}"]}}])
    results = run_benchmark(spec, output_dir=tmp_path / "out", progress=False)
    assert results.errors and "no judged queries" in results.errors[0]
    assert results.data["rankers"]["bm25"]["effectiveness"]["ndcg@10"] > 0  # the finished part is kept


def test_an_unknown_attack_fails_before_any_work(tmp_path) -> None:
    from robustness.errors import ConfigError

    spec = dict(BASE, candidates_k=100, tasks=[{"name": "adv_substitution", "params": {"attacks": ["no_such_attack"], "max_queries": 2}}])
    with pytest.raises(ConfigError, match=r"unknown attack 'no_such_attack' \(known: keyword_stuffing, pat, per_query, prada, .*tara"):
        run_benchmark(spec, output_dir=tmp_path, progress=False)
    assert not (tmp_path / "results.json").exists()


def test_check_ranker_accepts_good_rankers_and_names_faults() -> None:
    from robustness.rankers.bm25 import BM25Ranker

    check_ranker(BM25Ranker())
    check_ranker(CallableRanker(overlap, name="overlap", version="1"))
    calls = {"n": 0}

    def drifting(queries, docs):
        calls["n"] += 1
        return [calls["n"] * 1.0 for _ in queries]

    with pytest.raises(AssertionError, match="not deterministic"):
        check_ranker(CallableRanker(drifting, name="drift", version="1"))
    with pytest.raises(AssertionError, match="depend on batching"):
        check_ranker(CallableRanker(lambda q, d: [float(len(q))] * len(q), name="batchy", version="1"))
    with pytest.raises(AssertionError, match="NaN"):
        check_ranker(CallableRanker(lambda q, d: [float("nan")] * len(q), name="nan", version="1"))
    with pytest.raises(AssertionError, match="shape"):
        check_ranker(CallableRanker(lambda q, d: [0.0], name="short", version="1"))


def test_attack_tasks_attack_max_queries_queries_with_full_lists(tmp_path) -> None:
    """A query matching fewer than candidates_k documents has no Easy-5/Hard-5 ranks: it is
    left out before sampling, so max_queries counts the queries actually attacked."""
    folder = tmp_path / "short"
    (folder / "qrels").mkdir(parents=True)
    docs = [{"_id": f"d{i}", "text": f"alpha {'beta ' * (i % 7)}word{i}"} for i in range(120)] + [{"_id": "g", "text": "gamma ray"}]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    queries = {"q1": "alpha", "q2": "alpha beta", "q3": "gamma"}
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items()), encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\tg\t1\n", encoding="utf-8")
    for limit, attacked in ((5, {"q1", "q2"}), (1, None)):
        spec = dict(BASE, dataset=f"beir:{folder}", max_queries=None, candidates_k=100, tasks=[{"name": "adv_spam", "params": {"max_queries": limit}}])
        results = run_benchmark(spec, output_dir=tmp_path / f"out{limit}", progress=False)
        figures = results.data["tasks"]["adv_spam"]["bm25"]
        records = figures["details"]["query+start"]["records"]
        queried = {r["query_id"] for r in records}
        assert figures["n_short_lists"] == 1 and figures["n_queries"] == min(limit, 2) == len(queried)
        assert "q3" not in queried and (attacked is None or queried == attacked)
        assert len(records) == 10 * len(queried)
