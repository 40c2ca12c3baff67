"""Interval estimates used by the gates and the guardrails. Pure functions, no I/O.

Every decision here is one-sided (fail only when the whole interval is on the wrong
side), so what matters is that each tail errs at about α/2, not only that the
two-sided coverage is right. The choices, so the next reader need not rediscover them:
- One pass rate: the Wilson score interval (the SPEC names it for pooled attempts).
- Difference of two independent proportions: Newcombe's hybrid construction
  (method 10 of Newcombe 1998: square-and-add the distances to each side's own
  interval) with Jeffreys intervals as the components. Jeffreys is equal-tailed;
  with Wilson components (Newcombe's original) the lower tail errs up to 1.6× the
  nominal rate for rates near 3% with a small canary against a large stable, i.e.
  healthy canaries get rolled back too often. tests/test_stats.py measures both.
- Paired difference (the same tasks run by candidate and baseline): per-task score
  differences, mean ± t·SD/√n, i.e. the standard error clustered by task. Pairing
  removes task difficulty from the variance, which is what makes small regressions
  on a few hundred tasks detectable at all.
- Ratios (cost per success, p95 duration): the ratio estimator ΣC/ΣS of each side,
  its linearised variance over units (seeds, or analysis intervals on a canary), and
  a Student-t interval for the log of the candidate/baseline ratio with
  Welch–Satterthwaite degrees of freedom. With a single unit there is no variance,
  so there is no interval: the caller says the evidence is insufficient.
- Student t and beta quantiles (`special`, checked against scipy.special): seed counts
  are small (3-5), where the normal quantile would understate an interval by a third.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from statistics import NormalDist
from typing import NamedTuple

from . import special


class Bounds(NamedTuple):
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def z_value(confidence: float) -> float:
    """Two-sided standard normal quantile for a confidence level (0.95 -> 1.96)."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def t_value(confidence: float, df: float) -> float:
    """Two-sided Student t quantile (df may be fractional, e.g. Welch's)."""
    return float(special.stdtrit(df, 0.5 + confidence / 2))


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


def jeffreys(successes: float, n: float, confidence: float) -> Bounds:
    """Jeffreys interval: equal-tailed quantiles of Beta(x + ½, n − x + ½)."""
    if n <= 0:
        return Bounds(0.0, 1.0)
    tail = (1 - confidence) / 2
    a, b = successes + 0.5, n - successes + 0.5
    low = 0.0 if successes <= 0 else float(special.betaincinv(a, b, tail))
    high = 1.0 if successes >= n else float(special.betaincinv(a, b, 1 - tail))
    return Bounds(low, high)


ProportionInterval = Callable[[float, float, float], Bounds]


def difference_interval(
    x1: float,
    n1: float,
    x2: float,
    n2: float,
    confidence: float,
    *,
    component: ProportionInterval = jeffreys,
) -> Bounds:
    """Interval for p1 - p2 of two independent binomial samples (Newcombe's hybrid)."""
    p1 = x1 / n1 if n1 > 0 else 0.0
    p2 = x2 / n2 if n2 > 0 else 0.0
    l1, u1 = component(x1, n1, confidence)
    l2, u2 = component(x2, n2, confidence)
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
    if not half < _LOG_SPAN:
        return point, None  # wider than any ratio means: no usable interval (tiny α, few units)
    log_point = math.log(point)
    return point, Bounds(math.exp(log_point - half), math.exp(log_point + half))


_LOG_SPAN = 50.0  # e^50 ≈ 5e21: a ratio interval beyond it says nothing
