"""Judging guardrails, canary against stable over a bake window, and the step verdict.

Shapes per metric (SPEC §6): success, intervention and tool-failure rates are two
proportions compared by the Newcombe interval of their difference; p95 latency is
the ratio of two histogram quantiles; cost per successful task is a ratio of ratio
estimators with analysis intervals as units; policy violations are a hard count.

A non-hard guardrail needs `minSamples` canary tasks before it may pass or fail
(InsufficientTraffic, never Pass, below that). A hard guardrail decides on what it
sees at once, whatever the samples: one hard policy violation is one too many.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..api.evalreport import Interval
from ..api.outcomes import ReasonCode, Result
from ..api.policy import Action, DecisionMode, Guardrail, GuardrailMetric
from ..api.release import GuardrailResult
from ..gates.evidence import Estimate, at_least, at_most
from ..stats import Bounds, difference_interval, ratio_estimate, ratio_of_ratios
from . import histogram
from .sequential import Look
from .windows import SideWindow

_RATES = {
    GuardrailMetric.TASK_SUCCESS_RATE,
    GuardrailMetric.HUMAN_INTERVENTION_RATE,
    GuardrailMetric.TOOL_FAILURE_RATE,
}


@dataclass(frozen=True, slots=True)
class Sides:
    """Everything one guardrail's judgement reads."""

    canary: SideWindow
    stable: SideWindow
    canary_tasks: float
    stable_tasks: float


def judge(guardrail: Guardrail, sides: Sides, min_samples: int, look: Look) -> GuardrailResult:
    metric = guardrail.metric
    if metric is GuardrailMetric.POLICY_VIOLATION_RATE:
        return _count(guardrail, sides)
    if not guardrail.hard and sides.canary_tasks < min_samples:
        return _result(
            guardrail,
            sides,
            Result.INCONCLUSIVE,
            ReasonCode.INSUFFICIENT_TRAFFIC,
            f"{metric.value}: {sides.canary_tasks:.0f} canary tasks of the {min_samples} needed",
        )
    if sides.stable_tasks <= 0:
        return _result(
            guardrail,
            sides,
            Result.INCONCLUSIVE,
            ReasonCode.INSUFFICIENT_TRAFFIC,
            f"{metric.value}: the stable revision served no tasks to compare with",
        )
    if metric in _RATES:
        return _rate(guardrail, sides, look)
    return _ratio(guardrail, sides, look)


def _decide(guardrail: Guardrail, value: float, bounds: Bounds | None) -> Result:
    mode = DecisionMode.POINT if guardrail.hard else DecisionMode.INTERVAL
    estimate = Estimate(value, bounds)
    if guardrail.min_delta is not None:
        return at_least(estimate, guardrail.threshold, mode)
    return at_most(estimate, guardrail.threshold, mode)


def _verdict_words(result: Result, guardrail: Guardrail, limit: str) -> str:
    bound = "minimum" if guardrail.min_delta is not None else "maximum"
    if result is Result.PASS:
        return f"meets the {bound} of {limit}"
    if result is Result.FAIL:
        return f"{'is below' if bound == 'minimum' else 'exceeds'} the {bound} of {limit}"
    return f"cannot yet be told apart from the {bound} of {limit}"


def _rate(guardrail: Guardrail, sides: Sides, look: Look) -> GuardrailResult:
    c_x, c_n = sides.canary.numerator_total, sides.canary.denominator_total
    s_x, s_n = sides.stable.numerator_total, sides.stable.denominator_total
    if c_n <= 0 or s_n <= 0:
        return _result(
            guardrail,
            sides,
            Result.INCONCLUSIVE,
            ReasonCode.INSUFFICIENT_TRAFFIC,
            f"{guardrail.metric.value}: no denominator events yet on "
            + ("the canary" if c_n <= 0 else "the stable revision"),
        )
    c_rate, s_rate = c_x / c_n, s_x / s_n
    level = 1 - look.alpha
    bounds = difference_interval(c_x, c_n, s_x, s_n, level)
    result = _decide(guardrail, c_rate - s_rate, bounds)
    ci = f"{level * 100:.4g}% CI {bounds.low * 100:+.2f} to {bounds.high * 100:+.2f} pts"
    message = (
        f"{guardrail.metric.value}: canary {c_rate * 100:.2f}% ({c_x:.0f}/{c_n:.0f}) vs stable "
        f"{s_rate * 100:.2f}% ({s_x:.0f}/{s_n:.0f}), {(c_rate - s_rate) * 100:+.2f} pts ({ci}) "
        + _verdict_words(result, guardrail, f"{guardrail.threshold * 100:+.2f} pts")
    )
    return _result(
        guardrail,
        sides,
        result,
        None,
        message,
        canary=c_rate,
        stable=s_rate,
        observed=c_rate - s_rate,
        bounds=bounds,
    )


def _ratio(guardrail: Guardrail, sides: Sides, look: Look) -> GuardrailResult:
    level = 1 - look.alpha
    metric = guardrail.metric
    canary, stable = sides.canary, sides.stable
    found: tuple[float, Bounds | None] | None = None
    if metric is GuardrailMetric.P95_END_TO_END_LATENCY:
        c = histogram.quantile(canary.buckets, 0.95)
        s = histogram.quantile(stable.buckets, 0.95)
        if c is not None and s is not None and s > 0:
            ratio = histogram.ratio_interval(canary.buckets, stable.buckets, 0.95, level)
            found = ratio if ratio is not None else (c / s, None)
        unit = "s"
    else:
        c = s = None
        if min(canary.numerator_total, canary.denominator_total) > 0 and (
            min(stable.numerator_total, stable.denominator_total) > 0
        ):
            ce = ratio_estimate(canary.numerator, canary.denominator)
            se = ratio_estimate(stable.numerator, stable.denominator)
            c, s = ce.value, se.value
            found = ratio_of_ratios(ce, se, level)
        unit = " USD"
    if found is None or c is None or s is None:
        return _result(
            guardrail,
            sides,
            Result.INCONCLUSIVE,
            ReasonCode.INSUFFICIENT_TRAFFIC,
            f"{metric.value}: not enough data on both revisions for a ratio yet",
        )
    point, bounds = found
    if bounds is None:
        return _result(
            guardrail,
            sides,
            Result.INCONCLUSIVE,
            ReasonCode.INSUFFICIENT_EVIDENCE,
            f"{metric.value}: canary {c:.4g}{unit} vs stable {s:.4g}{unit}, ×{point:.3f}; "
            f"too few intervals yet to bound the ratio at this look's level ({level * 100:.4g}%)",
            canary=c,
            stable=s,
            observed=point,
        )
    result = _decide(guardrail, point, bounds)
    message = (
        f"{metric.value}: canary {c:.4g}{unit} vs stable {s:.4g}{unit}, ×{point:.3f} "
        f"({level * 100:.4g}% CI ×{bounds.low:.3f} to ×{bounds.high:.3f}) "
        + _verdict_words(result, guardrail, f"×{guardrail.threshold:.2f}")
    )
    return _result(
        guardrail,
        sides,
        result,
        None,
        message,
        canary=c,
        stable=s,
        observed=point,
        bounds=bounds,
    )


def _count(guardrail: Guardrail, sides: Sides) -> GuardrailResult:
    events = sides.canary.numerator_total
    stable_events = sides.stable.numerator_total
    limit = guardrail.threshold
    ok = round(events) <= limit
    message = (
        f"{guardrail.metric.value}: {events:.0f} hard violations in {sides.canary_tasks:.0f} "
        f"canary tasks (stable: {stable_events:.0f} in {sides.stable_tasks:.0f}); "
        f"{'within' if ok else 'over'} the limit of {limit:.0f}"
    )
    return _result(
        guardrail,
        sides,
        Result.PASS if ok else Result.FAIL,
        None if ok else ReasonCode.POLICY_VIOLATION,
        message,
        canary=events,
        stable=stable_events,
        observed=events,
    )


def _reason(result: Result) -> ReasonCode:
    return (
        ReasonCode.GUARDRAIL_BREACHED if result is Result.FAIL else ReasonCode.INSUFFICIENT_EVIDENCE
    )


def _result(
    guardrail: Guardrail,
    sides: Sides,
    result: Result,
    reason: ReasonCode | None,
    message: str,
    *,
    canary: float | None = None,
    stable: float | None = None,
    observed: float | None = None,
    bounds: Bounds | None = None,
) -> GuardrailResult:
    """The record of one judgement; `reason` None means the one `result` implies."""
    if reason is None and result is not Result.PASS:
        reason = _reason(result)
    return GuardrailResult(
        metric=guardrail.metric.value,
        hard=guardrail.hard,
        result=result,
        reason=reason,
        canary=canary,
        stable=stable,
        observed=observed,
        threshold=guardrail.threshold,
        interval=None if bounds is None else Interval(low=bounds.low, high=bounds.high),
        canary_samples=round(sides.canary_tasks),
        stable_samples=round(sides.stable_tasks),
        message=message,
    )


# -- the step verdict --------------------------------------------------------------------


class Verdict(StrEnum):
    CONTINUE = "Continue"  # keep baking
    PROMOTE = "Promote"
    ROLLBACK = "Rollback"
    HOLD = "Hold"  # bake over, undecided, policy says hold


@dataclass(frozen=True, slots=True)
class StepDecision:
    verdict: Verdict
    reason: ReasonCode | None
    trigger: GuardrailResult | None
    message: str


def decide(results: list[GuardrailResult], look: Look, on_inconclusive: Action) -> StepDecision:
    """What to do with the step after one look."""
    failed = [r for r in results if r.result is Result.FAIL]
    if failed:
        first = next((r for r in failed if r.hard), failed[0])
        reason = first.reason or ReasonCode.GUARDRAIL_BREACHED
        return StepDecision(Verdict.ROLLBACK, reason, first, first.message)
    if not look.final:
        return StepDecision(Verdict.CONTINUE, None, None, "baking")
    undecided = [r for r in results if r.result is not Result.PASS]
    if not undecided:
        return StepDecision(
            Verdict.PROMOTE, None, None, f"all {len(results)} guardrails held over the bake"
        )
    traffic = [r for r in undecided if r.reason is ReasonCode.INSUFFICIENT_TRAFFIC]
    first = (traffic or undecided)[0]
    reason = ReasonCode.INSUFFICIENT_TRAFFIC if traffic else ReasonCode.INSUFFICIENT_EVIDENCE
    verdict = Verdict.ROLLBACK if on_inconclusive is Action.ROLLBACK else Verdict.HOLD
    return StepDecision(verdict, reason, first, first.message)
