"""Rank similarity of two rankings (imitation fidelity): top-k overlap and extrapolated
rank-biased overlap (Webber, Moffat & Zobel, TOIS 2010, eq. 32), by hand and against a
brute-force evaluation of the equation as written."""

from __future__ import annotations

import random

import pytest

from robustness.metrics import rank_biased_overlap, top_k_overlap


def rbo_ext_by_sets(a: list[str], b: list[str], p: float, depth: int | None = None) -> float:
    """Eq. 32 as printed, with X_d recomputed from the sets of each prefix (no running count)."""
    k = min(len(a), len(b), depth or len(a))
    x = {d: len(set(a[:d]) & set(b[:d])) for d in range(1, k + 1)}
    return x[k] / k * p**k + (1 - p) / p * sum(x[d] / d * p**d for d in range(1, k + 1))


# -- top-k overlap -------------------------------------------------------------------------
def test_top_k_overlap_by_hand() -> None:
    a, b = ["w", "x", "y", "z"], ["x", "w", "u", "v"]
    assert top_k_overlap(a, b, k=1) == 0.0  # {w} vs {x}
    assert top_k_overlap(a, b, k=2) == 1.0  # {w, x} both: order within the top does not count
    assert top_k_overlap(a, b, k=3) == pytest.approx(2 / 3)  # {w, x, y} ∩ {x, w, u} = {w, x}
    assert top_k_overlap(a, b) == 0.5  # k = 10 capped at 4: {w, x} of 4
    assert top_k_overlap(["w", "x", "y"], ["y", "x", "w", "u", "v"]) == 1.0  # capped at the shorter: 3 of 3
    assert top_k_overlap(a, ["p", "q"], k=5) == 0.0


# -- rank-biased overlap ---------------------------------------------------------------------
def test_rbo_by_hand() -> None:
    ten = [f"d{i}" for i in range(10)]
    assert rank_biased_overlap(ten, list(ten)) == 1.0  # exactly: X_d = d, the weights sum to 1
    assert rank_biased_overlap(ten, [f"e{i}" for i in range(10)]) == 0.0  # X_d = 0 at every depth
    # a = [x, y], b = [y, x], p = 0.5: X_1 = 0, X_2 = 2;
    # (2/2)·0.5² + ((1 − 0.5)/0.5)·(0/1·0.5 + 2/2·0.5²) = 0.25 + 1·(0 + 0.25) = 0.5.
    assert rank_biased_overlap(["x", "y"], ["y", "x"], p=0.5) == 0.5
    # a = [x, y, z], b = [x, w, y], p = 0.7: X_1 = 1 {x}, X_2 = 1 {x}, X_3 = 2 {x, y};
    # (2/3)·0.7³ + (0.3/0.7)·(1/1·0.7 + 1/2·0.49 + 2/3·0.343)
    #   = 0.686/3 + 0.3·(1 + 0.35 + 0.98/3) = 0.686/3 + 0.405 + 0.098 = 2.195/3 = 0.731666...
    assert rank_biased_overlap(["x", "y", "z"], ["x", "w", "y"], p=0.7) == pytest.approx(2.195 / 3, rel=1e-12)
    # depth 1 of the same lists: X_1 = 1: 1·0.7 + (0.3/0.7)·0.7 = 1.
    assert rank_biased_overlap(["x", "y", "z"], ["x", "w", "y"], p=0.7, depth=1) == pytest.approx(1.0)


def test_rbo_is_top_weighted() -> None:
    """Swapping ranks 1-2 of a 10-list costs more than swapping ranks 9-10.

    Only X_1 (= 0) resp. X_9 (= 8) fall short, so RBO_ext = 1 − (1 − p)·p^(d−1)·(1 − X_d/d):
    1 − 0.3 = 0.7 for ranks 1-2, 1 − 0.3·0.7⁸/9 ≈ 0.99808 for ranks 9-10."""
    ten = [f"d{i}" for i in range(10)]
    top, bottom = list(ten), list(ten)
    top[0], top[1] = top[1], top[0]
    bottom[8], bottom[9] = bottom[9], bottom[8]
    assert rank_biased_overlap(ten, top) == pytest.approx(0.7)
    assert rank_biased_overlap(ten, bottom) == pytest.approx(1 - 0.3 * 0.7**8 / 9)
    assert rank_biased_overlap(ten, top) < rank_biased_overlap(ten, bottom) < 1.0


def test_rbo_matches_the_equation_by_sets_on_random_rankings() -> None:
    rng = random.Random(0)
    pool = [f"d{i}" for i in range(30)]
    for _ in range(200):
        a, b = rng.sample(pool, rng.randint(1, 20)), rng.sample(pool, rng.randint(1, 20))
        p = rng.uniform(0.05, 0.95)
        depth = rng.choice([None, rng.randint(1, 25)])
        value = rank_biased_overlap(a, b, p, depth)
        assert value == pytest.approx(rbo_ext_by_sets(a, b, p, depth), rel=1e-9, abs=1e-12)
        assert 0.0 <= value <= 1.0
        assert value == pytest.approx(rank_biased_overlap(b, a, p, depth), rel=1e-12)  # symmetric


# -- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, says",
    [
        (lambda: top_k_overlap(["x"], ["x"], k=0), "k must be >= 1"),
        (lambda: top_k_overlap([], ["x"]), "ranking a is empty"),
        (lambda: top_k_overlap(["x", "x"], ["x"]), "ranking a lists an id more than once"),
        (lambda: rank_biased_overlap(["x"], []), "ranking b is empty"),
        (lambda: rank_biased_overlap(["x"], ["y", "y"]), "ranking b lists an id more than once"),
        (lambda: rank_biased_overlap(["x"], ["x"], p=0.0), r"p must be in \(0, 1\)"),
        (lambda: rank_biased_overlap(["x"], ["x"], p=1.0), r"p must be in \(0, 1\)"),
        (lambda: rank_biased_overlap(["x"], ["x"], depth=0), "depth must be >= 1"),
    ],
)
def test_bad_input_fails_in_one_line(call, says) -> None:
    with pytest.raises(ValueError, match=says) as raised:
        call()
    assert "\n" not in str(raised.value)
