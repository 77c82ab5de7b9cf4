"""Detectors inside the attack tasks: each attack's "detection" row (AUC, rates, mean scores,
the score of the inserted text alone), fitted without the attacked lists' documents, rendered
in the report; a detector that does not exist fails when the task is built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robustness import run_benchmark
from robustness.config import ComponentSpec
from robustness.errors import ConfigError
from robustness.tasks.attack_tasks import SpamTask, SubstitutionTask


def test_adv_spam_reports_detection_per_attack_fitted_held_out(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RECORD_DIR", str(tmp_path))
    detectors = ["osd_spamicity", f"{Path(__file__).with_name('test_detection.py')}:RecordingDetector"]
    spec = {
        "name": "attack-detectors", "seed": 4, "dataset": "cranfield", "max_queries": 6, "candidates_k": 30, "rankers": ["bm25"],
        "tasks": [{"name": "adv_spam", "params": {"max_queries": 2, "detectors": detectors}}],
    }
    results = run_benchmark(spec, output_dir=tmp_path / "out", progress=False)
    assert not results.errors, results.errors
    figures = results.data["tasks"]["adv_spam"]["bm25"]
    summary = figures["summary"]
    assert {k for k in summary if k.endswith(" detection")} == {"query+start detection", "query+end detection", "query+repeat detection"}
    for attack in ("query+start", "query+end", "query+repeat"):
        row = summary[f"{attack} detection"]
        assert all(isinstance(v, float) for v in row.values()), row
        n_adversarial = len(figures["details"][attack]["records"])
        assert row["osd_spamicity n_adversarial"] == row["recording n_adversarial"] == n_adversarial
        assert row["osd_spamicity n_clean"] == 2 * 30 - n_adversarial
        assert row["osd_spamicity auc"] > 0.5  # the stuffed query raises spamicity
        assert 0 <= row["osd_spamicity detection_rate"] <= 100 and 0 <= row["osd_spamicity false_positive_rate"] <= 100
        assert row["osd_spamicity mean_adversarial"] > row["osd_spamicity mean_clean"]
        assert row["osd_spamicity inserted"] > row["osd_spamicity mean_clean"]  # the query words alone
        assert row["recording auc"] == 0.5 and "recording detection_rate" not in row  # constant scores, no threshold
        assert "recording inserted" in row
    fitted, scored = (set(json.loads((tmp_path / f"{name}.json").read_text())) for name in ("fitted", "scored"))
    assert len(fitted) > 1000 and not scored & fitted  # the attacked lists' documents were held out
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| query+start detection |" in report and "osd_spamicity inserted" in report


def test_an_unknown_or_misconfigured_detector_fails_when_the_task_is_built() -> None:
    for task in (SpamTask, SubstitutionTask):
        with pytest.raises(ConfigError, match="unknown detector 'no_such_detector'") as raised:
            task(detectors=["osd_spamicity", "no_such_detector"])
        assert "\n" not in str(raised.value)
    with pytest.raises(ConfigError, match=r"adv_spam detectors\.0\.params: unknown parameter\(s\) bogus"):
        SpamTask(detectors=[ComponentSpec(name="osd_spamicity", params={"bogus": 1})])
