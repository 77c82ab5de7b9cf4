"""Confidence bounds and certification rules of CertDR (DESIGN §9.1, issue 10).

A query's ranked list is certified at K when no document outside the smoothed top K can
enter it under any substitution attack: its smoothed score plus its worst-case shift Δ_d must
stay below every top-K score, with the Monte Carlo error of the estimated scores accounted for.
Every rule here reads per-document intervals [L_d, U_d] around the smoothed scores ĝ in [0, 1]:

- `certified_loose`: the released CertDR code's ĝ(d_K) − ĝ(d_{K+1}) − max Δ − ε > 0, read as
  min over top-K L_d − max over the rest U_d − max Δ > 0 (the same when all n are equal, and
  still comparing whole sides when early stopping leaves documents with different n);
- `certified_tight`: the paper's min over top-K ĝ − max over the rest (ĝ + Δ_d) > ε, i.e. min
  over top-K L_d > max over the rest (U_d + Δ_d); on the same intervals it certifies every
  list the loose rule does, as each Δ_d ≤ max Δ.

The paper's rules are these two on `paper_intervals`, ĝ ± ε/2 with ε = 2·√(ln(2/α) / (2n))
(equal n: exactly the paper's inequalities). The sharper rule is the tight rule on
`intervals`: empirical-Bernstein intervals holding together with probability ≥ 1 − α (a union
bound over the list). They use each document's sample variance: a ranker's sigmoid scores under
smoothing are often concentrated, and the interval then shrinks like 1/n instead of 1/√n.
`open_documents` says which documents more samples could still help, for early stopping.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from robustness.errors import ConfigError


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha}")


def _check_n(n: int) -> None:
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"the number of smoothing samples must be an integer >= 1, got {n!r}")


def hoeffding_epsilon(n: int, alpha: float = 0.05) -> float:
    """The paper's Monte Carlo error ε = 2·√(ln(2/α) / (2n)): a Hoeffding radius for each of
    the two compared scores, for scores in [0, 1] estimated from n samples."""
    _check_n(n)
    _check_alpha(alpha)
    return 2.0 * math.sqrt(math.log(2.0 / alpha) / (2.0 * n))


def _check_k(g: Sequence[float], lower: Sequence[float], upper: Sequence[float], delta: Sequence[float], k: int) -> tuple[np.ndarray, ...]:
    """The four per-document arrays and the descending order; K must leave a document outside."""
    arrays = tuple(np.asarray(a, dtype=np.float64) for a in (g, lower, upper, delta))
    if arrays[0].ndim != 1 or any(a.shape != arrays[0].shape for a in arrays):
        raise ConfigError(f"smoothed scores, bounds and Δ must be lists of one length, got shapes {[a.shape for a in arrays]}")
    if not 1 <= k < arrays[0].size:
        raise ConfigError(f"K must be between 1 and the list size - 1 ({arrays[0].size - 1}), got {k}")
    return (*arrays, np.argsort(-arrays[0], kind="stable"))


def certified_loose(g: Sequence[float], lower: Sequence[float], upper: Sequence[float], delta: Sequence[float], k: int) -> bool:
    """The released code's rule: the top K's lowest lower bound must beat the rest's highest
    upper bound by more than the largest Δ of the list."""
    _, lo, hi, shifts, order = _check_k(g, lower, upper, delta, k)
    return bool(lo[order[:k]].min() - hi[order[k:]].max() - shifts.max() > 0.0)


def certified_tight(g: Sequence[float], lower: Sequence[float], upper: Sequence[float], delta: Sequence[float], k: int) -> bool:
    """The paper's rule: the smallest lower bound in the top K (by ĝ) beats every other
    document's upper bound plus its own Δ_d."""
    _, lo, hi, shifts, order = _check_k(g, lower, upper, delta, k)
    rest = order[k:]
    return bool(lo[order[:k]].min() > (hi[rest] + shifts[rest]).max())


def open_documents(g: Sequence[float], lower: Sequence[float], upper: Sequence[float], delta: Sequence[float], ks: Sequence[int]) -> np.ndarray:
    """Which documents more samples could still help (tight rule), as a boolean mask.

    A K is settled when it is certified, or when it cannot be: some top-K document's upper
    bound is already at most some other document's lower bound plus Δ (intervals only shrink).
    At an open K, the documents that may bind are the top-K ones whose lower bound does not
    yet clear the rest, and the others whose upper bound plus Δ still reaches the top K's
    lowest bound. Stopping a document never makes a certificate unsound; if sampling more
    would reorder the list, it can only cost a certificate the full n would have given.
    """
    scores, lo, hi, shifts = (np.asarray(a, dtype=np.float64) for a in (g, lower, upper, delta))
    order = np.argsort(-scores, kind="stable")
    wanted = np.zeros(scores.size, dtype=bool)
    for k in ks:
        top, rest = order[:k], order[k:]
        reach = (hi[rest] + shifts[rest]).max()
        if lo[top].min() > reach or hi[top].min() <= (lo[rest] + shifts[rest]).max():
            continue
        wanted[top[lo[top] <= reach]] = True
        wanted[rest[hi[rest] + shifts[rest] >= lo[top].min()]] = True
    return wanted


def paper_intervals(means: np.ndarray, counts: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """ĝ ± ε/2 with ε = 2·√(ln(2/α) / (2n)) per document (its own n), not clipped, no union
    bound: with these, the loose and tight rules are the released code's and the paper's."""
    _check_alpha(alpha)
    radius = np.sqrt(math.log(2.0 / alpha) / (2.0 * np.asarray(counts, dtype=np.float64)))
    return means - radius, means + radius


def empirical_bernstein_radius(variance: np.ndarray, n: np.ndarray | int, delta: float) -> np.ndarray:
    """Maurer and Pontil's (2009, Thm 4) one-sided bound for the mean of [0, 1] variables:
    with probability ≥ 1 − delta the mean is within √(2 V ln(2/delta) / n) + 7 ln(2/delta) / (3(n − 1))
    of the sample mean, V being the unbiased sample variance."""
    counts = np.asarray(n, dtype=np.float64)
    if counts.size and counts.min() < 2:
        raise ConfigError(f"the number of smoothing samples must be an integer >= 2, got {n!r}")
    log_term = math.log(2.0 / delta)
    return np.sqrt(2.0 * np.asarray(variance, dtype=np.float64) * log_term / counts) + 7.0 * log_term / (3.0 * (counts - 1))


def sample_stats(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Means, unbiased variances and counts of each row of a documents × n matrix in [0, 1]."""
    values = np.asarray(samples, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] < 2:
        raise ConfigError(f"samples must be documents x n with n >= 2, got shape {values.shape}")
    if values.size and (values.min() < 0.0 or values.max() > 1.0):
        raise ConfigError("smoothed scores must lie in [0, 1] (squash the base scores first)")
    return values.mean(axis=1), values.var(axis=1, ddof=1), np.full(values.shape[0], values.shape[1])


def intervals(
    means: np.ndarray, variances: np.ndarray, counts: np.ndarray, alpha: float = 0.05, method: str = "bernstein"
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided intervals, clipped to [0, 1], around the means of scores in [0, 1] that hold
    for all documents together with probability ≥ 1 − α: each gets α / documents (union bound),
    split over its two sides.

    `method`: "bernstein" (empirical Bernstein, variance-aware) or "hoeffding" (the same union
    bound with Hoeffding's radius √(ln(2·documents/α) / (2n)), for comparison)."""
    _check_alpha(alpha)
    means, variances, counts = (np.asarray(a, dtype=np.float64) for a in (means, variances, counts))
    if means.size and (means.min() < 0.0 or means.max() > 1.0):
        raise ConfigError("smoothed scores must lie in [0, 1] (squash the base scores first)")
    per_side = alpha / (2.0 * means.size)
    if method == "bernstein":
        radius = empirical_bernstein_radius(variances, counts, per_side)
    elif method == "hoeffding":
        radius = np.sqrt(math.log(1.0 / per_side) / (2.0 * counts))
    else:
        raise ConfigError(f"unknown interval method {method!r} (bernstein, hoeffding)")
    return np.clip(means - radius, 0.0, 1.0), np.clip(means + radius, 0.0, 1.0)
