"""Quantiles of Prometheus histograms, with a distribution-free interval.

The point estimate interpolates linearly inside the bucket holding the rank, as
PromQL's histogram_quantile does, so the number matches what a dashboard shows.
The interval is the binomial (order-statistic) interval of the rank,
n·q ± z·√(n·q·(1−q)), mapped through the same interpolation: it assumes nothing
about the latency distribution and widens honestly when buckets are coarse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..stats import Bounds, z_value

Buckets = Sequence[tuple[float, float]]  # (upper bound `le`, cumulative count), sorted


def _value_at_rank(buckets: Buckets, rank: float) -> float:
    lower, below = 0.0, 0.0
    for upper, cumulative in buckets:
        if cumulative >= rank and cumulative > below:
            if math.isinf(upper):
                return lower  # the +Inf bucket has no upper bound: report its floor
            return lower + (upper - lower) * (rank - below) / (cumulative - below)
        if not math.isinf(upper):
            lower = upper
        below = cumulative
    return lower


def total(buckets: Buckets) -> float:
    return buckets[-1][1] if buckets else 0.0


def quantile(buckets: Buckets, q: float) -> float | None:
    n = total(buckets)
    if n <= 0:
        return None
    return _value_at_rank(buckets, q * n)


def quantile_interval(buckets: Buckets, q: float, confidence: float) -> Bounds | None:
    n = total(buckets)
    if n <= 0:
        return None
    half = z_value(confidence) * math.sqrt(n * q * (1 - q))
    low_rank, high_rank = max(0.0, n * q - half), min(n, n * q + half)
    return Bounds(_value_at_rank(buckets, low_rank), _value_at_rank(buckets, high_rank))


def ratio_interval(
    canary: Buckets, stable: Buckets, q: float, confidence: float
) -> tuple[float, Bounds] | None:
    """canary/stable of the q-quantiles; each side at half the error (Bonferroni)."""
    c, s = quantile(canary, q), quantile(stable, q)
    side = 1 - (1 - confidence) / 2
    ci, si = quantile_interval(canary, q, side), quantile_interval(stable, q, side)
    if c is None or s is None or ci is None or si is None or s <= 0 or si.low <= 0:
        return None
    return c / s, Bounds(ci.low / si.high, ci.high / si.low)
