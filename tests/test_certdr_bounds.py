"""CertDR's confidence bounds and certification rules (defenses/bounds.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robustness.defenses.bounds import (
    certified_loose,
    certified_tight,
    hoeffding_epsilon,
    intervals,
    open_documents,
    paper_intervals,
    sample_stats,
)
from robustness.errors import ConfigError


def test_hoeffding_epsilon_by_hand() -> None:
    assert hoeffding_epsilon(100, 0.05) == pytest.approx(2 * math.sqrt(math.log(40) / 200))
    assert hoeffding_epsilon(100, 0.05) == pytest.approx(0.2716, abs=1e-4)  # the "n = 100 gives ε ≈ 0.27"
    assert hoeffding_epsilon(1000, 0.05) == pytest.approx(0.0859, abs=1e-4)
    with pytest.raises(ConfigError, match="alpha"):
        hoeffding_epsilon(100, 1.5)
    with pytest.raises(ConfigError, match="integer >= 1"):
        hoeffding_epsilon(0)


def _paper(g, epsilon):
    """ĝ ± ε/2: the intervals under which the rules are the paper's inequalities with ε."""
    g = np.asarray(g, dtype=np.float64)
    return g - epsilon / 2, g + epsilon / 2


def test_rules_on_a_hand_case() -> None:
    # Top-2 by ĝ: 0.9, 0.8. The rest: 0.5 (Δ 0.05) and 0.3 (Δ 0.4).
    g, delta = [0.5, 0.9, 0.3, 0.8], [0.05, 0.0, 0.4, 0.0]
    # tight: 0.8 - max(0.55, 0.7) = 0.10; loose: 0.8 - 0.5 - 0.4 = -0.10
    assert certified_tight(g, *_paper(g, 0.09), delta, k=2)
    assert not certified_tight(g, *_paper(g, 0.11), delta, k=2)
    assert not certified_loose(g, *_paper(g, 0.0), delta, k=2)
    assert certified_loose(g, *_paper(g, 0.15), [0.05, 0.0, 0.1, 0.0], k=2)  # 0.8 - 0.5 - 0.1 = 0.2
    assert not certified_loose(g, *_paper(g, 0.21), [0.05, 0.0, 0.1, 0.0], k=2)
    with pytest.raises(ConfigError, match="K must be between 1"):
        certified_tight(g, *_paper(g, 0.0), delta, k=4)


def test_paper_intervals_are_half_epsilon_wide_per_document() -> None:
    lo, hi = paper_intervals(np.array([0.5, 0.2]), np.array([100, 400]), alpha=0.05)
    assert (hi - lo).tolist() == pytest.approx([hoeffding_epsilon(100), hoeffding_epsilon(400)])
    assert lo[1] == pytest.approx(0.2 - hoeffding_epsilon(400) / 2)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 0.3)), min_size=2, max_size=30),
    st.integers(1, 29),
)
def test_the_tight_rule_certifies_everything_the_loose_rule_does(docs, k) -> None:
    """Random scores, shifts and per-document radii (as early stopping leaves them)."""
    g, delta, radius = (np.array([d[i] for d in docs]) for i in range(3))
    k = min(k, len(docs) - 1)
    if certified_loose(g, g - radius, g + radius, delta, k):
        assert certified_tight(g, g - radius, g + radius, delta, k)


def test_open_documents_by_hand() -> None:
    g = np.array([0.9, 0.7, 0.5, 0.1])
    delta = np.zeros(4)
    # K = 1 certified (0.85 > 0.75), K = 3 cannot be any more (0.55 <= 0.05 + 0.6 = 0.65):
    # nothing open at those K.
    lo, hi = g - 0.05, g + 0.05
    assert not open_documents(g, lo, hi, delta + [0, 0, 0, 0.6], [1, 3]).any()
    # K = 2 open: the third document's interval reaches the second's lower bound.
    lo, hi = g - np.array([0.05, 0.12, 0.12, 0.05]), g + np.array([0.05, 0.12, 0.12, 0.05])
    assert open_documents(g, lo, hi, delta, [2]).tolist() == [False, True, True, False]
    assert open_documents(g, lo, hi, delta, [1]).tolist() == [False, False, False, False]


def test_interval_radii_by_hand() -> None:
    """Two documents, α = 0.05: each side of each interval gets 0.05 / 4 (union bound over the
    list, two sides), so ln(2 / δ) = ln(160) in Maurer and Pontil's radius and ln(80) in Hoeffding's."""
    samples = np.array([[0.2, 0.4, 0.6, 0.8], [0.5, 0.5, 0.5, 0.5]])
    means, variances, counts = sample_stats(samples)
    lo, hi = intervals(means, variances, counts, alpha=0.05, method="bernstein")
    variance = np.var([0.2, 0.4, 0.6, 0.8], ddof=1)
    radius = math.sqrt(2 * variance * math.log(160) / 4) + 7 * math.log(160) / 9
    assert means.tolist() == pytest.approx([0.5, 0.5])
    assert hi[0] == pytest.approx(min(1.0, 0.5 + radius)) and lo[1] == pytest.approx(max(0.0, 0.5 - 7 * math.log(160) / 9))
    wide = np.tile([0.0, 1.0], (2, 500))  # n = 1000: radii below 0.5, so no clipping
    lo_b, _ = intervals(*sample_stats(wide), alpha=0.05, method="bernstein")
    eb = math.sqrt(2 * np.var(wide[0], ddof=1) * math.log(160) / 1000) + 7 * math.log(160) / (3 * 999)
    assert lo_b[0] == pytest.approx(0.5 - eb)
    lo_h, _ = intervals(*sample_stats(wide), alpha=0.05, method="hoeffding")
    assert lo_h[0] == pytest.approx(0.5 - math.sqrt(math.log(80) / 2000))


def test_intervals_cover_the_true_means_jointly() -> None:
    """Simulated smoothed scores (Beta-distributed, some concentrated): in 400 trials the 20
    intervals of a list all hold their true means in at least 1 - α of the trials."""
    rng = np.random.default_rng(7)
    a = rng.uniform(1, 200, size=20)
    b = rng.uniform(1, 200, size=20)
    true = a / (a + b)
    for method in ("bernstein", "hoeffding"):
        covered = 0
        for _ in range(400):
            samples = rng.beta(a[:, None], b[:, None], size=(20, 100))
            lo, hi = intervals(*sample_stats(samples), alpha=0.05, method=method)
            covered += bool(np.all((lo <= true) & (true <= hi)))
        assert covered / 400 >= 0.95, method


def test_bernstein_intervals_certify_concentrated_scores_that_hoeffding_cannot() -> None:
    rng = np.random.default_rng(3)
    means = np.array([0.80, 0.76, 0.70, 0.62, 0.55])
    samples = np.clip(means[:, None] + rng.normal(0, 0.01, size=(5, 1000)), 0, 1)
    delta = np.full(5, 0.02)
    g, variances, counts = sample_stats(samples)
    lo_b, hi_b = intervals(g, variances, counts, method="bernstein")
    lo_h, hi_h = intervals(g, variances, counts, method="hoeffding")
    assert np.all(hi_b - lo_b < hi_h - lo_h)
    assert certified_tight(g, lo_b, hi_b, delta, k=2)
    assert not certified_tight(g, lo_h, hi_h, delta, k=2)
    assert not certified_tight(g, *paper_intervals(g, counts, 0.05), delta, k=2)


def test_intervals_refuse_scores_outside_the_unit_interval() -> None:
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        sample_stats(np.array([[0.2, 1.3]]))
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        intervals(np.array([1.2]), np.array([0.0]), np.array([4]))
    with pytest.raises(ConfigError, match="n >= 2"):
        sample_stats(np.array([[0.2]]))
    with pytest.raises(ConfigError, match="integer >= 2"):
        intervals(np.array([0.2]), np.array([0.0]), np.array([1]))
    with pytest.raises(ConfigError, match="unknown interval method"):
        intervals(*sample_stats(np.array([[0.2, 0.3]])), method="wald")


@pytest.mark.parametrize(
    "params, message",
    [
        ({"samples": 1}, "samples must be an integer >= 2"),
        ({"temperature": 0}, "temperature must be > 0"),
        ({"alpha": 2.0}, "alpha must be in"),
        ({"set_size": 0}, "substitution set size must be an integer >= 1"),
        ({"budget": -1}, "substitution budget R must be"),
        ({"looks": 0}, "looks must be an integer from 1"),
        ({"samples": 100, "looks": 9}, r"looks must be an integer from 1 to log2\(samples\) \+ 1 \(7\)"),
    ],
)
def test_certdr_refuses_bad_parameters_when_built(params, message) -> None:
    from robustness.defenses.certdr import CertDR

    with pytest.raises(ConfigError, match=message):
        CertDR(**params)
