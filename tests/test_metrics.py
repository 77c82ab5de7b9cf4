"""Every reported figure against examples computed by hand (or by a second, naive computation)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from robustness.metrics import (
    attack_summary,
    bootstrap_ci,
    distribution,
    drop_ratio,
    mean_effectiveness,
    per_query,
    perturbation_fraction,
    rank_by_insertion,
    worst_fraction_mean,
)

# -- effectiveness -------------------------------------------------------------------------
# q1: ranking c, b, a, z; grades a=2, b=1, c=0, x=1 (x never retrieved).
# q2: ranking f, e, g; only e relevant.   q3: judged but absent from the run.
QRELS = {
    "q1": {"a": 2, "b": 1, "c": 0, "x": 1},
    "q2": {"e": 1},
    "q3": {"h": 1},
}
RUN = {
    "q1": {"c": 0.9, "b": 0.8, "a": 0.7, "z": 0.6},
    "q2": {"f": 0.5, "e": 0.4, "g": 0.3},
}
L3 = math.log2(3)
# nDCG@10 with linear gain g/log2(rank+1) (trec_eval / ranx):
#   q1 DCG = 0 + 1/log2(3) + 2/log2(4); ideal [2, 1, 1] -> 2 + 1/log2(3) + 1/2
#   q2 DCG = 1/log2(3); ideal = 1
EXPECTED = {
    "ndcg@10": {"q1": (1 / L3 + 1) / (2 + 1 / L3 + 0.5), "q2": 1 / L3, "q3": 0.0},
    # first relevant at rank 2 in both
    "mrr@10": {"q1": 0.5, "q2": 0.5, "q3": 0.0},
    # AP = mean over ALL relevant docs (3 for q1) of precision at their ranks (x counts 0)
    "map": {"q1": (1 / 2 + 2 / 3) / 3, "q2": 1 / 2, "q3": 0.0},
}


def test_per_query_matches_hand_computation() -> None:
    values = per_query(QRELS, RUN)
    assert set(values) == {"ndcg@10", "mrr@10", "map"}
    for metric, expected in EXPECTED.items():
        assert set(values[metric]) == {"q1", "q2", "q3"}
        for qid, value in expected.items():
            assert values[metric][qid] == pytest.approx(value, abs=1e-9), (metric, qid)


def test_mean_effectiveness_averages_over_all_judged_queries() -> None:
    means = mean_effectiveness(per_query(QRELS, RUN))
    for metric, expected in EXPECTED.items():
        assert means[metric] == pytest.approx(sum(expected.values()) / 3, abs=1e-9)


def test_single_metric_and_query_missing_from_the_run() -> None:
    values = per_query(QRELS, {"q2": RUN["q2"], "q1": {}}, ["ndcg@10"])
    assert values == {"ndcg@10": {"q1": 0.0, "q2": pytest.approx(1 / L3), "q3": 0.0}}
    assert per_query(QRELS, {}, ["mrr@10"]) == {"mrr@10": {"q1": 0.0, "q2": 0.0, "q3": 0.0}}


def test_cutoff_at_ten() -> None:
    run = {"q": {f"d{i}": 100.0 - i for i in range(1, 13)}}  # d11 at rank 11
    values = per_query({"q": {"d11": 1}}, run)
    assert values["ndcg@10"]["q"] == 0.0
    assert values["mrr@10"]["q"] == 0.0
    assert values["map"]["q"] == pytest.approx(1 / 11)


# -- distribution of per-query values ---------------------------------------------------------
VALUES = [0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6, 0.0]


@pytest.mark.parametrize("fraction, expected", [(0.1, 0.0), (0.3, 0.1), (0.25, 0.05), (0.05, 0.0), (1.0, 0.45)])
def test_worst_fraction_mean(fraction, expected) -> None:
    assert worst_fraction_mean(VALUES, fraction) == pytest.approx(expected)


def test_worst_fraction_mean_edge_cases() -> None:
    assert math.isnan(worst_fraction_mean([], 0.1))
    for bad in (0, -0.1, 1.5):
        with pytest.raises(ValueError):
            worst_fraction_mean(VALUES, bad)


def test_distribution_by_hand() -> None:
    figures = distribution([1.0, 2.0, 3.0, 4.0], worst_fraction=0.5, seed=3)
    assert figures["mean"] == 2.5
    # population variance over the queries: ((1.5^2 + 0.5^2) * 2) / 4
    assert figures["var"] == pytest.approx(1.25)
    assert figures["std"] == pytest.approx(math.sqrt(1.25))
    assert figures["worst50_mean"] == 1.5
    assert figures["n_queries"] == 4
    assert figures["mean_ci_low"] <= 2.5 <= figures["mean_ci_high"]
    assert 1.0 <= figures["mean_ci_low"] and figures["mean_ci_high"] <= 4.0
    assert figures["std_ci_low"] <= figures["std_ci_high"]
    assert "worst10_mean" in distribution([1.0, 2.0])


def test_bootstrap_ci_covers_the_mean_with_the_textbook_width() -> None:
    rng = np.random.default_rng(123)
    data = rng.normal(0.5, 0.2, size=400)
    low, high = bootstrap_ci(data, n_resamples=2000, seed=0)
    assert low < data.mean() < high
    # normal approximation: 95% CI half-width = 1.96 * sd / sqrt(n)
    half_width = 1.96 * data.std() / math.sqrt(data.size)
    assert (high - low) / 2 == pytest.approx(half_width, rel=0.15)


def test_bootstrap_ci_is_seed_deterministic() -> None:
    data = np.random.default_rng(5).random(50)
    assert bootstrap_ci(data, seed=7) == bootstrap_ci(data, seed=7)
    assert bootstrap_ci(data, seed=7) != bootstrap_ci(data, seed=8)
    assert bootstrap_ci([0.3] * 20) == (pytest.approx(0.3), pytest.approx(0.3))
    low, high = bootstrap_ci([])
    assert math.isnan(low) and math.isnan(high)


def test_drop_ratio() -> None:
    assert drop_ratio(0.5, 0.4) == pytest.approx(20.0)
    assert drop_ratio(0.5, 0.6) == pytest.approx(-20.0)
    assert drop_ratio(0.8, 0.0) == pytest.approx(100.0)
    assert drop_ratio(0.0, 0.3) == 0.0


# -- attack figures ------------------------------------------------------------------------------
def full_rerank_position(other_scores: list[float], new_score: float) -> int:
    """Naive: sort everything, the inserted document after any document with an equal score."""
    entries = [(s, 0) for s in other_scores] + [(new_score, 1)]
    entries.sort(key=lambda e: (-e[0], e[1]))
    return entries.index((new_score, 1)) + 1


def test_rank_by_insertion_equals_a_full_rerank() -> None:
    rng = random.Random(2024)
    ties = 0
    for trial in range(500):
        n = rng.randint(0, 120)
        if trial % 2:  # coarse integer scores: many ties
            others = [float(rng.randint(0, 5)) for _ in range(n)]
            new = float(rng.randint(-1, 6))
        else:
            others = [rng.gauss(0, 1) for _ in range(n)]
            new = rng.choice(others) if others and trial % 4 == 0 else rng.gauss(0, 1)
        ties += new in others
        assert rank_by_insertion(others, new) == full_rerank_position(others, new)
    assert ties > 100  # the tie rule was really exercised


def test_rank_by_insertion_by_hand() -> None:
    assert rank_by_insertion([3.0, 2.0, 1.0], 2.5) == 2
    assert rank_by_insertion([3.0, 2.0, 1.0], 2.0) == 3  # a tie never helps the attacker
    assert rank_by_insertion([3.0, 2.0, 1.0], 9.0) == 1
    assert rank_by_insertion([], 0.0) == 1


def test_attack_summary_by_hand() -> None:
    old = [60, 95, 100, 55]
    new = [10, 95, 3, 70]  # improved (to exactly rank 10), unchanged, improved, hurt
    summary = attack_summary(old, new, perturbation=[0.1, 0.0, 0.2, 0.3])
    assert summary["n_targets"] == 4
    assert summary["asr"] == pytest.approx(50.0)
    assert summary["boost"] == pytest.approx((50 + 0 + 97 - 15) / 4)
    assert summary["t10r"] == pytest.approx(50.0)  # rank 10 is in the top 10
    assert summary["t5r"] == pytest.approx(25.0)
    assert (summary["le10"], summary["le20"], summary["le50"], summary["le100"]) == pytest.approx((50.0, 50.0, 50.0, 100.0))
    assert summary["pp"] == pytest.approx(15.0)


def test_attack_summary_edge_cases() -> None:
    assert "pp" not in attack_summary([5], [4])
    assert attack_summary([], []) == {"n_targets": 0}
    with pytest.raises(ValueError):
        attack_summary([1, 2], [1])


@pytest.mark.parametrize(
    "original, adversarial, expected",
    [
        ("the quick brown fox", "the quick brown fox", 0.0),
        ("the quick brown fox", "the fast brown fox", 1 / 4),  # one substitution
        ("a b c d e", "a X c Y e", 2 / 5),  # two substitutions
        ("a b c d", "x y a b c d", 2 / 4),  # insertion at the start counts its length
        ("a b c d", "a b c d x y z", 3 / 4),  # ... and at the end
        ("a b c d", "a b x c d", 1 / 4),  # one word in the middle
        ("a b c d", "a b d", 1 / 4),  # a deletion
        ("", "anything", 0.0),
    ],
)
def test_perturbation_fraction(original, adversarial, expected) -> None:
    assert perturbation_fraction(original, adversarial) == pytest.approx(expected)
