"""The interval estimates the scorecard decides by, against independent computations: the score
equation that defines Wilson's interval, Newcombe's published worked examples, exact bootstrap
distributions of tiny cases, and the closed form of Spearman's coefficient without ties."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenshift.analysis.inference import Z, newcombe, paired_bootstrap, spearman, wilson


def test_z_is_the_two_sided_95_percent_normal_quantile():
    assert Z == pytest.approx(1.959964, abs=1e-6)


@given(st.integers(0, 500), st.integers(1, 500))
def test_wilson_interval_contains_the_estimate(k, n):
    k = min(k, n)
    lo, hi = wilson(k, n)
    assert 0 <= lo <= k / n <= hi <= 1


@given(st.integers(1, 499), st.integers(2, 500))
def test_wilson_endpoints_solve_the_score_equation(k, n):
    """Wilson's interval is the set of p0 the score test keeps: its ends satisfy (p - p0)^2 = z^2 p0 (1 - p0) / n."""
    k = min(k, n - 1)
    p = k / n
    for p0 in wilson(k, n):
        assert (p - p0) ** 2 == pytest.approx(Z * Z * p0 * (1 - p0) / n, rel=1e-9, abs=1e-15)


def test_wilson_at_zero_successes_has_its_closed_form():
    """0 of n: the upper end is z^2 / (n + z^2)."""
    for n in (1, 10, 2000):
        assert wilson(0, n) == pytest.approx((0.0, Z * Z / (n + Z * Z)))


# Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10 (score, no continuity correction).
NEWCOMBE_EXAMPLES = [((56, 70, 48, 80), (0.0524, 0.3339)), ((9, 10, 3, 10), (0.1705, 0.8090)),
                     ((6, 7, 2, 7), (0.0582, 0.8062)), ((5, 56, 0, 29), (-0.0381, 0.1926)),
                     ((0, 10, 0, 20), (-0.1611, 0.2775)), ((0, 10, 0, 10), (-0.2775, 0.2775)),
                     ((10, 10, 0, 20), (0.6791, 1.0)), ((10, 10, 0, 10), (0.6075, 1.0))]


@pytest.mark.parametrize("counts, expected", NEWCOMBE_EXAMPLES)
def test_newcombe_reproduces_the_published_examples(counts, expected):
    d = newcombe(*counts, z=1.96)
    assert (d.low, d.high) == pytest.approx(expected, abs=2e-4)


@given(st.integers(0, 60), st.integers(1, 60), st.integers(0, 60), st.integers(1, 60))
def test_newcombe_is_antisymmetric_and_contains_the_difference(k1, n1, k2, n2):
    k1, k2 = min(k1, n1), min(k2, n2)
    d, r = newcombe(k1, n1, k2, n2), newcombe(k2, n2, k1, n1)
    assert -1 <= d.low <= d.estimate <= d.high <= 1
    assert (d.low, d.high) == pytest.approx((-r.high, -r.low))


def test_paired_bootstrap_of_a_constant_difference_is_that_difference():
    base = np.array([0.0, 0.25, 0.5, 0.25, 0.0, 0.5])
    d = paired_bootstrap(base + 0.25, base)
    assert (d.estimate, d.low, d.high) == pytest.approx((0.25, 0.25, 0.25))
    same = paired_bootstrap(base, base)
    assert (same.low, same.high) == (0.0, 0.0)


def test_pairing_removes_the_problems_difficulty_from_the_noise():
    """Problems differ a lot, the arms by little: the paired interval sees only the per-problem differences."""
    rng = np.random.default_rng(1)
    difficulty = rng.uniform(0, 1, 200)
    gain = rng.choice([0.0, 0.1], 200)
    d = paired_bootstrap(difficulty + gain, difficulty)
    se = gain.std() / math.sqrt(200)
    assert d.low > 0 and d.high - d.low == pytest.approx(2 * Z * se, rel=0.15)  # normal theory


def test_paired_bootstrap_resamples_seeds_within_an_arm():
    """Seeds at 0.4 and 0.6 against 0.5, every problem alike: only seeds vary, and two seeds drawn with
    replacement average 0.4, 0.5 or 0.6 with chances 1/4, 1/2, 1/4, so the 95% interval is [-0.1, 0.1]."""
    a = np.array([[0.4] * 30, [0.6] * 30])
    d = paired_bootstrap(a, np.full(30, 0.5))
    assert (d.estimate, d.low, d.high) == pytest.approx((0.0, -0.1, 0.1))


def test_paired_bootstrap_needs_the_same_problems():
    with pytest.raises(ValueError, match="same, non-zero number of problems"):
        paired_bootstrap(np.zeros(3), np.zeros(4))


@settings(max_examples=50)
@given(st.permutations(list(range(8))))
def test_spearman_without_ties_is_its_closed_form(y):
    n = len(y)
    d2 = sum((i - r) ** 2 for i, r in enumerate(y))
    assert spearman(list(range(n)), y) == pytest.approx(1 - 6 * d2 / (n * (n * n - 1)))


def test_spearman_reads_ranks_only_and_is_undefined_for_a_constant():
    steps = [10, 20, 30, 40]
    assert spearman(steps, [0.001, 0.002, 0.5, 0.9]) == pytest.approx(1.0)
    assert spearman(steps, [0.9, 0.5, 0.002, 0.001]) == pytest.approx(-1.0)
    assert math.isnan(spearman(steps, [0.0] * 4))
    assert spearman(steps, [0.0, 0.0, 1.0, 1.0]) == pytest.approx(math.sqrt(0.8))  # ties share their average rank

