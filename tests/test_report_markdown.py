"""Markdown task tables: one table per kind of row."""

from __future__ import annotations

from robustness.report.markdown import task_table


def test_rows_of_another_kind_get_their_own_table() -> None:
    attack = {"asr": 50.0, "victim_queries": 90.0}
    results = {
        "minilm": {"summary": {"prada hard": attack, "prada setup": {"victim_queries": 3000, "spearman": 0.4}}},
        "ce": {"summary": {"prada hard": {"asr": 20.0, "victim_queries": 80.0}}},
        "broken": {"error": "RankerError: NaN"},
    }
    tables = task_table(results).split("\n\n")
    assert len(tables) == 3
    first, setup, error = tables
    assert first.splitlines()[0] == "| Ranker | Condition | asr | victim_queries |"
    assert first.count("prada hard") == 2 and "3000" not in first and "—" not in first
    assert setup.splitlines()[0] == "| Ranker | Condition | victim_queries | spearman |" and "| minilm | prada setup | 3000 | 0.4000 |" in setup
    assert "RankerError: NaN" in error


def test_attack_examples_mark_the_changed_words() -> None:
    from robustness.report.markdown import attack_examples, marked_example

    text = "The cell membrane was thick in stage three of the experiment."
    edits = [{"kind": "substitute", "position": text.index("cell"), "old": "cell", "new": "jail"},
             {"kind": "substitute", "position": text.index("stage"), "old": "stage", "new": "leg"}]
    assert marked_example(text, edits, context=8) == "The [[cell→jail]] membran … hick in [[stage→leg]] three o"
    insert = [{"kind": "insert", "position": 0, "old": "", "new": "cell biology "}]
    assert marked_example(text, insert, context=4) == "[[+cell biology]]The "
    results = {"minilm": {"details": {"prada": {"records": [
        {"query_id": "q1", "doc_id": "d1", "old_rank": 90, "new_rank": 70, "edits": edits},
        {"query_id": "q2", "doc_id": "d1", "old_rank": 80, "new_rank": 80, "edits": []},
    ]}}}}
    lines = attack_examples(results, {"d1": text})
    assert lines == ["- minilm / prada, query q1, document d1 (rank 90 → 70): " + marked_example(text, edits)]
