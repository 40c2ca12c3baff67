"""Interval estimates used by the gates and the guardrails. Pure functions, no I/O.

Choices, so the next reader does not have to rediscover them:
- One proportion: Wilson score interval. It keeps near-nominal coverage at the pass
  rates agents really have (often near 0 or 1) where the Wald interval collapses.
- Difference of two independent proportions: Newcombe's hybrid score interval
  (method 10 of Newcombe 1998), built from the two Wilson intervals, so it inherits
  their behaviour at the edges and is monotone in each count.
- Paired difference (the same tasks run by candidate and baseline): per-task score
  differences, mean ± t·SD/√n, i.e. the standard error clustered by task. Pairing
  removes task difficulty from the variance, which is what makes small regressions
  on a few hundred tasks detectable at all.
- Ratios (cost per success, p95 duration): the ratio estimator ΣC/ΣS of each side,
  its linearised variance over units (seeds, or tasks when per-task data exists), and
  a Student-t interval for the log of the candidate/baseline ratio with
  Welch–Satterthwaite degrees of freedom. With a single unit there is no variance,
  so there is no interval: the caller says the evidence is insufficient.
- Student t quantiles come from the regularised incomplete beta function (Lentz
  continued fraction) because seed counts are small (3–5) and the normal quantile
  would understate the interval by a third; scipy is not needed for one function.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import NamedTuple


class Bounds(NamedTuple):
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def z_value(confidence: float) -> float:
    """Two-sided standard normal quantile for a confidence level (0.95 -> 1.96)."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


# -- Student t --------------------------------------------------------------------------


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    tiny, eps = 1e-300, 1e-14
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((a + m2 - 1) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def _regularized_beta(a: float, b: float, x: float) -> float:
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    front = math.exp(log_front + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_continued_fraction(a, b, x) / a
    return 1.0 - front * _beta_continued_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    tail = 0.5 * _regularized_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_value(confidence: float, df: float) -> float:
    """Two-sided Student t quantile; falls back to the normal one for large df."""
    if df > 1e4:
        return z_value(confidence)
    target = 0.5 + confidence / 2
    low, high = 0.0, 1.0
    while t_cdf(high, df) < target:
        high *= 2.0
    for _ in range(100):
        mid = (low + high) / 2
        if t_cdf(mid, df) < target:
            low = mid
        else:
            high = mid
        if high - low < 1e-10:
            break
    return (low + high) / 2


# -- proportions ------------------------------------------------------------------------


def wilson(successes: float, n: float, confidence: float) -> Bounds:
    """Wilson score interval for a proportion; (0, 1) when there are no trials."""
    if n <= 0:
        return Bounds(0.0, 1.0)
    z = z_value(confidence)
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return Bounds(max(0.0, centre - half), min(1.0, centre + half))


def newcombe_difference(x1: float, n1: float, x2: float, n2: float, confidence: float) -> Bounds:
    """Interval for p1 - p2 from two independent binomial samples (Newcombe hybrid score)."""
    p1 = x1 / n1 if n1 > 0 else 0.0
    p2 = x2 / n2 if n2 > 0 else 0.0
    l1, u1 = wilson(x1, n1, confidence)
    l2, u2 = wilson(x2, n2, confidence)
    delta = p1 - p2
    low = delta - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = delta + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Bounds(max(-1.0, low), min(1.0, high))


def mean_and_sem(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and standard error of the mean; no SEM for fewer than two values."""
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return mean, None
    variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(variance / n)


def paired_difference(differences: Sequence[float], confidence: float) -> Bounds | None:
    """Interval for the mean of per-task differences (candidate - baseline scores)."""
    n = len(differences)
    if n < 2:
        return None
    mean, sem = mean_and_sem(differences)
    assert sem is not None
    half = t_value(confidence, n - 1) * sem
    return Bounds(max(-1.0, mean - half), min(1.0, mean + half))


# -- ratios -----------------------------------------------------------------------------


class RatioEstimate(NamedTuple):
    """A ratio estimator ΣC/ΣS over units and the variance of its logarithm."""

    value: float
    log_variance: float | None
    units: int


def ratio_estimate(numerators: Sequence[float], denominators: Sequence[float]) -> RatioEstimate:
    """ΣC/ΣS with the linearised (delta-method) variance of log(ΣC/ΣS) over units.

    Units are seeds (C = cost of the seed, S = its passed tasks; or C = the seed's p95,
    S = 1) or tasks when per-task data exists. Needs ΣC > 0 and ΣS > 0.
    """
    k = len(numerators)
    total_c, total_s = math.fsum(numerators), math.fsum(denominators)
    if total_c <= 0 or total_s <= 0:
        raise ValueError("a ratio needs a positive numerator and denominator")
    value = total_c / total_s
    if k < 2:
        return RatioEstimate(value, None, k)
    residuals = math.fsum(
        (c - value * s) ** 2 for c, s in zip(numerators, denominators, strict=True)
    )
    variance = k / (k - 1) * residuals / (total_s * total_s)
    return RatioEstimate(value, variance / (value * value), k)


def ratio_of_ratios(
    candidate: RatioEstimate, baseline: RatioEstimate, confidence: float
) -> tuple[float, Bounds | None]:
    """candidate/baseline with a Student-t interval on the log scale (Welch df)."""
    point = candidate.value / baseline.value
    vc, vb = candidate.log_variance, baseline.log_variance
    if vc is None or vb is None:
        return point, None
    total = vc + vb
    if total == 0:
        return point, Bounds(point, point)
    df_parts = (vc * vc / (candidate.units - 1)) + (vb * vb / (baseline.units - 1))
    df = total * total / df_parts if df_parts > 0 else 1e9
    half = t_value(confidence, df) * math.sqrt(total)
    log_point = math.log(point)
    return point, Bounds(math.exp(log_point - half), math.exp(log_point + half))
