"""The evidence of one guardrail: canary against stable, pooled over the canary's life.

Every analysis interval is a stratum: the canary and the stable revision served the same
users at the same moment, so comparing them inside it cannot be biased by what changes
between intervals (the canary's weight going from 5% to 50%, a base rate that drifts
over the day). Each accumulator adds one interval at a time into a few running sums, so
memory does not grow with the length of a canary, and reads out a harm estimate δ̂ (> 0:
the canary is worse) with its variance, for the sequential tests (`sequential`).

- Rates (success, intervention, tool failure): the stratified difference
  d̂ = Σ w_k (p_ck − p_sk) / Σ w_k with Mantel–Haenszel weights w_k = n_ck·n_sk/(n_ck+n_sk)
  (Mantel & Haenszel 1959; the weights that make it efficient when the difference is
  common to all strata). Its variance is Σ w_k²(v_c/n_ck + v_s/n_sk)/(Σ w_k)², with each
  side's rate variance v = p(1−p) floored by the pooled rate's (so a canary with no event
  yet is not taken for a certain one). Rates of events within a task (tool calls: one
  task's calls fail together) use the larger of that and the interval-clustered
  (sandwich) variance Σ w_k²(d_k − d̂)²/(Σ w_k)²·K/(K−1), which holds whatever the
  correlation of events inside an interval.
- Cost per successful task: indirect standardisation. The canary's cost is compared with
  what its successes would have cost at the stable revision's cost per success of the
  same interval: R̂ = Σ c_ck / Σ s_ck·(c_sk/s_sk), the harm is log R̂, and its variance is
  the linearised variance with intervals as units, Σ(c_ck/C − e_k/E)²·K/(K−1) (the ratio
  estimator of Cochran 1977, §6). It needs `MIN_UNITS` intervals first.
- The cost ratio's variance, estimated from K intervals alone, is inflated by
  `small_sample(K)`, so a few lucky intervals cannot pass for certainty. The clustered
  rate needs no such factor: its binomial floor is exact for independent calls, and a
  noisy interval-clustered estimate can only widen it.
- p95 latency: the stable revision's histogram is reweighted to the canary's traffic of
  each interval (direct standardisation), then the harm is log(q95 canary / q95 stable).
  Each quantile's variance is the sample quantile's asymptotic q(1−q)/(n·f²) (f: the
  density of log duration there, read off both revisions' histograms together, a smooth
  estimate that does not jump from look to look), with Kish's effective size for the
  reweighted side.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

from .. import special
from ..api.policy import GuardrailMetric
from . import histogram
from .counts import GUARDRAIL_FIELDS, Counts

# Intervals a ratio's variance is estimated from before it may decide: with fewer, the
# small-sample factor is unbounded; with a few more it is still large (`small_sample`).
MIN_UNITS = 4
QUANTILE = 0.95
# How far into a tail the sequential tests decide, as a normal deviate: their bounds,
# log 1/α for α of a few in ten thousand, are crossed near z = √(2·log 1/α) ≈ 3.5.
DECISIVE_Z = 3.5


@cache
def small_sample(units: int) -> float:
    """The factor that makes a variance estimated from `units` intervals safe to use as
    known: the standardised score is then a Student t with units − 1 degrees of freedom,
    whose tail at the tests' bounds lies further out than the normal's; inflating the
    variance by (t/z)² at `DECISIVE_Z` gives the same tail (2.3 with 10 intervals, 1.3
    with 30, 1.07 with 100)."""
    tail = float(special.ndtr(-DECISIVE_Z))
    t = float(special.stdtrit(units - 1, 1 - tail))
    return (t / DECISIVE_Z) ** 2


@dataclass(frozen=True, slots=True)
class Reading:
    """What the evidence of one guardrail says so far."""

    harm: float  # δ̂ in the test's unit: > 0 means the canary is worse
    variance: float  # of δ̂
    canary: float  # each side in the metric's own unit (a rate, USD, seconds)
    stable: float
    observed: float  # what the threshold is written against: canary − stable, or a ratio
    detail: str  # the counts behind the numbers, for people


class Evidence:
    """One guardrail's running sums. `reading` is None until it can tell; `why` says why."""

    def add(self, canary: Counts, stable: Counts) -> None:
        raise NotImplementedError

    def reading(self) -> Reading | None:
        raise NotImplementedError

    def why(self) -> str:
        raise NotImplementedError


def evidence_for(metric: GuardrailMetric) -> Evidence:
    if metric is GuardrailMetric.COST_PER_SUCCESSFUL_TASK:
        return CostEvidence()
    if metric is GuardrailMetric.P95_END_TO_END_LATENCY:
        return LatencyEvidence()
    return RateEvidence(metric)


def _rate_variance(events: float, trials: float) -> float:
    """p(1−p) with half an event added each side, so no rate is taken as certain."""
    p = (events + 0.5) / (trials + 1)
    return p * (1 - p)


@dataclass(slots=True)
class RateEvidence(Evidence):
    metric: GuardrailMetric
    x_c: float = 0.0  # totals, canary and stable
    n_c: float = 0.0
    x_s: float = 0.0
    n_s: float = 0.0
    strata: int = 0
    w: float = 0.0  # Σ w_k and the moments the estimate and its variances need
    wd: float = 0.0
    w2_nc: float = 0.0
    w2_ns: float = 0.0
    w2: float = 0.0
    w2d: float = 0.0
    w2d2: float = 0.0

    def why(self) -> str:
        return "no interval yet in which both revisions had events to compare"

    @property
    def clustered(self) -> bool:
        return self.metric is GuardrailMetric.TOOL_FAILURE_RATE

    @property
    def higher_is_better(self) -> bool:
        return self.metric is GuardrailMetric.TASK_SUCCESS_RATE

    def add(self, canary: Counts, stable: Counts) -> None:
        numerator, denominator = GUARDRAIL_FIELDS[self.metric]
        xc, nc = getattr(canary, numerator), getattr(canary, denominator)
        xs, ns = getattr(stable, numerator), getattr(stable, denominator)
        self.x_c += xc
        self.n_c += nc
        self.x_s += xs
        self.n_s += ns
        if nc <= 0 or ns <= 0:
            return
        w = nc * ns / (nc + ns)
        d = xc / nc - xs / ns
        self.strata += 1
        self.w += w
        self.wd += w * d
        self.w2_nc += w * w / nc
        self.w2_ns += w * w / ns
        self.w2 += w * w
        self.w2d += w * w * d
        self.w2d2 += w * w * d * d

    def reading(self) -> Reading | None:
        if self.w <= 0:
            return None
        d = self.wd / self.w
        pooled = _rate_variance(self.x_c + self.x_s, self.n_c + self.n_s)
        v_c = max(_rate_variance(self.x_c, self.n_c), pooled)
        v_s = max(_rate_variance(self.x_s, self.n_s), pooled)
        variance = (v_c * self.w2_nc + v_s * self.w2_ns) / (self.w * self.w)
        if self.clustered and self.strata >= 2:
            spread = self.w2d2 - 2 * d * self.w2d + d * d * self.w2
            robust = max(0.0, spread) / (self.w * self.w) * self.strata / (self.strata - 1)
            variance = max(variance, robust)
        p_c = self.x_c / self.n_c if self.n_c > 0 else 0.0
        p_s = self.x_s / self.n_s if self.n_s > 0 else 0.0
        return Reading(
            harm=-d if self.higher_is_better else d,
            variance=variance,
            canary=p_c,
            stable=p_s,
            observed=d,
            detail=f"{self.x_c:.0f}/{self.n_c:.0f} vs {self.x_s:.0f}/{self.n_s:.0f}",
        )


@dataclass(slots=True)
class CostEvidence(Evidence):
    cost_c: float = 0.0  # totals, for people
    succ_c: float = 0.0
    cost_s: float = 0.0
    succ_s: float = 0.0
    units: int = 0
    c: float = 0.0  # Σ c_ck, Σ e_k and the moments of the linearised variance
    e: float = 0.0
    cc: float = 0.0
    ce: float = 0.0
    ee: float = 0.0

    def why(self) -> str:
        return (
            f"{self.units} of the {MIN_UNITS} intervals with successes and cost on both "
            "revisions that a ratio's variance needs"
        )

    def add(self, canary: Counts, stable: Counts) -> None:
        self.cost_c += canary.cost_usd
        self.succ_c += canary.successes
        self.cost_s += stable.cost_usd
        self.succ_s += stable.successes
        if stable.successes <= 0 or stable.cost_usd <= 0:
            return  # no stable cost per success to compare this interval with
        expected = canary.successes * stable.cost_usd / stable.successes
        if canary.cost_usd <= 0 and expected <= 0:
            return
        self.units += 1
        self.c += canary.cost_usd
        self.e += expected
        self.cc += canary.cost_usd**2
        self.ce += canary.cost_usd * expected
        self.ee += expected**2

    def reading(self) -> Reading | None:
        if self.units < MIN_UNITS or self.c <= 0 or self.e <= 0:
            return None
        spread = self.cc / self.c**2 - 2 * self.ce / (self.c * self.e) + self.ee / self.e**2
        variance = max(0.0, spread) * self.units / (self.units - 1) * small_sample(self.units)
        ratio = self.c / self.e
        canary = self.cost_c / self.succ_c if self.succ_c > 0 else 0.0
        stable = self.cost_s / self.succ_s if self.succ_s > 0 else 0.0
        return Reading(
            harm=math.log(ratio),
            variance=variance,
            canary=canary,
            stable=stable,
            observed=ratio,
            detail=f"{self.cost_c:.4g} USD/{self.succ_c:.0f} vs {self.cost_s:.4g} USD/"
            f"{self.succ_s:.0f}",
        )


@dataclass(slots=True)
class LatencyEvidence(Evidence):
    canary: dict[float, float] = field(default_factory=dict)  # cumulative count per bound
    stable: dict[float, float] = field(default_factory=dict)  # reweighted to the canary
    weight: float = 0.0  # Σ a_k·n_sk and Σ a_k²·n_sk, for Kish's effective size
    weight2: float = 0.0

    def why(self) -> str:
        if self.weight <= 0:
            return "no interval yet in which both revisions had task durations"
        return "the p95 falls in the open-ended bucket, where the histogram cannot place it"

    def add(self, canary: Counts, stable: Counts) -> None:
        n_c = _total(canary.duration_buckets)
        n_s = _total(stable.duration_buckets)
        if n_c <= 0 or n_s <= 0:
            return
        a = n_c / n_s
        for bound, count in canary.duration_buckets.items():
            self.canary[bound] = self.canary.get(bound, 0.0) + count
        for bound, count in stable.duration_buckets.items():
            self.stable[bound] = self.stable.get(bound, 0.0) + a * count
        self.weight += a * n_s
        self.weight2 += a * a * n_s

    def reading(self) -> Reading | None:
        canary, stable = sorted(self.canary.items()), sorted(self.stable.items())
        q_c, q_s = histogram.quantile(canary, QUANTILE), histogram.quantile(stable, QUANTILE)
        pooled = sorted(
            (bound, self.canary.get(bound, 0.0) + self.stable.get(bound, 0.0))
            for bound in self.canary.keys() | self.stable.keys()
        )
        density = histogram.log_density(pooled, QUANTILE)
        if not q_c or not q_s or density is None:
            return None
        effective = self.weight * self.weight / self.weight2
        spread = QUANTILE * (1 - QUANTILE) / density**2
        return Reading(
            harm=math.log(q_c / q_s),
            variance=spread / _total(self.canary) + spread / effective,
            canary=q_c,
            stable=q_s,
            observed=q_c / q_s,
            detail=f"{_total(self.canary):.0f} vs {self.weight:.0f} (reweighted) tasks",
        )


def _total(buckets: Mapping[float, float]) -> float:
    """The count of a cumulative histogram: its largest bucket (+Inf)."""
    return max(buckets.values(), default=0.0)
