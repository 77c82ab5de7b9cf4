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
