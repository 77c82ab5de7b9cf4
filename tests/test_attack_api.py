"""The attack API: group targets against a real ranker, the one edit record, the search components."""

from __future__ import annotations

import random

import numpy as np
import pytest

from robustness.attacks.baselines import KeywordStuffing, RandomSubstitution
from robustness.attacks.components import SynonymSubstitution, WordConstraints, WordSequence, substitution_options
from robustness.attacks.search import BeamSearch, GreedySearch, rank_gain
from robustness.engine import ScoringEngine
from robustness.metrics import rank_by_insertion, ranked
from robustness.protocols.attack import BudgetExhausted, Edit, Target, Victim, apply_edits
from robustness.rankers.bm25 import BM25Ranker


@pytest.fixture(scope="module")
def group(cranfield):
    """Two Cranfield queries on one topic (both about boundary layers), BM25 lists over the corpus,
    and a document ranked low for both: a group target."""
    bm25 = BM25Ranker()
    bm25.prepare(cranfield.docs)
    queries = {"q1": "boundary layer transition on a flat plate", "q2": "laminar boundary layer separation"}
    engine = ScoringEngine(bm25, progress=False)
    lists = {q: [d for d, _ in hits] for q, hits in zip(queries, bm25.retrieve(list(queries.values()), 60))}
    runs = engine.rerank(queries, lists, cranfield.docs)
    shared = [d for d in ranked(runs["q1"])[30:] if d in runs["q2"]]
    doc = shared[0]
    others = [np.array([runs[q][d] for d in runs[q] if d != doc]) for q in queries]
    old = tuple(1 + int(np.sum(o >= runs[q][doc])) for q, o in zip(queries, others))
    target = Target(doc, cranfield.docs[doc], "hard", tuple(queries), tuple(queries.values()), old)
    return bm25, target, others


def test_a_two_query_group_victim_ranks_and_counts_each_pair(group) -> None:
    bm25, target, others = group
    counting = ScoringEngine(bm25, progress=False)
    victim = Victim(counting, target.queries, others)
    texts = [target.text, " ".join([target.text, *target.queries]), "laminar boundary layer separation transition flat plate"]
    answers = victim.group_ranks(texts)
    assert victim.queries_used == len(texts) * 2 == counting.stats.pairs_requested
    for text, ranks in zip(texts, answers):
        expected = tuple(rank_by_insertion(o, bm25.score([q], [text])[0]) for q, o in zip(target.queries, others))
        assert ranks == expected
    assert answers[0] == target.old_ranks
    assert all(a < b for a, b in zip(answers[1], answers[0]))  # the group's queries lift it for both
    with pytest.raises(ValueError, match="group of 2 queries"):
        victim.ranks(texts)
    with pytest.raises(ValueError, match="use `queries`"):
        _ = target.query
    limited = Victim(counting, target.queries, others, budget=5)
    limited.group_ranks(texts[:2])
    with pytest.raises(BudgetExhausted):
        limited.group_ranks(texts[:1])  # 4 pairs used, 2 more would exceed 5


def test_searches_raise_the_group_gain_and_their_edits_replay(group) -> None:
    bm25, target, others = group
    doc = WordSequence(target.text)
    vocabulary = ["boundary", "layer", "laminar", "separation", "transition", "plate"]
    positions = list(range(min(len(doc), 40)))
    for search in (GreedySearch(candidates_per_step=2), BeamSearch(width=2, candidates_per_step=2)):
        victim = Victim(ScoringEngine(bm25, progress=False), target.queries, others)
        found = search.run(doc, positions, lambda p: vocabulary, victim, target.old_ranks, budget=3)
        assert 0 < len(found.changes) <= 3
        text = doc.replaced(found.changes)
        assert apply_edits(target.text, found.edits) == text
        final = Victim(ScoringEngine(bm25, progress=False), target.queries, others).group_ranks([text])[0]
        assert rank_gain(target.old_ranks, final) > 0
        assert found.edits[-1].ranks == final  # each kept edit records the ranks it reached
        gains = [rank_gain(target.old_ranks, e.ranks) for e in found.edits]
        assert gains == sorted(gains) and len(set(gains)) == len(gains)  # only improving steps are kept


def test_every_shipped_static_attack_emits_edits_that_replay(cranfield) -> None:
    texts = [cranfield.docs[d] for d in sorted(cranfield.docs)[:4] if cranfield.docs[d].strip()]
    attacks = [KeywordStuffing("start"), KeywordStuffing("end"), KeywordStuffing("repeat", times=3), RandomSubstitution(budget=5)]
    for attack in attacks:
        for i, text in enumerate(texts):
            target = Target.single("q", "shock wave interaction", f"d{i}", text, 90, "hard")
            outcome = attack.attack(target, None, random.Random(i))
            assert outcome.edits and all(isinstance(e, Edit) for e in outcome.edits)
            assert {e.kind for e in outcome.edits} <= {"substitute", "insert", "delete"}
            assert apply_edits(text, outcome.edits) == outcome.text
            for edit in outcome.edits:
                record = edit.as_record()
                assert set(record) <= {"kind", "position", "old", "new", "ranks"}
                assert text[record["position"] : record["position"] + len(record["old"])] == record["old"]


def test_edit_records_refuse_inconsistent_or_overlapping_edits() -> None:
    with pytest.raises(ValueError):
        Edit("insert", 0, "old", "new")
    with pytest.raises(ValueError):
        Edit("substitute", 0, "", "new")
    with pytest.raises(ValueError, match="does not match"):
        apply_edits("abc def", [Edit.substitute(0, "xyz", "q")])
    with pytest.raises(ValueError, match="overlaps"):
        apply_edits("abc def", [Edit.substitute(0, "abc", "q"), Edit.substitute(1, "bc", "r")])
    edits = [Edit.insert(4, "new "), Edit.substitute(0, "abc", "xyz"), Edit.insert(7, "!"), Edit("delete", 3, " ", "")]
    assert apply_edits("abc def", edits) == "xyznew def!"


def test_substitution_options_feed_the_greedy_search_with_constraints(cranfield) -> None:
    text = next(t for t in cranfield.docs.values() if len(t.split()) > 60)
    doc = WordSequence(text)
    constraints = WordConstraints(budget=4)
    options = substitution_options(doc, "flow", constraints, SynonymSubstitution("combined"))
    assert options and all(doc.word(p) not in {"the", "of", "and"} for p in options)


def test_evaluation_reports_windowed_similarity_and_refuses_edits_that_do_not_replay(cranfield, minilm_bi_encoder) -> None:
    from robustness.errors import RobustnessError
    from robustness.protocols.attack import AttackOutcome
    from robustness.protocols.evaluation import evaluate_attack, summarise
    from robustness.text.similarity import SentenceSimilarity, window_similarity

    bm25 = BM25Ranker()
    bm25.prepare(cranfield.docs)
    engine = ScoringEngine(bm25, progress=False)
    queries = {"q": "shock wave boundary layer interaction"}
    lists = {"q": [d for d, _ in bm25.retrieve([queries["q"]], 30)[0]]}
    run = engine.rerank(queries, lists, cranfield.docs)
    similarity = SentenceSimilarity(device="cpu")
    make_rng = lambda *salt: random.Random("|".join(map(str, salt)))  # noqa: E731
    kwargs = dict(relevant={}, make_rng=make_rng, groups=("hard",), list_size=30, similarity=similarity, progress=False)
    results = evaluate_attack(engine, KeywordStuffing("start"), queries, run, cranfield.docs, **kwargs)
    for r in results:
        edits = [Edit(**{k: v for k, v in e.items() if k != "ranks"}) for e in r.edits]
        assert r.wss == pytest.approx(window_similarity(similarity, cranfield.docs[r.doc_id], r.adversarial_text, edits))
        assert 0 < r.wss < 1  # an inserted query changes the words around it
    assert summarise(results)["hard"]["wss"] == pytest.approx(np.mean([r.wss for r in results]))

    class Liar:
        name = "liar"

        def attack(self, target, victim, rng):
            return AttackOutcome(target.text + " extra", [Edit.insert(0, "other ")])

    with pytest.raises(RobustnessError, match="'liar': its edit records do not replay"):
        evaluate_attack(engine, Liar(), queries, run, cranfield.docs, **kwargs)
