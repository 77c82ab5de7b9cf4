"""Are two runs' results the same? Every figure, per-query value and per-target attack record.

A refactoring must not change what a benchmark reports. Run the same spec with the code before
and after, then:

    python benchmarks/equivalence.py BEFORE/results.json AFTER/results.json

Compared: each ranker's effectiveness and per-query values, the significance comparison, every
task's figures and, for attacks, every per-target record (query, document, group, old and new
rank, adversarial text, PP, SS, victim queries, and the (old, new) words of its edits — the
edit records' layout may differ between versions, their content may not). Texts are compared
with runs of whitespace collapsed: keyword stuffing used to collapse a document's spacing when
it inserted the query and now keeps it, which no ranker or figure can see. Not compared: what
varies by nature (timestamps, seconds, package versions, engine cache statistics, the spec's
output directory). Exit 0 when identical; else 1, listing the first differences.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

IGNORED = {"created", "finished", "seconds", "stages", "versions", "engine", "train_seconds", "cached", "spec", "spec_hash", "fingerprint", "class"}


def edit_words(edit: dict[str, Any]) -> tuple[str, str]:
    """(old, new) text of an edit in any of the record layouts the suite has used."""
    for old, new in (("old", "new"), ("from", "to"), ("replace", "with")):
        if old in edit:
            return str(edit[old]).strip(), str(edit[new]).strip()
    if "insert" in edit:
        return "", str(edit["insert"]).strip()
    raise ValueError(f"unknown edit record {edit}")


def normalise(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: normalise(v, k) for k, v in value.items() if k not in IGNORED}
    if isinstance(value, list):
        if key == "edits":
            return [edit_words(e) for e in value]
        return [normalise(v, key) for v in value]
    if key == "adversarial_text":
        return " ".join(value.split())
    return value


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}.{k}: only in {'before' if k in a else 'after'}" for k in sorted(set(a) ^ set(b))]
        for k in sorted(set(a) & set(b)):
            out += differences(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items before, {len(b)} after"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return []
    return [] if a == b else [f"{path}: {a!r} before, {b!r} after"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args()
    before, after = (normalise(json.loads(p.read_text(encoding="utf-8"))) for p in (args.before, args.after))
    found = differences(before, after)
    records = sum(len(r.get("records", [])) for t in after.get("tasks", {}).values() for c in t.values() for r in c.get("details", {}).values())
    if found:
        print(f"{len(found)} difference(s):")
        print("\n".join(found[:40]))
        sys.exit(1)
    print(f"identical: {len(after.get('rankers', {}))} rankers, {len(after.get('tasks', {}))} tasks, {records} per-target attack records")


if __name__ == "__main__":
    main()
