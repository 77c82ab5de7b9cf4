"""Query groups, group targets and topic metrics (the foundations of the topic attack, DESIGN §8.2)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from robustness.errors import ConfigError, DataError
from robustness.metrics import topic_summary
from robustness.protocols.groups import QueryGroup, cluster_queries, expand_query, group_targets, kmeans, read_topic_file


def test_topic_file_in_tsv_and_json(tmp_path) -> None:
    tsv = tmp_path / "topics.tsv"
    tsv.write_text("t1\tq1\nt1\tq2\n\nt2\tq3\nt1\tq2\n")
    assert read_topic_file(tsv, ["q1", "q2", "q3"]) == [QueryGroup("t1", ("q1", "q2")), QueryGroup("t2", ("q3",))]
    assert read_topic_file(tsv, ["q1", "q2", "q3"], min_size=2) == [QueryGroup("t1", ("q1", "q2"))]
    js = tmp_path / "topics.json"
    js.write_text('{"b": ["q3"], "a": ["q1", "q2"]}')
    assert [g.id for g in read_topic_file(js, ["q1", "q2", "q3"])] == ["a", "b"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.tsv", "t1 q1\n", "line 1: expected 2 tab-separated fields"),
        ("unknown.tsv", "t1\tq9\n", "1 query id.s. not in the collection's split .first: 'q9'"),
        ("bad.json", "{oops", "not valid JSON"),
        ("list.json", '["q1"]', "expected a JSON object"),
    ],
)
def test_bad_topic_files_fail_in_one_line(tmp_path, name, content, message) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match=message) as info:
        read_topic_file(path, ["q1"])
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match="topic file not found"):
        read_topic_file(tmp_path / "missing.tsv", ["q1"])


def test_kmeans_recovers_separated_clusters_and_is_seeded() -> None:
    rng = np.random.default_rng(0)
    points = np.vstack([rng.normal(centre, 0.05, size=(6, 2)) for centre in ((0, 0), (5, 5), (0, 5))])
    labels = kmeans(points, 3, np.random.default_rng(1))
    assert {tuple(sorted(set(labels[i : i + 6]))) for i in (0, 6, 12)} == {(0,), (1,), (2,)}
    assert len(set(labels)) == 3
    assert np.array_equal(kmeans(points, 3, np.random.default_rng(1)), labels)
    with pytest.raises(ConfigError, match="1 <= k <= 18"):
        kmeans(points, 19, np.random.default_rng(1))


def test_cluster_queries_drops_small_clusters() -> None:
    queries = {f"a{i}": "cats" for i in range(4)} | {f"b{i}": "dogs" for i in range(4)} | {"c0": "fish"}
    vectors = {"cats": [1.0, 0.0], "dogs": [0.0, 1.0], "fish": [-1.0, -1.0]}
    groups = cluster_queries(queries, 3, lambda texts: np.array([vectors[t] for t in texts]), seed=0, min_size=4)
    assert sorted(g.query_ids for g in groups) == [tuple(f"a{i}" for i in range(4)), tuple(f"b{i}" for i in range(4))]
    assert cluster_queries(queries, 3, lambda texts: np.array([vectors[t] for t in texts]), seed=0, min_size=4) == groups


def test_expand_query_keeps_distinct_variants_only() -> None:
    variations = {"upper": lambda q, rng: q.upper(), "same": lambda q, rng: q, "again": lambda q, rng: q.upper()}
    group, texts = expand_query("7", "heart disease", variations, random.Random(0))
    assert group == QueryGroup("expanded-7", ("7", "7~upper"))
    assert texts == {"7": "heart disease", "7~upper": "HEART DISEASE"}


def test_group_targets_follow_easy5_hard5_on_the_mean_rank_and_skip_relevant() -> None:
    # 100 documents; d{i} has ranks (i, i) for i = 1..100 in a group of two queries, except
    # d100, judged relevant, and d55 whose ranks (20, 90) average 55.
    ranks = {f"d{i}": (i, i) for i in range(1, 101)}
    ranks["d55"] = (20, 90)
    chosen = group_targets(ranks, random.Random(0), exclude={"d100"}, list_size=100)
    assert [d for d, _ in chosen["hard"]] == ["d95", "d96", "d97", "d98", "d99"]
    easy = [d for d, _ in chosen["easy"]]
    assert len(easy) == 5 and not set(easy) & {"d95", "d96", "d97", "d98", "d99", "d100"}
    means = [np.mean(r) for _, r in chosen["easy"]]
    assert all(50 + 10 * j < m <= 60 + 10 * j for j, m in enumerate(means))
    assert dict(chosen["easy"] + chosen["hard"])[easy[0]] == ranks[easy[0]]


def test_topic_summary_by_hand() -> None:
    # target 1: group of 2, rose in 1 (60 -> 40), fell in the other (70 -> 75): 50 %, gain 7.5
    # target 2: group of 4, rose in 3: 75 %, gains 10, 10, 10, -2 -> 7
    figures = topic_summary([(60, 70), (90, 90, 90, 90)], [(40, 75), (80, 80, 80, 92)])
    assert figures == {"n_targets": 2, "topic_asr": 62.5, "topic_boost": 7.25, "half_improved": 100.0}
    assert topic_summary([(60, 70)], [(61, 75)])["half_improved"] == 0.0
    with pytest.raises(ValueError):
        topic_summary([(60, 70)], [(40,)])


# -- the group attack protocol -----------------------------------------------------------------
def _overlap_engine():
    from robustness import CallableRanker
    from robustness.engine import ScoringEngine

    def score(queries, docs):  # query words found in the document, ties broken by length
        return [sum(w in d.split() for w in q.split()) + 0.001 * len(d) for q, d in zip(queries, docs)]

    return ScoringEngine(CallableRanker(score, name="overlap", version="1"), progress=False)


class _GroupStuffing:
    """Prepends every query of the group, asking the victim once to check the ranks."""

    name = "group_stuffing"

    def attack(self, target, victim, rng):
        from robustness.protocols.attack import AttackOutcome, Edit, apply_edits

        edit = Edit.insert(0, " ".join(target.queries) + " ")
        text = apply_edits(target.text, [edit])
        victim.group_ranks([text])
        return AttackOutcome(text, [edit])


def test_group_attack_promotes_one_text_for_every_query_and_counts_the_victim() -> None:
    from robustness.protocols.groups import evaluate_group_attack, summarise_groups

    engine = _overlap_engine()
    docs = {f"d{i:02d}": " ".join(["filler"] * i) + (" heart" if i % 2 else " lung") for i in range(30)}
    queries = {"q1": "heart", "q2": "heart lung", "q3": "lung"}
    rankings = {q: dict(zip(sorted(docs)[:20] if q != "q3" else sorted(docs)[10:], engine.score([t] * 20, [docs[d] for d in (sorted(docs)[:20] if q != "q3" else sorted(docs)[10:])]).tolist())) for q, t in queries.items()}
    group = QueryGroup("g", ("q1", "q2", "q3"))
    relevant = {"q3": {"d29"}}
    results = evaluate_group_attack(engine, _GroupStuffing(), [group], queries, rankings, docs, relevant, lambda *s: random.Random("|".join(s)), list_size=20)
    assert results and {r.group for r in results} == {"easy", "hard"}
    assert all(r.doc_id != "d29" for r in results)  # relevant to one query of the group
    for r in results:
        assert r.query_ids == ["q1", "q2", "q3"] and len(r.old_ranks) == len(r.new_ranks) == 3
        assert r.victim_queries == 3  # one text, three queries
        assert all(new <= old for old, new in zip(r.old_ranks, r.new_ranks))
    # A document missing from q3's list (d00-d09) gets a rank there by insertion, not a gap.
    assert all(1 <= rank <= 21 for r in results for rank in r.old_ranks)
    summary = summarise_groups(results)
    assert summary["all"]["n_targets"] == len(results) and summary["all"]["victim_queries"] == 3.0
    assert summary["all"]["topic_asr"] > 50
