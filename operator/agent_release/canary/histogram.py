"""Quantiles of Prometheus histograms, and the density their variance needs.

The point estimate interpolates linearly inside the bucket holding the rank, as
PromQL's histogram_quantile does, so the number matches what a dashboard shows. The
density of log duration around a quantile is read over a band of ranks (± 2% of the
tasks) through the same interpolation: it assumes nothing about the latency
distribution, and coarse buckets only make the band, and the variance, wider.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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


def log_density(buckets: Buckets, q: float, half_width: float = 0.02) -> float | None:
    """Density of log(value) at the q-quantile, as the probability between the q ± half_width
    quantiles over the log-distance between them: smooth enough to serve every look (a
    spread of a few ranks would jump whenever the quantile crosses a bucket)."""
    n = total(buckets)
    if n <= 0:
        return None
    low = _value_at_rank(buckets, n * max(0.0, q - half_width))
    high = _value_at_rank(buckets, n * min(1.0, q + half_width))
    if low <= 0 or high <= low:
        return None
    return 2 * half_width / (math.log(high) - math.log(low))
