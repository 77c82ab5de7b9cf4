"""An out-of-tree package plugs an attack, a certifier and a detector in by entry point, as a
user's package would: `robustness list` shows them and a spec runs them through the tasks.

The package (tests/plugin_demo) is installed into a temporary directory with pip; its
components are test doubles of the protocols, small real implementations checked here against
independent computations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from robustness import run_benchmark

DEMO = Path(__file__).parent / "plugin_demo"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("plugin-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index", "--target", str(target), str(DEMO)],
        check=True, capture_output=True, timeout=300, cwd=tmp_path_factory.mktemp("build"),
    )
    return target


@pytest.fixture
def installed(site, monkeypatch) -> Path:
    monkeypatch.syspath_prepend(str(site))
    return site


def test_robustness_list_shows_the_plugins(site) -> None:
    env = dict(os.environ, PYTHONPATH=str(site))
    out = subprocess.run([sys.executable, "-m", "robustness.cli", "list", "--params"], capture_output=True, text=True, timeout=120, env=env, check=True).stdout
    sections: dict[str, list[str]] = {}
    for line in out.splitlines():
        if not line.startswith(" "):
            current = sections.setdefault(line.rstrip(":"), [])
        elif line.startswith("  ") and not line.startswith("    "):
            current.append(line.split()[0])
    assert "demo_append" in sections["attacks"] and "prada" in sections["attacks"]
    assert "demo_gap" in sections["certifiers"] and "certdr" in sections["certifiers"]
    assert sections["detectors"] == ["demo_overlap", "osd_spamicity", "perplexity"]  # the plug-in beside the built-ins, sorted
    assert "Certify the top-K of a list when the K-th score beats" in out
    assert "params: margin: float=0.5" in out


def test_a_spec_runs_the_plugins(installed, tmp_path) -> None:
    spec = {
        "name": "plugins", "seed": 4, "dataset": "cranfield", "max_queries": 6, "candidates_k": 30, "rankers": ["bm25"],
        "tasks": [
            {"name": "adv_spam", "params": {"attacks": [{"name": "demo_append", "params": {"times": 2}}], "max_queries": 3}},
            {"name": "certification", "params": {"certifier": {"name": "demo_gap", "params": {"margin": 0.5}}, "list_size": 10, "ks": [1, 2, 3, 5], "max_queries": 6}},
            {"name": "detection", "params": {"detector": "demo_overlap", "attacks": ["keyword_stuffing", "demo_append"], "max_queries": 3}},
        ],
    }
    results = run_benchmark(spec, output_dir=tmp_path, progress=False)
    assert not results.errors, results.errors
    tasks = results.data["tasks"]

    records = tasks["adv_spam"]["bm25"]["details"]["demo-append-2"]["records"]
    assert records and all(r["edits"][0]["kind"] == "insert" for r in records)

    # CRQ@K recomputed from the BM25 run written to runs/bm25.trec
    run: dict[str, list[float]] = {}
    for line in (tmp_path / "runs" / "bm25.trec").read_text().splitlines():
        qid, _, _, _, score, _ = line.split()
        run.setdefault(qid, []).append(float(score))
    certified = tasks["certification"]["bm25"]
    qids = sorted(certified["per_query"])
    assert len(qids) == 6
    for k in (1, 2, 3, 5):
        expected = np.mean([run[q][k - 1] - run[q][k] > 0.5 for q in qids]) * 100
        assert certified["summary"]["gap"][f"crq@{k}"] == pytest.approx(expected, abs=1e-4)  # TREC files keep 6 decimals
    effectiveness = certified["summary"]["effectiveness"]
    assert effectiveness["ndcg@10_smoothed"] == pytest.approx(effectiveness["ndcg@10_base"])  # the double "smooths" nothing

    detection = tasks["detection"]["bm25"]["summary"]
    for attack in ("query+start", "demo-append-1"):  # stuffing raises the share of query words
        figures = detection[attack]
        assert figures["auc"] > 0.5 and 0 < figures["n_adversarial"] <= 3 * 10
        assert figures["n_clean"] == 3 * 30 - figures["n_adversarial"]  # every other document of the attacked lists
        assert 0 <= figures["false_positive_rate"] <= figures["detection_rate"] <= 100
    profile = json.loads((tmp_path / "results.json").read_text())["profile"]["bm25"]
    assert {"certification", "detection", "adv_spam"} <= set(profile)
