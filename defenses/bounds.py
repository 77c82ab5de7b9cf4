"""Confidence bounds and certification rules of CertDR (DESIGN §9.1, issue 10).

A query's ranked list is certified at K when no document outside the smoothed top K can
enter it under any substitution attack: its smoothed score plus its worst-case shift Δ_d must
stay below every top-K score, with the Monte Carlo error of the estimated scores accounted for.
Three rules, all on smoothed scores ĝ in [0, 1] (the base score squashed by a sigmoid):

- `certified_loose`: the released CertDR code's ĝ(d_K) − ĝ(d_{K+1}) − max Δ − ε > 0;
- `certified_tight`: the paper's min over top-K ĝ − max over the rest (ĝ + Δ_d) > ε; it
  certifies every list the loose rule does (min top-K ĝ is ĝ(d_K) and each Δ_d ≤ max Δ);
- `certified_by_intervals`: per-document confidence intervals [L_d, U_d] holding together with
  probability ≥ 1 − α (a union bound over the list), certified when min over top-K L_d > max
  over the rest (U_d + Δ_d). With empirical-Bernstein intervals this uses each document's
  sample variance: a ranker's sigmoid scores under smoothing are often concentrated, and the
  interval then shrinks like 1/n instead of Hoeffding's 1/√n.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from robustness.errors import ConfigError


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha}")


def _check_n(n: int, least: int = 1) -> None:
    if not isinstance(n, (int, np.integer)) or n < least:
        raise ConfigError(f"the number of smoothing samples must be an integer >= {least}, got {n!r}")


def hoeffding_epsilon(n: int, alpha: float = 0.05) -> float:
    """The paper's Monte Carlo error ε = 2·√(ln(2/α) / (2n)): a Hoeffding radius for each of
    the two compared scores, for scores in [0, 1] estimated from n samples."""
    _check_n(n)
    _check_alpha(alpha)
    return 2.0 * math.sqrt(math.log(2.0 / alpha) / (2.0 * n))


def _sorted_by_score(g: Sequence[float], delta: Sequence[float], k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores, shifts and the descending order; K must leave at least one document outside."""
    scores = np.asarray(g, dtype=np.float64)
    shifts = np.asarray(delta, dtype=np.float64)
    if scores.ndim != 1 or scores.shape != shifts.shape:
        raise ConfigError(f"smoothed scores and Δ must be two lists of one length, got shapes {scores.shape} and {shifts.shape}")
    if not 1 <= k < scores.size:
        raise ConfigError(f"K must be between 1 and the list size - 1 ({scores.size - 1}), got {k}")
    return scores, shifts, np.argsort(-scores, kind="stable")


def certified_loose(g: Sequence[float], delta: Sequence[float], k: int, epsilon: float) -> bool:
    """The released code's rule: the gap between the K-th and (K+1)-th smoothed scores must
    exceed the largest Δ of the list plus ε."""
    scores, shifts, order = _sorted_by_score(g, delta, k)
    return bool(scores[order[k - 1]] - scores[order[k]] - shifts.max() - epsilon > 0.0)


def certified_tight(g: Sequence[float], delta: Sequence[float], k: int, epsilon: float) -> bool:
    """The paper's rule: every top-K smoothed score beats every other document's smoothed score
    plus its own Δ_d by more than ε."""
    scores, shifts, order = _sorted_by_score(g, delta, k)
    rest = order[k:]
    return bool(scores[order[:k]].min() - (scores[rest] + shifts[rest]).max() > epsilon)


def certified_by_intervals(g: Sequence[float], lower: Sequence[float], upper: Sequence[float], delta: Sequence[float], k: int) -> bool:
    """Certified when the smallest lower bound in the top K (by ĝ) exceeds the largest upper
    bound plus Δ_d among the rest; the intervals must hold jointly (see `intervals`)."""
    scores, shifts, order = _sorted_by_score(g, delta, k)
    lo, hi = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    if lo.shape != scores.shape or hi.shape != scores.shape:
        raise ConfigError("lower and upper bounds must have one value per document")
    rest = order[k:]
    return bool(lo[order[:k]].min() > (hi[rest] + shifts[rest]).max())


def empirical_bernstein_radius(variance: np.ndarray, n: int, delta: float) -> np.ndarray:
    """Maurer and Pontil's (2009, Thm 4) one-sided bound for the mean of [0, 1] variables:
    with probability ≥ 1 − delta the mean is within √(2 V ln(2/delta) / n) + 7 ln(2/delta) / (3(n − 1))
    of the sample mean, V being the unbiased sample variance."""
    _check_n(n, least=2)
    log_term = math.log(2.0 / delta)
    return np.sqrt(2.0 * np.asarray(variance, dtype=np.float64) * log_term / n) + 7.0 * log_term / (3.0 * (n - 1))


def intervals(samples: np.ndarray, alpha: float = 0.05, method: str = "bernstein") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Means and two-sided intervals, clipped to [0, 1], for each row of `samples` (documents ×
    n smoothed scores in [0, 1]) that hold for all rows together with probability ≥ 1 − α:
    each row gets α / rows (union bound), split over its two sides.

    `method`: "bernstein" (empirical Bernstein, variance-aware) or "hoeffding" (the same union
    bound with Hoeffding's radius √(ln(2·rows/α) / (2n)), for comparison)."""
    _check_alpha(alpha)
    values = np.asarray(samples, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] < 2:
        raise ConfigError(f"samples must be documents x n with n >= 2, got shape {values.shape}")
    if values.size and (values.min() < 0.0 or values.max() > 1.0):
        raise ConfigError("smoothed scores must lie in [0, 1] (squash the base scores first)")
    rows, n = values.shape
    per_side = alpha / (2.0 * rows)
    means = values.mean(axis=1)
    if method == "bernstein":
        radius = empirical_bernstein_radius(values.var(axis=1, ddof=1), n, per_side)
    elif method == "hoeffding":
        radius = np.full(rows, math.sqrt(math.log(1.0 / per_side) / (2.0 * n)))
    else:
        raise ConfigError(f"unknown interval method {method!r} (bernstein, hoeffding)")
    return means, np.clip(means - radius, 0.0, 1.0), np.clip(means + radius, 0.0, 1.0)
