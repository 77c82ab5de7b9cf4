"""Paired significance comparison of rankers with ranx, rendered as Markdown and LaTeX.

The Markdown table follows ranx's convention: a superscript letter on a value means the
ranker is significantly better than the ranker with that letter (paired test, p ≤ max_p).
"""

from __future__ import annotations

import string
import warnings
from typing import Any, Mapping

from robustness.data.collection import Qrels
from robustness.metrics import break_ties, ranx_name


def compare_runs(
    qrels: Qrels,
    runs: Mapping[str, Mapping[str, Mapping[str, float]]],
    metrics: list[str],
    stat_test: str = "student",
    max_p: float = 0.05,
    seed: int = 0,
    relevance_threshold: int = 1,
) -> tuple[dict[str, Any], str]:
    """(ranx report as a dict, LaTeX table) for runs over the same queries; binary metrics
    count grades from `relevance_threshold` on (the dict keeps the spec's metric names)."""
    from ranx import Qrels as RanxQrels, Run, compare

    names = {ranx_name(m, relevance_threshold): m for m in metrics}
    ranx_runs = [Run(break_ties({q: run[q] for q in qrels if run.get(q)}), name=name) for name, run in runs.items()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = compare(
            RanxQrels({q: dict(v) for q, v in qrels.items()}), ranx_runs, metrics=list(names),
            stat_test=stat_test, max_p=max_p, random_seed=seed, make_comparable=True,
        )
    data = _renamed(report.to_dict(), names)
    data["max_p"] = max_p
    return data, report.to_latex()


def _renamed(value: Any, names: Mapping[str, str]) -> Any:
    """The report dict with ranx's metric names (e.g. "mrr@10-l2") back to the spec's."""
    if isinstance(value, dict):
        return {names.get(k, k): _renamed(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [names.get(v, v) if isinstance(v, str) else _renamed(v, names) for v in value]
    return value


def significance_letters(report: Mapping[str, Any], model: str, metric: str) -> str:
    """Letters of the models that `model` significantly beats on `metric`."""
    letters = dict(zip(report["model_names"], string.ascii_lowercase))
    mine = report[model]["scores"][metric]
    beaten = [
        letters[other]
        for other, p_values in report[model]["comparisons"].items()
        if p_values[metric] <= report["max_p"] and mine > report[other]["scores"][metric]
    ]
    return "".join(sorted(beaten))


def markdown_table(report: Mapping[str, Any]) -> str:
    metrics = report["metrics"]
    lines = [
        "| # | Ranker | " + " | ".join(metrics) + " |",
        "|---|---|" + "---|" * len(metrics),
    ]
    for letter, model in zip(string.ascii_lowercase, report["model_names"]):
        cells = []
        for metric in metrics:
            marks = significance_letters(report, model, metric)
            value = f"{report[model]['scores'][metric]:.4f}"
            cells.append(value + (f"<sup>{marks}</sup>" if marks else ""))
        lines.append(f"| {letter} | {model} | " + " | ".join(cells) + " |")
    test = {"student": "paired Student's t-test", "fisher": "Fisher's randomization test", "tukey": "Tukey's HSD test", "wilcoxon": "Wilcoxon signed-rank test"}[report["stat_test"]]
    lines.append("")
    lines.append(f"Superscripts: significantly better than the ranker with that letter ({test}, p ≤ {report['max_p']}).")
    return "\n".join(lines)
