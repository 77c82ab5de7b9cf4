"""Render results.json content as a Markdown report and as the terminal summary.

Tasks put their reportable figures under `summary`: scalars, or one level of named groups of
scalars (e.g. per query-variation type). Everything else a task returns (per-query values,
details) stays in results.json only.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from robustness.report.significance import markdown_table


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_format(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def profile_table(data: Mapping[str, Any]) -> str:
    """Rankers x tasks, one headline figure a cell: the robustness profile."""
    profile = data.get("profile") or {}
    tasks = list(data.get("tasks") or {})
    if not profile or not tasks:
        return ""
    header = ["Ranker"] + [f"{t}: {_label(profile, t)}" for t in tasks]
    rows = []
    for ranker in data["rankers"]:
        cells = profile.get(ranker, {})
        rows.append([ranker] + [cells[t]["value"] if t in cells else "—" for t in tasks])
    return _table(header, rows)


def _label(profile: Mapping[str, Any], task: str) -> str:
    for cells in profile.values():
        if task in cells:
            return cells[task]["label"]
    return ""


def task_table(task_results: Mapping[str, Any]) -> str:
    """Rows (ranker, group) x scalar figures from each ranker's `summary`.

    Rows that carry the same figures share a table, so figures of another kind (e.g. an
    attack's one-off setup next to its per-target figures) get a table of their own instead
    of widening one table with empty cells and unrelated columns of the same name.
    """
    rows: list[tuple[str, str, Mapping[str, Any]]] = []
    for ranker, figures in task_results.items():
        if "error" in figures:
            rows.append((ranker, "", {"error": figures["error"]}))
            continue
        summary = figures.get("summary", {})
        scalars = {k: v for k, v in summary.items() if not isinstance(v, Mapping)}
        if scalars:
            rows.append((ranker, "", scalars))
        rows += [(ranker, group, values) for group, values in summary.items() if isinstance(values, Mapping)]
    kinds: dict[tuple[str, ...], list[tuple[str, str, Mapping[str, Any]]]] = {}
    for row in rows:
        kinds.setdefault(tuple(row[2]), []).append(row)
    tables = []
    for columns, members in kinds.items():
        has_groups = any(group for _, group, _ in members)
        header = ["Ranker"] + (["Condition"] if has_groups else []) + list(columns)
        body = [[r] + ([g] if has_groups else []) + [v[c] for c in columns] for r, g, v in members]
        tables.append(_table(header, body))
    return "\n\n".join(tables)


def short_list_notes(data: Mapping[str, Any]) -> list[str]:
    """One line per task cell that left queries out because their candidate list was short."""
    notes = []
    for task, results in (data.get("tasks") or {}).items():
        for ranker, figures in results.items():
            short = figures.get("n_short_lists") if isinstance(figures, Mapping) else None
            if short:
                notes.append(f"{task} on {ranker}: {short} queries left out (candidate list shorter than {data['dataset']['candidates_k']}); {figures.get('n_queries')} attacked")
    return notes


def marked_example(original: str, edits: list[Mapping[str, Any]], context: int = 40) -> str:
    """The changed passages of a document, each edit shown as [[old→new]] (or [[+new]] for an
    insertion) with `context` characters either side; passages are joined with " … "."""
    pieces = []
    for edit in sorted(edits, key=lambda e: e["position"]):
        start, end = edit["position"], edit["position"] + len(edit["old"])
        change = f"[[{edit['old']}→{edit['new']}]]" if edit["old"] else f"[[+{edit['new'].strip()}]]"
        before = original[max(0, start - context) : start]
        after = original[end : end + context]
        pieces.append(f"{before}{change}{after}".replace("\n", " ").replace("|", "\\|"))
    return " … ".join(pieces)


def attack_examples(task_results: Mapping[str, Any], docs: Mapping[str, str] | None, per_attack: int = 3) -> list[str]:
    """A few original → adversarial examples per ranker and attack (the first records with edits)."""
    lines = []
    for ranker, figures in task_results.items():
        for attack, detail in (figures.get("details") or {}).items() if isinstance(figures, Mapping) else ():
            shown = [r for r in detail.get("records", []) if r.get("edits")][:per_attack]
            for record in shown:
                original = (docs or {}).get(record["doc_id"])
                if original is None or not all("position" in e and "old" in e for e in record["edits"]):
                    continue
                if "query_ids" in record:  # a topic attack's record: one target, a group of queries
                    where = f"group {record['group_id']}, document {record['doc_id']} (ranks {record['old_ranks']} → {record['new_ranks']})"
                else:
                    where = f"query {record['query_id']}, document {record['doc_id']} (rank {record['old_rank']} → {record['new_rank']})"
                lines.append(f"- {ranker} / {attack}, {where}: {marked_example(original, record['edits'])}")
    return lines


GROUPS_NOTE = (
    "Targets: Easy-5 is one document drawn from each of five equal rank bins of the list's lower half "
    "(ranks 51–100 for a top-100 list), Hard-5 the last five, judged-relevant documents excluded; "
    "Easy-5 never draws a Hard-5 document, so the groups are disjoint and \"all\" "
    "counts every target once."
)


def _has_target_groups(task_results: Mapping[str, Any]) -> bool:
    """Whether a task's records carry Easy-5/Hard-5 groups (an attack task), so the report says how they are drawn."""
    return any(
        record.get("group") in ("easy", "hard")
        for figures in task_results.values() if isinstance(figures, Mapping)
        for detail in (figures.get("details") or {}).values() if isinstance(detail, Mapping)
        for record in detail.get("records", [])[:1]
    )


def render_markdown(data: Mapping[str, Any], docs: Mapping[str, str] | None = None) -> str:
    dataset = data["dataset"]
    parts = [
        f"# Robustness report: {data['name']}",
        "",
        f"Dataset `{dataset['name']}` ({dataset['source']}, fingerprint `{dataset['fingerprint']}`), split "
        f"`{dataset['split']}`, {dataset['n_queries']} queries, BM25 top-{dataset['candidates_k']} re-ranked; binary metrics "
        f"count grade ≥ {dataset.get('relevance_threshold', 1)} as relevant. "
        f"Seed {data['seed']}. Versions: " + ", ".join(f"{k} {v}" for k, v in data["versions"].items()) + ".",
        "",
        "## Rankers",
        "",
        _table(["Ranker", "Fingerprint", "Model", "Seconds"], [
            [n, r.get("fingerprint", "—"), r.get("model") or "—", r.get("seconds", "—")] if "error" not in r else [n, "error", r["error"], "—"]
            for n, r in data["rankers"].items()
        ]),
    ]
    if data.get("comparison"):
        parts += ["", "## Effectiveness (in-domain)", "", markdown_table(data["comparison"])]
    profile = profile_table(data)
    if profile:
        parts += ["", "## Robustness profile", "", profile]
    for task, results in (data.get("tasks") or {}).items():
        parts += ["", f"## Task `{task}`", "", task_table(results)]
        if _has_target_groups(results):
            parts += ["", GROUPS_NOTE]
        examples = attack_examples(results, docs)
        if examples:
            parts += ["", "Examples (changed words marked [[original→adversarial]]):", ""] + examples
    notes = short_list_notes(data)
    if notes:
        parts += ["", "## Queries left out", ""] + [f"- {n}" for n in notes]
    if data.get("data_warnings"):
        parts += ["", "## Data warnings", ""] + [f"- {w}" for w in data["data_warnings"]]
    if data.get("errors"):
        parts += ["", "## Errors", ""] + [f"- {e}" for e in data["errors"]]
    return "\n".join(parts) + "\n"


def render_summary(data: Mapping[str, Any]) -> str:
    """The terminal summary: effectiveness with significance marks, then the profile."""
    parts = []
    if data.get("comparison"):
        table = markdown_table(data["comparison"])
        parts.append(re.sub(r"<sup>(\w+)</sup>", r"^\1", table))
    profile = profile_table(data)
    if profile:
        parts += ["", "Robustness profile", profile]
    notes = short_list_notes(data)
    if notes:
        parts += ["", "Queries left out:"] + [f"  {n}" for n in notes]
    if data.get("data_warnings"):
        parts += ["", "Data warnings:"] + [f"  {w}" for w in data["data_warnings"]]
    if data.get("errors"):
        parts += ["", "Errors:"] + [f"  {e}" for e in data["errors"]]
    return "\n".join(parts)
