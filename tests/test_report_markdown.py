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


def test_attack_task_sections_say_how_target_groups_are_drawn() -> None:
    from robustness.report.markdown import GROUPS_NOTE, render_markdown

    def data(records: list[dict]) -> dict:
        return {
            "name": "r", "seed": 1, "versions": {}, "rankers": {},
            "dataset": {"name": "d", "source": "s", "fingerprint": "f", "split": "test", "n_queries": 1, "candidates_k": 100},
            "tasks": {"adv_spam": {"minilm": {"summary": {"spam hard": {"asr": 1.0}}, "details": {"spam": {"records": records}}}}},
        }

    attack = render_markdown(data([{"query_id": "q", "doc_id": "d", "group": "hard", "old_rank": 99, "new_rank": 99, "edits": []}]))
    other = render_markdown(data([{"query_id": "q", "doc_id": "d"}]))
    assert GROUPS_NOTE in attack and "disjoint" in GROUPS_NOTE
    assert GROUPS_NOTE not in other
