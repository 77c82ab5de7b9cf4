"""Every figure the suite reports, defined once: tasks, attacks and reports import from here.

- Effectiveness: nDCG@10, MRR@10 and MAP through ranx, per query.
- Distribution (robustness task 1): mean, std, variance, worst-fraction mean, bootstrap CI.
- Attack figures (DESIGN §8): new rank by insertion, ASR, Boost, top-k rates, PP.
- Rank similarity: top-k overlap and rank-biased overlap of two rankings (imitation fidelity).
Percent-valued figures carry "(%)" in their docstring and are stored as 0..100.
"""

from __future__ import annotations

import math
import warnings
from typing import Mapping, Sequence

import numpy as np

from robustness.errors import ConfigError

EFFECTIVENESS = ("ndcg@10", "mrr@10", "map")
HEADLINE = "ndcg@10"
RANK_THRESHOLDS = (10, 20, 50, 100)

Run = Mapping[str, Mapping[str, float]]


def ranked(scores: Mapping[str, float]) -> list[str]:
    """Document ids best first: score descending, ties by document id ascending.

    The one ordering of a list used by every figure, report, TREC file and attack target."""
    return sorted(scores, key=lambda d: (-scores[d], d))


def break_ties(run: Run) -> dict[str, dict[str, float]]:
    """Scores replaced by rank-derived values following `ranked`'s order.

    ranx orders tied scores by its own (unstable) sort, so two evaluations of the same run could
    disagree; this is the one ordering used by every figure, report and TREC file.
    """
    out: dict[str, dict[str, float]] = {}
    for qid, scores in run.items():
        order = ranked(scores)
        out[qid] = {d: float(len(order) - i) for i, d in enumerate(order)}
    return out


GRADED = ("ndcg", "ndcg_burges", "dcg", "dcg_burges")
"""ranx metrics that use the relevance grade as gain; every other metric is binary."""


def is_graded(metric: str) -> bool:
    return metric.split("@")[0] in GRADED


# Collections whose binary metrics count a higher grade as relevant: TREC Deep Learning judges
# passages 0..3 and counts grade >= 2 as relevant.
_THRESHOLD_CONVENTIONS = {"trec-dl": 2}


def default_relevance_threshold(source: str) -> int:
    """The relevance threshold a collection's community uses (by its source: `irds:...trec-dl...`
    gets 2), 1 otherwise."""
    return next((t for key, t in _THRESHOLD_CONVENTIONS.items() if key in source), 1)


def check_metrics(metrics: Sequence[str], where: str = "metrics") -> None:
    """Fail in one line, before any scoring, on a metric name ranx does not know."""
    from ranx import Qrels, Run as RanxRun, evaluate

    if not metrics:
        raise ConfigError(f"{where}: name at least one metric")
    for metric in metrics:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                evaluate(Qrels({"q": {"d": 1}}), RanxRun({"q": {"d": 1.0}}), [metric])
        except Exception as exc:  # ranx raises ValueError / KeyError / IndexError for bad names
            raise ConfigError(f"{where}: unknown metric {metric!r} ({str(exc).splitlines()[0]})") from None


def ranx_name(metric: str, relevance_threshold: int = 1) -> str:
    """The ranx name that applies a relevance threshold to a binary metric (ranx's `-l<N>`
    suffix: "mrr@10" at threshold 2 is "mrr@10-l2"); graded metrics keep every grade."""
    if relevance_threshold == 1 or is_graded(metric) or "-l" in metric:
        return metric
    return f"{metric}-l{relevance_threshold}"


def per_query(
    qrels: Mapping[str, Mapping[str, int]], run: Run, metrics: Sequence[str] = EFFECTIVENESS, relevance_threshold: int = 1
) -> dict[str, dict[str, float]]:
    """metric -> query id -> value, over the queries of `qrels`; a query the run misses scores 0.

    Binary metrics (MRR, MAP, precision, recall...) count a document as relevant from grade
    `relevance_threshold` on (TREC Deep Learning: 2); graded ones (nDCG) use every grade as gain.
    """
    from ranx import Qrels, Run as RanxRun, evaluate

    qids = sorted(qrels)
    present = [q for q in qids if run.get(q)]
    out = {m: {q: 0.0 for q in qids} for m in metrics}
    if not present:
        return out
    names = {m: ranx_name(m, relevance_threshold) for m in metrics}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba's uint64 cast notices
        values = evaluate(
            Qrels({q: dict(qrels[q]) for q in present}),
            RanxRun(break_ties({q: run[q] for q in present})),
            list(names.values()),
            return_mean=False,
            make_comparable=False,
        )
    if len(metrics) == 1:
        values = {names[metrics[0]]: values}
    for metric in metrics:
        for qid, value in zip(present, np.atleast_1d(values[names[metric]])):
            out[metric][qid] = float(value)
    return out


def mean_effectiveness(per_query_values: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    return {m: float(np.mean(list(v.values()))) if v else 0.0 for m, v in per_query_values.items()}


# -- distribution of per-query effectiveness (I.I.D. robustness) --------------------------
def worst_fraction_mean(values: Sequence[float], fraction: float = 0.1) -> float:
    """Mean of the lowest `fraction` of values (at least one): the floor a user hits."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    if ordered.size == 0:
        return float("nan")
    count = max(1, int(np.floor(fraction * ordered.size)))
    return float(ordered[:count].mean())


def bootstrap_ci(values: Sequence[float], statistic=np.mean, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of `statistic` over queries."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, data.size, size=(n_resamples, data.size))
    stats = np.array([statistic(data[row]) for row in samples])
    tail = (1 - confidence) / 2
    return (float(np.quantile(stats, tail)), float(np.quantile(stats, 1 - tail)))


def distribution(values: Sequence[float], worst_fraction: float = 0.1, seed: int = 0) -> dict[str, float]:
    """Mean, std, variance, worst-fraction mean, and bootstrap 95% CIs of mean and std."""
    data = np.asarray(values, dtype=np.float64)
    mean_lo, mean_hi = bootstrap_ci(data, np.mean, seed=seed)
    std_lo, std_hi = bootstrap_ci(data, np.std, seed=seed)
    return {
        "mean": float(data.mean()),
        "std": float(data.std()),
        "var": float(data.var()),
        f"worst{int(round(worst_fraction * 100))}_mean": worst_fraction_mean(data, worst_fraction),
        "mean_ci_low": mean_lo,
        "mean_ci_high": mean_hi,
        "std_ci_low": std_lo,
        "std_ci_high": std_hi,
        "n_queries": int(data.size),
    }


def drop_ratio(reference: float, changed: float) -> float:
    """Relative loss (%) of `changed` against `reference`: 100·(ref − changed)/ref; 0 if ref is 0."""
    return 0.0 if reference == 0 else 100.0 * (reference - changed) / reference


# -- attack figures (DESIGN §8) ----------------------------------------------------------------
def rank_by_insertion(other_scores: Sequence[float], new_score: float) -> int:
    """1-based rank of a document scoring `new_score` among `other_scores` (the list without it).

    Ties rank the inserted document below the others, so an attack never gains from a tie.
    """
    return 1 + int(np.sum(np.asarray(other_scores, dtype=np.float64) >= new_score))


def attack_summary(old_ranks: Sequence[int], new_ranks: Sequence[int], perturbation: Sequence[float] | None = None) -> dict[str, float]:
    """ASR, Boost, T10R, T5R and ≤k rates over targets; PP when perturbation fractions are given.

    - asr (%): share of targets whose new rank is better (smaller) than the old one;
    - boost: mean rank gain (old − new; negative when the attack hurt);
    - t10r / t5r (%): share of targets in the top 10 / top 5 after the attack;
    - le{k} (%): share of targets at rank ≤ k after the attack, k in RANK_THRESHOLDS;
    - pp (%): mean share of the document's words that the attack changed.
    """
    old = np.asarray(old_ranks, dtype=np.float64)
    new = np.asarray(new_ranks, dtype=np.float64)
    if old.shape != new.shape:
        raise ValueError("old and new ranks must align")
    if old.size == 0:
        return {"n_targets": 0}
    summary = {
        "n_targets": int(old.size),
        "asr": float(100 * np.mean(new < old)),
        "boost": float(np.mean(old - new)),
        "t10r": float(100 * np.mean(new <= 10)),
        "t5r": float(100 * np.mean(new <= 5)),
    }
    for k in RANK_THRESHOLDS:
        summary[f"le{k}"] = float(100 * np.mean(new <= k))
    if perturbation is not None:
        summary["pp"] = float(100 * np.mean(perturbation))
    return summary


def perturbation_fraction(original: str, adversarial: str) -> float:
    """Share of the original's words that were replaced, or inserted anew, in `adversarial`.

    Word-level alignment (difflib) counts a substitution once and an insertion by its length,
    so PP is comparable across substitution and insertion attacks.
    """
    import difflib

    before, after = original.split(), adversarial.split()
    if not before:
        return 0.0
    changed = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes():
        if tag != "equal":
            changed += max(i2 - i1, j2 - j1)
    return changed / len(before)


# -- defence figures (DESIGN §9) ---------------------------------------------------------------
def roc_auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """Area under the ROC curve of scores that should be higher for `positive` (adversarial)
    than for `negative` (clean): the probability that a random positive outscores a random
    negative, ties counting one half (Mann–Whitney U / (n_pos · n_neg)); NaN if a side is empty."""
    pos = np.asarray(positive, dtype=np.float64)
    neg = np.asarray(negative, dtype=np.float64)
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    values = np.concatenate([pos, neg])
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size, dtype=np.float64)
    sorted_values = values[order]
    start = 0
    while start < values.size:  # average ranks over ties
        end = start
        while end + 1 < values.size and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    u = ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2
    return float(u / (pos.size * neg.size))


def certified_rates(certified: Sequence[Sequence[int]], ks: Sequence[int]) -> dict[int, float]:
    """CRQ@K (%): for each K of `ks`, the share of queries whose certified K values include K."""
    if not certified:
        return {k: float("nan") for k in ks}
    return {k: float(100 * np.mean([k in set(c) for c in certified])) for k in ks}


# -- rank similarity (imitation fidelity) ---------------------------------------------------
def _check_rankings(a: Sequence[str], b: Sequence[str]) -> None:
    """A ranking is a non-empty list of distinct ids: overlap counts would be wrong otherwise."""
    for name, items in (("a", a), ("b", b)):
        if not items:
            raise ValueError(f"ranking {name} is empty")
        if len(set(items)) != len(items):
            raise ValueError(f"ranking {name} lists an id more than once")


def top_k_overlap(a: Sequence[str], b: Sequence[str], k: int = 10) -> float:
    """|top-k(a) ∩ top-k(b)| / k, with k capped at the shorter list: how many of one ranking's
    top documents the other also puts on top, whatever their order within the top."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    _check_rankings(a, b)
    k = min(len(a), len(b), k)
    return len(set(a[:k]) & set(b[:k])) / k


def rank_biased_overlap(a: Sequence[str], b: Sequence[str], p: float = 0.7, depth: int | None = None) -> float:
    """Extrapolated rank-biased overlap RBO_ext of two rankings evaluated to the same depth
    k = min(len(a), len(b), depth) (Webber, Moffat & Zobel, TOIS 2010, eq. 32):

        RBO_ext = (X_k/k)·p^k + ((1−p)/p)·Σ_{d=1..k} (X_d/d)·p^d,   X_d = |a[:d] ∩ b[:d]|.

    Top-weighted agreement of two rankings, which is what imitation fidelity asks of a
    surrogate: disagreement at rank 1 costs more than at rank 10, and items beyond the depth
    are assumed to agree as well as at depth k. p = 0.7 as in Order-Disorder and PAT: the
    first ranks carry nearly all the weight (about the top 10). The PyPI `rbo` package was
    considered and rejected: it pins numpy<2, and its verbose flag uses `~bool` (always truthy).

    Computed as Σ_d A_d·(p^{d−1} − p^d) + A_k·p^k with A_d = X_d/d (the same sum, since
    ((1−p)/p)·p^d = p^{d−1} − p^d) and an exact float sum, so identical rankings give exactly 1.0
    (the terms telescope) and disjoint ones exactly 0.0.
    """
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if depth is not None and depth < 1:
        raise ValueError(f"depth must be >= 1 or None, got {depth}")
    _check_rankings(a, b)
    k = min(len(a), len(b), depth or len(a))
    seen_a: set[str] = set()
    seen_b: set[str] = set()
    overlap = 0
    terms: list[float] = []
    for d in range(1, k + 1):
        x, y = a[d - 1], b[d - 1]
        overlap += 1 if x == y else (x in seen_b) + (y in seen_a)
        seen_a.add(x)
        seen_b.add(y)
        agreement = overlap / d
        terms += [agreement * p ** (d - 1), -agreement * p**d]
    terms.append(agreement * p**k)
    return math.fsum(terms)


def topic_summary(old_ranks: Sequence[Sequence[int]], new_ranks: Sequence[Sequence[int]]) -> dict[str, float]:
    """Topic-attack figures (TARA, DESIGN §8.2) over targets, each promoted for a group of
    queries (`old_ranks[i]`, `new_ranks[i]`: target i's rank in each query's list):

    - topic_asr (%): share of the group's queries where the target rose, averaged over targets;
    - topic_boost: the mean rank gain over the group's queries, averaged over targets;
    - half_improved (%): share of targets that rose for at least half of their group's queries.
    Averaging per target first weighs every group the same, whatever its size.
    """
    if len(old_ranks) != len(new_ranks):
        raise ValueError("old and new ranks must align")
    if not old_ranks:
        return {"n_targets": 0}
    rose, gain = [], []
    for old, new in zip(old_ranks, new_ranks):
        before, after = np.asarray(old, dtype=np.float64), np.asarray(new, dtype=np.float64)
        if before.shape != after.shape or before.size == 0:
            raise ValueError("each target needs one old and one new rank per query of its group")
        rose.append(float(np.mean(after < before)))
        gain.append(float(np.mean(before - after)))
    return {
        "n_targets": len(old_ranks),
        "topic_asr": float(100 * np.mean(rose)),
        "topic_boost": float(np.mean(gain)),
        "half_improved": float(100 * np.mean([r >= 0.5 for r in rose])),
    }
