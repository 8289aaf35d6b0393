"""Interval estimates and a trend statistic for deciding claims beyond the noise.

- :func:`wilson`: a proportion (the score interval: never outside [0, 1], sound near 0 and 1);
- :func:`newcombe`: the difference of two independent proportions, from their Wilson intervals
  (Newcombe 1998, method 10), rather than asking whether two intervals overlap, which is a
  different and much weaker test;
- :func:`paired_bootstrap`: the difference of two accuracies measured on the same problems,
  resampling problems jointly for both arms (the pairing removes the problems' difficulty from the
  noise) and seeds within each arm;
- :func:`spearman`: a rank correlation, for "rises over training" without assuming a line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

LEVEL = 0.95  # the confidence level of every interval here
Z = NormalDist().inv_cdf(0.5 + LEVEL / 2)
BOOTSTRAP = 2000  # bootstrap replicates
SEED = 0


@dataclass(frozen=True)
class Interval:
    """An estimate with its two-sided interval."""

    estimate: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.estimate:+.3f} [{self.low:+.3f}, {self.high:+.3f}]"


def wilson(successes: float, n: int, z: float = Z) -> tuple[float, float]:
    """Wilson score interval of a proportion (0..1); (0, 1) when there is no observation."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half))  # contains p despite rounding


def newcombe(k1: float, n1: int, k2: float, n2: int, z: float = Z) -> Interval:
    """Interval of p1 - p2 (p = k / n) from the two Wilson intervals (Newcombe's hybrid score method)."""
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = wilson(k1, n1, z), wilson(k2, n2, z)
    d = p1 - p2
    return Interval(d, d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2))


def paired_bootstrap(a: np.ndarray, b: np.ndarray, n_boot: int = BOOTSTRAP, seed: int = SEED,
                     level: float = LEVEL) -> Interval:
    """Percentile bootstrap interval of mean(a) - mean(b), where ``a`` and ``b`` are accuracies
    [seeds, problems] (or [problems]: one seed) on the same problems, in the same column order.

    Each replicate draws one set of problems for both arms (paired) and, per arm, seeds with
    replacement; the estimate is the plain difference of means.
    """
    a, b = np.atleast_2d(np.asarray(a, dtype=np.float64)), np.atleast_2d(np.asarray(b, dtype=np.float64))
    if a.shape[1] != b.shape[1] or a.shape[1] == 0:
        raise ValueError(f"paired arms need the same, non-zero number of problems; got {a.shape[1]} and {b.shape[1]}")
    rng = np.random.default_rng(seed)
    problems = rng.integers(0, a.shape[1], size=(n_boot, a.shape[1]))

    def replicate_means(x: np.ndarray) -> np.ndarray:
        seeds = rng.integers(0, x.shape[0], size=(n_boot, x.shape[0]))
        per_problem = x[seeds].mean(axis=1)  # [n_boot, problems]: the drawn seeds' mean per problem
        return np.take_along_axis(per_problem, problems, axis=1).mean(axis=1)

    diffs = replicate_means(a) - replicate_means(b)
    tail = (1 - level) / 2
    return Interval(float(a.mean() - b.mean()), float(np.quantile(diffs, tail)), float(np.quantile(diffs, 1 - tail)))


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their average rank."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    for value in np.unique(x):
        tied = x == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(x: np.ndarray | list[float], y: np.ndarray | list[float]) -> float:
    """Spearman's rank correlation of x and y; NaN when either is constant (no order to follow)."""
    rx, ry = _ranks(np.asarray(x, dtype=np.float64)), _ranks(np.asarray(y, dtype=np.float64))
    if len(rx) < 2 or rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])
