"""The topic-attack task (`adv_topic`) and its per-query baseline, on real Cranfield data with BM25.

BM25 keeps these fast; the attacks are the static ones (keyword stuffing with the group's
queries, random substitution run query by query), so every figure is checked against the
records it came from."""

from __future__ import annotations

import random

import numpy as np
import pytest

from robustness import CallableRanker, run_benchmark
from robustness.attacks.per_query import PerQuery, split_budget
from robustness.engine import ScoringEngine
from robustness.errors import ConfigError
from robustness.metrics import topic_summary
from robustness.protocols.attack import BudgetExhausted, Edit, Target, Victim, apply_edits, edits_between


def overlap(queries, docs):
    return [len(set(q.lower().split()) & set(d.lower().split())) + 1e-6 * len(d) for q, d in zip(queries, docs)]


# -- pieces ---------------------------------------------------------------------------------------
def test_split_budget() -> None:
    assert split_budget(20, 4) == [5, 5, 5, 5]
    assert split_budget(20, 6) == [4, 4, 3, 3, 3, 3]
    assert split_budget(2, 4) == [1, 1, 0, 0]
    assert sum(split_budget(17, 5)) == 17


@pytest.mark.parametrize("seed", range(20))
def test_edits_between_replays_any_rewrite(seed: int) -> None:
    rng = random.Random(seed)
    words = "the cell, a protein; of 9.17 mg/kg and (very) large tumours".split()
    original = " ".join(rng.choice(words) for _ in range(rng.randint(0, 12)))
    tokens = original.split(" ")
    for _ in range(rng.randint(0, 4)):
        op = rng.choice(["sub", "ins", "del"])
        at = rng.randint(0, len(tokens))
        if op == "ins" or not tokens:
            tokens.insert(at, rng.choice(words))
        elif op == "sub":
            tokens[min(at, len(tokens) - 1)] = rng.choice(words) + "x"
        else:
            del tokens[min(at, len(tokens) - 1)]
    rewritten = " ".join(tokens)
    edits = edits_between(original, rewritten)
    assert apply_edits(original, edits) == rewritten
    assert all(isinstance(e, Edit) for e in edits) and (edits or original == rewritten)


def test_a_one_query_view_counts_in_its_group_and_its_budget() -> None:
    engine = ScoringEngine(CallableRanker(overlap, name="overlap", version="1"), progress=False)
    group = Victim(engine, ["alpha beta", "gamma"], [np.array([0.0, 1.0, 2.0]), np.array([0.0, 0.5])], budget=5)
    view = group.only(1)
    assert view.ranks(["gamma ray", "nothing"]) == [1, 2]  # "nothing" scores 7e-6 (length tie-break): above 0
    assert view.queries_used == 2 and group.queries_used == 2
    group.group_ranks(["alpha"])  # two more: one text, two queries
    assert group.queries_used == 4
    with pytest.raises(BudgetExhausted):
        view.ranks(["x", "y"])  # would reach 6 > 5 in the group
    assert group.queries_used == 4 and view.queries_used == 2


def test_per_query_splits_the_word_budget_and_counts_its_rank_checks(scifact) -> None:
    engine = ScoringEngine(CallableRanker(overlap, name="overlap", version="1"), progress=False)
    queries = ("tumour growth in mice", "protein folding disease", "cell membrane transport")
    doc_id = sorted(scifact.docs)[3]
    text = scifact.docs[doc_id]
    others = [np.sort(np.array(overlap([q] * 20, [scifact.docs[d] for d in sorted(scifact.docs)[10:30]]))) for q in queries]
    victim = Victim(engine, list(queries), others)
    target = Target(doc_id, text, "hard", ("a", "b", "c"), queries, tuple(int(r) for r in (21, 21, 21)))
    attack = PerQuery({"name": "random_substitution", "params": {"window_similarity": None}}, word_budget=5)
    outcome = attack.attack(target, victim, random.Random(0))
    assert attack.name == "random_substitution per query"
    assert apply_edits(text, outcome.edits) == outcome.text != text
    assert sum(e.kind == "substitute" for e in outcome.edits) <= 5
    # random substitution never asks the victim; each pass after a change asks one rank
    assert victim.queries_used == 2
    with pytest.raises(ConfigError, match="budget"):
        PerQuery("keyword_stuffing")  # no word budget to split


# -- the task ---------------------------------------------------------------------------------------
BASE = {"name": "topic", "seed": 3, "dataset": "cranfield", "max_queries": None, "candidates_k": 30, "rankers": ["bm25"]}


def test_topic_task_static_dynamic_and_transfer(tmp_path, cranfield) -> None:
    queries, qrels = cranfield.split("test")
    ids = sorted(queries, key=int)[:9]
    topics = tmp_path / "topics.tsv"
    topics.write_text("".join(f"t{i // 3}\t{q}\n" for i, q in enumerate(ids)), encoding="utf-8")
    spec = dict(BASE, tasks=[{"name": "adv_topic", "params": {
        "grouping": "topics", "topic_file": str(topics), "min_size": 3, "max_size": 3, "n_groups": 2,
        "new_documents": 5, "transfer": ["bm25"],
        "attacks": [{"name": "keyword_stuffing"}, {"name": "per_query", "params": {"attack": {"name": "random_substitution", "params": {"window_similarity": None}}, "word_budget": 6}}],
    }}])
    results = run_benchmark(spec, output_dir=tmp_path / "out", progress=False)
    figures = results.data["tasks"]["adv_topic"]["bm25"]
    assert figures["n_groups"] == 2 and figures["n_queries"] == 6
    groups = figures["details"]["groups"]
    summary = figures["summary"]
    for attack in ("query+start", "random_substitution per query"):
        records = figures["details"][attack]["records"]
        assert len(records) == 2 * 10
        for r in records:
            assert r["query_ids"] == groups[r["group_id"]]
            assert not any(qrels[q].get(r["doc_id"], 0) > 0 for q in r["query_ids"])  # never a relevant target
        expected = topic_summary([r["old_ranks"] for r in records], [r["new_ranks"] for r in records])
        assert summary[f"{attack} all"]["topic_asr"] == pytest.approx(expected["topic_asr"])
        # Re-measured by the victim itself on its own lists, the dynamic figures are the static ones.
        for key in ("topic_asr", "topic_boost", "half_improved"):
            assert summary[f"{attack} dynamic bm25"][key] == pytest.approx(summary[f"{attack} all"][key])
        assert summary[f"{attack} dynamic +5 documents"]["n_targets"] == 20
    stuffing = figures["details"]["query+start"]["records"]
    assert all(r["adversarial_text"].startswith(" ".join(queries[q].strip() for q in r["query_ids"])) for r in stuffing)
    assert summary["query+start all"]["topic_asr"] > 90
    for r in figures["details"]["random_substitution per query"]["records"]:
        assert sum(e["kind"] == "substitute" for e in r["edits"]) <= 6


def test_topic_task_rejects_bad_params(tmp_path) -> None:
    for params, message in (
        ({"attacks": ["keyword_stuffing"], "grouping": "topics"}, "needs a topic_file"),
        ({"attacks": ["keyword_stuffing"], "grouping": "nope"}, "grouping must be one of"),
        ({"attacks": ["keyword_stuffing"], "min_size": 5, "max_size": 4}, "min_size <= max_size"),
        ({"attacks": []}, "at least one attack"),
    ):
        with pytest.raises(ConfigError, match=message):
            run_benchmark(dict(BASE, tasks=[{"name": "adv_topic", "params": params}]), output_dir=tmp_path / "bad", progress=False)
    spec = dict(BASE, max_queries=20, tasks=[{"name": "adv_topic", "params": {"attacks": ["keyword_stuffing"], "transfer": ["nope"], "min_size": 2}}])
    results = run_benchmark(spec, output_dir=tmp_path / "bad2", progress=False)
    assert any("transfer ranker 'nope' is not a ranker of this spec" in line for line in results.errors)
