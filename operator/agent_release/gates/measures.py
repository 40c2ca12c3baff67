"""Estimates over report counts and the check records built from them.

Everything the offline and pre-release gates compute goes through these few
functions, so both gates use the same statistics and the same wording.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ..api.evalreport import DurationSummary, EvalReportSpec, Interval, SeedRun
from ..api.outcomes import Bound, Check, ReasonCode, Result, Unit
from ..api.policy import DecisionMode
from ..stats import (
    Bounds,
    difference_interval,
    mean_and_sem,
    paired_difference,
    ratio_estimate,
    ratio_of_ratios,
    wilson,
)
from ..taskresults import PerTask, TaskTally
from . import wording
from .evidence import Estimate, at_least, at_most

Direction = Literal["min", "max"]


@dataclass(frozen=True, slots=True)
class Context:
    """The policy's decision settings, carried to every check."""

    mode: DecisionMode
    confidence: float


@dataclass(frozen=True, slots=True)
class Run:
    """One side of a comparison: a report and its per-task tallies (often none)."""

    report: EvalReportSpec
    per_task: PerTask

    def tallies(self, slice_name: str) -> Mapping[str, TaskTally] | None:
        return self.per_task.get(slice_name) or None


@dataclass(frozen=True, slots=True)
class Measured:
    """An estimate with what the message should say about how it was obtained."""

    estimate: Estimate
    baseline: float | None = None
    candidate: float | None = None
    method: str = ""


def proportion(successes: int, trials: int, ctx: Context) -> Measured:
    """A pooled rate with its Wilson interval."""
    value = successes / trials
    return Measured(Estimate(value, wilson(successes, trials, ctx.confidence)))


def seed_sem(seeds: Sequence[SeedRun]) -> float | None:
    return mean_and_sem([run.pass_rate for run in seeds])[1]


def difference(
    candidate: tuple[int, int],
    baseline: tuple[int, int],
    ctx: Context,
    paired: Sequence[float] | None = None,
) -> Measured:
    """candidate - baseline rate; paired over per-task differences when given."""
    c_rate, b_rate = candidate[0] / candidate[1], baseline[0] / baseline[1]
    if paired is not None and len(paired) >= 2:
        bounds = paired_difference(paired, ctx.confidence)
        value = sum(paired) / len(paired)
        return Measured(Estimate(value, bounds), b_rate, c_rate, f"paired over {len(paired)} tasks")
    bounds = difference_interval(*candidate, *baseline, ctx.confidence)
    return Measured(Estimate(c_rate - b_rate, bounds), b_rate, c_rate, "unpaired")


def paired_scores(
    candidate: Mapping[str, TaskTally] | None,
    baseline: Mapping[str, TaskTally] | None,
    field: Literal["score", "intervention_rate"],
) -> list[float] | None:
    """Per-task differences over the tasks both runs attempted, or None if unpaired."""
    if candidate is None or baseline is None:
        return None
    if field == "intervention_rate" and not all(
        t.intervention_known for t in (*candidate.values(), *baseline.values())
    ):
        return None
    common = candidate.keys() & baseline.keys()
    if len(common) < 2:
        return None
    return [getattr(candidate[k], field) - getattr(baseline[k], field) for k in sorted(common)]


def ratio(
    candidate: tuple[Sequence[float], Sequence[float]],
    baseline: tuple[Sequence[float], Sequence[float]],
    ctx: Context,
) -> Measured:
    """candidate/baseline of two ratio estimators (ΣC/ΣS) over their units."""
    c, b = ratio_estimate(*candidate), ratio_estimate(*baseline)
    value, bounds = ratio_of_ratios(c, b, ctx.confidence)
    return Measured(Estimate(value, bounds), b.value, c.value, f"over {c.units}+{b.units} runs")


def decide(estimate: Estimate, threshold: float, direction: Direction, ctx: Context) -> Result:
    rule = at_least if direction == "min" else at_most
    return rule(estimate, threshold, ctx.mode)


def threshold_check(
    *,
    name: str,
    metric: str,
    label: str,
    measured: Measured,
    threshold: float,
    direction: Direction,
    kind: str,
    reason: ReasonCode,
    ctx: Context,
    slice_name: str | None = None,
    side_kind: str | None = None,
) -> Check:
    """A check of `measured` against `threshold`, with a message naming every number.

    `kind` formats the estimate and threshold; `side_kind` formats the two sides of a
    baseline comparison when they differ in kind (a difference in points of two rates).
    """
    estimate = measured.estimate
    result = decide(estimate, threshold, direction, ctx)
    value = wording.fmt(estimate.value, kind)
    sides = ""
    if measured.candidate is not None and measured.baseline is not None:
        sk = side_kind or kind
        sides = (
            f" (candidate {wording.fmt(measured.candidate, sk)} vs baseline "
            f"{wording.fmt(measured.baseline, sk)}"
            + (f", {measured.method}" if measured.method else "")
            + ")"
        )
    ci = wording.interval(estimate.interval, kind, ctx.confidence)
    limit = wording.fmt(threshold, kind)
    bound = "minimum" if direction == "min" else "maximum"
    if result is Result.PASS:
        verdict = f"meets the {bound} of {limit}"
    elif result is Result.FAIL:
        verdict = f"{'is below' if direction == 'min' else 'exceeds'} the {bound} of {limit}"
    elif estimate.interval is None:
        verdict = (
            f"has no interval (a single seed or task per side): more seeds are needed to "
            f"decide against the {bound} of {limit}"
        )
    else:
        verdict = f"straddles the {bound} of {limit}: more seeds or tasks are needed"
    where = f"{slice_name}: " if slice_name else ""
    return Check(
        name=name,
        slice=slice_name,
        metric=metric,
        unit=_UNITS[kind],
        observed=estimate.value,
        baseline=measured.baseline,
        threshold=threshold,
        bound=Bound(direction),
        interval=_interval(estimate.interval),
        result=result,
        reason=None
        if result is Result.PASS
        else (ReasonCode.INSUFFICIENT_EVIDENCE if result is Result.INCONCLUSIVE else reason),
        message=f"{where}{label} {value}{sides}{ci} {verdict}",
    )


_UNITS = {"pct": Unit.RATE, "pts": Unit.DELTA, "times": Unit.RATIO}


def count_check(
    *, name: str, metric: str, label: str, total: int | None, limit: int, reason: ReasonCode
) -> Check:
    """A hard limit on a count (policy violations, rollback triggers): no interval."""
    if total is None:
        return Check(
            name=name,
            metric=metric,
            unit=Unit.COUNT,
            threshold=limit,
            bound=Bound.MAX,
            result=Result.INCONCLUSIVE,
            reason=ReasonCode.INSUFFICIENT_EVIDENCE,
            message=f"the report does not count {label}; the policy allows at most {limit}",
        )
    ok = total <= limit
    return Check(
        name=name,
        metric=metric,
        unit=Unit.COUNT,
        observed=total,
        threshold=limit,
        bound=Bound.MAX,
        result=Result.PASS if ok else Result.FAIL,
        reason=None if ok else reason,
        message=f"{total} {label} {'within' if ok else 'over'} the limit of {limit}",
    )


def not_applicable(name: str, metric: str, message: str, slice_name: str | None = None) -> Check:
    return Check(
        name=name, slice=slice_name, metric=metric, result=Result.NOT_APPLICABLE, message=message
    )


def _interval(bounds: Bounds | None) -> Interval | None:
    return None if bounds is None else Interval(low=bounds.low, high=bounds.high)


def total(seeds: Sequence[SeedRun], field: str) -> int | None:
    """Sum of an optional per-seed count; None when any seed does not report it."""
    values = [getattr(run, field) for run in seeds]
    return None if any(v is None for v in values) else sum(values)


def duration_check(
    *,
    name: str,
    candidate: Sequence[DurationSummary | None],
    baseline: Sequence[DurationSummary | None],
    limit: float,
    ctx: Context,
    slice_name: str | None = None,
) -> Check:
    """p95 task duration, candidate over baseline, with the seeds' p95s as units."""
    where = f"{slice_name}: " if slice_name else ""
    c = [d.p95 for d in candidate if d is not None]
    b = [d.p95 for d in baseline if d is not None]
    if len(c) < len(candidate) or len(b) < len(baseline) or sum(c) <= 0 or sum(b) <= 0:
        return not_applicable(
            name, "duration_p95", f"{where}durations are not reported by both runs", slice_name
        )
    return threshold_check(
        name=name,
        metric="duration_p95",
        label="p95 task duration ratio",
        measured=ratio((c, [1.0] * len(c)), (b, [1.0] * len(b)), ctx),
        threshold=limit,
        direction="max",
        kind="times",
        side_kind="seconds",
        reason=ReasonCode.LATENCY_REGRESSION,
        ctx=ctx,
        slice_name=slice_name,
    )


def cost_check(
    *,
    name: str,
    candidate: list[tuple[float | None, int]],
    baseline: list[tuple[float | None, int]],
    limit: float,
    ctx: Context,
    slice_name: str | None = None,
) -> Check:
    """Cost per successful task, candidate over baseline, from (cost, passed) per seed."""
    where = f"{slice_name}: " if slice_name else ""
    if any(cost is None for cost, _ in (*candidate, *baseline)):
        return not_applicable(
            name, "cost_per_success", f"{where}costs are not reported by both runs", slice_name
        )
    c_cost = sum(cost or 0.0 for cost, _ in candidate)
    b_cost = sum(cost or 0.0 for cost, _ in baseline)
    if b_cost <= 0 or sum(p for _, p in baseline) == 0:
        return not_applicable(
            name, "cost_per_success", f"{where}the baseline has no cost per success", slice_name
        )
    if sum(p for _, p in candidate) == 0 or c_cost <= 0:
        ok = c_cost <= 0
        return Check(
            name=name,
            slice=slice_name,
            metric="cost_per_success",
            unit=Unit.RATIO,
            threshold=limit,
            bound=Bound.MAX,
            result=Result.PASS if ok else Result.FAIL,
            reason=None if ok else ReasonCode.COST_REGRESSION,
            message=f"{where}the candidate "
            + (
                "spent nothing"
                if ok
                else f"spent {wording.usd(c_cost)} without one successful task"
            ),
        )
    return threshold_check(
        name=name,
        metric="cost_per_success",
        label="cost per successful task ratio",
        measured=ratio(
            ([c or 0.0 for c, _ in candidate], [float(p) for _, p in candidate]),
            ([c or 0.0 for c, _ in baseline], [float(p) for _, p in baseline]),
            ctx,
        ),
        threshold=limit,
        direction="max",
        kind="times",
        side_kind="usd",
        reason=ReasonCode.COST_REGRESSION,
        ctx=ctx,
        slice_name=slice_name,
    )
