"""Turning an estimate and a threshold into Pass / Fail / Inconclusive.

`point` mode compares the point estimate. `interval` mode passes only when the
whole interval is on the right side of the threshold, fails only when the whole
interval is on the wrong side, and otherwise is Inconclusive: the data cannot tell
yet, more seeds or tasks are needed. An estimate without an interval (one seed and
no per-task data, say) is therefore Inconclusive in interval mode.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..api.outcomes import Result
from ..api.policy import DecisionMode
from ..stats import Bounds

# Thresholds are written with two or three decimals; a difference of 0.02 computed as
# 0.1 - 0.08 must still meet a threshold of 0.02.
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Estimate:
    value: float
    interval: Bounds | None


def at_least(estimate: Estimate, threshold: float, mode: DecisionMode) -> Result:
    """The decision for `value >= threshold`."""
    if mode is DecisionMode.POINT:
        return Result.PASS if estimate.value >= threshold - _EPS else Result.FAIL
    if estimate.interval is None:
        return Result.INCONCLUSIVE
    if estimate.interval.low >= threshold - _EPS:
        return Result.PASS
    if estimate.interval.high < threshold - _EPS:
        return Result.FAIL
    return Result.INCONCLUSIVE


def at_most(estimate: Estimate, threshold: float, mode: DecisionMode) -> Result:
    """The decision for `value <= threshold`."""
    if mode is DecisionMode.POINT:
        return Result.PASS if estimate.value <= threshold + _EPS else Result.FAIL
    if estimate.interval is None:
        return Result.INCONCLUSIVE
    if estimate.interval.high <= threshold + _EPS:
        return Result.PASS
    if estimate.interval.low > threshold + _EPS:
        return Result.FAIL
    return Result.INCONCLUSIVE
