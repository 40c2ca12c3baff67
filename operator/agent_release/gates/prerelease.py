"""The pre-release gate: the team's private regression suite against the baseline.

The suite is judged as a whole (business task success, human intervention rate,
cost per completed task, p95 latency, hard policy violations, simulated rollback
triggers), pooling its slices: each slice is one workflow of the same product, and
the policy's thresholds are about the product. Slices still have to match between
candidate and baseline, or the pooled numbers would compare different work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from ..api.evalreport import EvalReportSpec, Slice
from ..api.outcomes import Check, ReasonCode, Result
from ..api.policy import PrereleasePolicy
from .hygiene import seeds_check, version_drift
from .measures import (
    Context,
    Run,
    cost_check,
    count_check,
    difference,
    duration_check,
    not_applicable,
    paired_scores,
    threshold_check,
    total,
)


def prerelease_checks(
    candidate: Run, baseline: Run | None, policy: PrereleasePolicy, ctx: Context
) -> list[Check]:
    report = candidate.report
    checks = []
    if policy.require_holdout:
        checks.append(_holdout(report))
    checks.extend(seeds_check(item, policy.min_seeds) for item in report.slices)
    seeds = [run for item in report.slices for run in item.seeds]
    hard_limits = (
        (policy.policy_violations, "policy_violations", "hard policy violations", _VIOLATION),
        (policy.rollback_triggers, "rollback_triggers", "simulated rollback triggers", _TRIGGERS),
    )
    for limit, metric, label, reason in hard_limits:
        if limit is not None:
            checks.append(
                count_check(
                    name=metric.replace("_", "-"),
                    metric=metric,
                    label=label,
                    total=total(seeds, metric),
                    limit=limit.max,
                    reason=reason,
                )
            )
    checks.extend(_versus_baseline(candidate, baseline, policy, ctx))
    return checks


_VIOLATION, _TRIGGERS = ReasonCode.POLICY_VIOLATION, ReasonCode.ROLLBACK_TRIGGERS


def _holdout(report: EvalReportSpec) -> Check:
    if report.suite.holdout:
        return Check(
            name="holdout",
            metric="holdout",
            result=Result.PASS,
            message=f"suite {report.suite.name} is a private holdout suite",
        )
    return Check(
        name="holdout",
        metric="holdout",
        result=Result.FAIL,
        reason=ReasonCode.HOLDOUT_MISSING,
        message=f"the policy requires a private holdout suite; {report.suite.name} is not one",
    )


def _baseline_wanted(policy: PrereleasePolicy) -> list[tuple[str, str]]:
    wanted = [
        ("success-rate", "success_rate", policy.success_rate),
        ("intervention-rate", "intervention_rate", policy.intervention_rate),
        ("cost-per-task", "cost_per_task", policy.cost_per_task),
        ("latency-p95", "duration_p95", policy.latency_p95),
    ]
    return [(name, metric) for name, metric, setting in wanted if setting is not None]


def _versus_baseline(
    candidate: Run, baseline: Run | None, policy: PrereleasePolicy, ctx: Context
) -> list[Check]:
    wanted = _baseline_wanted(policy)
    if not wanted:
        return []
    if baseline is None:
        why = "no baseline (first release of the agent)"
        return [not_applicable(name, metric, why) for name, metric in wanted]
    drift = _suite_drift(candidate.report, baseline.report)
    if drift is not None:
        return [drift]
    mine = candidate.report.slices
    base = [s for s in (baseline.report.slice(m.name) for m in mine) if s is not None]
    checks: list[Check] = []
    if policy.success_rate is not None:
        checks.append(
            threshold_check(
                name="success-rate",
                metric="success_rate",
                label="task success change",
                measured=difference(
                    _sum(mine, "passed"),
                    _sum(base, "passed"),
                    ctx,
                    _paired(candidate, baseline, "score"),
                ),
                threshold=policy.success_rate.min_delta,
                direction="min",
                kind="pts",
                side_kind="pct",
                reason=ReasonCode.SUCCESS_REGRESSION,
                ctx=ctx,
            )
        )
    if policy.intervention_rate is not None:
        checks.append(_interventions(candidate, baseline, policy.intervention_rate.max_delta, ctx))
    if policy.cost_per_task is not None:
        checks.append(
            cost_check(
                name="cost-per-task",
                candidate=[(r.cost_usd, r.passed) for s in mine for r in s.seeds],
                baseline=[(r.cost_usd, r.passed) for s in base for r in s.seeds],
                limit=policy.cost_per_task.max_ratio,
                ctx=ctx,
            )
        )
    if policy.latency_p95 is not None:
        checks.append(
            duration_check(
                name="latency-p95",
                candidate=[r.duration_seconds for s in mine for r in s.seeds],
                baseline=[r.duration_seconds for s in base for r in s.seeds],
                limit=policy.latency_p95.max_ratio,
                ctx=ctx,
            )
        )
    return checks


def _suite_drift(report: EvalReportSpec, baseline: EvalReportSpec) -> Check | None:
    mine = sorted(s.name for s in report.slices)
    theirs = sorted(s.name for s in baseline.slices)
    if report.suite.name != baseline.suite.name or mine != theirs:
        return Check(
            name="version-drift",
            metric="versions",
            result=Result.INCONCLUSIVE,
            reason=ReasonCode.VERSION_DRIFT,
            message=(
                f"suite: baseline comparison refused, the candidate ran {report.suite.name} "
                f"{mine} and the baseline {baseline.suite.name} {theirs}"
            ),
        )
    for item in report.slices:
        base = baseline.slice(item.name)
        assert base is not None
        drift = version_drift(
            "suite" if len(report.slices) == 1 else item.name,
            (report.dataset_version(item), report.harness_version(item)),
            (baseline.dataset_version(base), baseline.harness_version(base)),
        )
        if drift is not None:
            return drift
    return None


def _sum(slices: Sequence[Slice], field: str) -> tuple[int, int]:
    return sum(getattr(s, field) for s in slices), sum(s.tasks for s in slices)


def _paired(
    candidate: Run, baseline: Run, field: Literal["score", "intervention_rate"]
) -> list[float] | None:
    """Per-task differences over every slice, or None unless every slice is paired."""
    differences: list[float] = []
    for item in candidate.report.slices:
        paired = paired_scores(candidate.tallies(item.name), baseline.tallies(item.name), field)
        if paired is None:
            return None
        differences.extend(paired)
    return differences


def _interventions(candidate: Run, baseline: Run, limit: float, ctx: Context) -> Check:
    mine = candidate.report.slices
    base = [s for s in (baseline.report.slice(m.name) for m in mine) if s is not None]
    c = total([r for s in mine for r in s.seeds], "human_interventions")
    b = total([r for s in base for r in s.seeds], "human_interventions")
    if c is None or b is None:
        return not_applicable(
            "intervention-rate",
            "intervention_rate",
            "human interventions are not counted by both runs",
        )
    return threshold_check(
        name="intervention-rate",
        metric="intervention_rate",
        label="human intervention change",
        measured=difference(
            (c, sum(s.tasks for s in mine)),
            (b, sum(s.tasks for s in base)),
            ctx,
            _paired(candidate, baseline, "intervention_rate"),
        ),
        threshold=limit,
        direction="max",
        kind="pts",
        side_kind="pct",
        reason=ReasonCode.INTERVENTION_REGRESSION,
        ctx=ctx,
    )
