"""The offline gate: benchmark portfolio coverage, floors and per-slice regressions.

Every required capability must be present and every slice must clear its floor on
its own: a strong average never pays for a slice below floor (SPEC §1). Baseline
comparisons are per slice, and only between runs of the same dataset and harness
versions.
"""

from __future__ import annotations

from ..api.evalreport import EvalReportSpec, Slice
from ..api.outcomes import Check, ReasonCode, Result
from ..api.policy import OfflinePolicy
from . import wording
from .hygiene import seeds_check, version_drift
from .measures import (
    Context,
    Run,
    cost_check,
    difference,
    duration_check,
    not_applicable,
    paired_scores,
    proportion,
    seed_sem,
    threshold_check,
)


def offline_checks(
    candidate: Run, baseline: Run | None, policy: OfflinePolicy, ctx: Context
) -> list[Check]:
    report = candidate.report
    checks = [_coverage(report, capability) for capability in policy.required_capabilities]
    for item in report.slices:
        checks.append(seeds_check(item, policy.min_seeds))
        floor = policy.slice_floors.get(item.name, policy.floors.get(item.capability))
        if floor is not None:
            checks.append(_floor(item, floor, ctx))
        checks.extend(_versus_baseline(candidate, item, baseline, policy, ctx))
    return checks


def _coverage(report: EvalReportSpec, capability: str) -> Check:
    names = [s.name for s in report.slices if s.capability == capability]
    if names:
        return Check(
            name="coverage",
            metric=f"capability {capability}",
            result=Result.PASS,
            message=f"capability {capability} is covered by {', '.join(names)}",
        )
    return Check(
        name="coverage",
        metric=f"capability {capability}",
        result=Result.FAIL,
        reason=ReasonCode.SLICE_MISSING,
        message=f"required capability {capability} has no slice in the report",
    )


def _floor(item: Slice, floor: float, ctx: Context) -> Check:
    check = threshold_check(
        name="floor",
        metric="pass_rate",
        label=f"pass rate ({item.capability}, {item.tasks} attempts)",
        measured=proportion(item.passed, item.tasks, ctx),
        threshold=floor,
        direction="min",
        kind="pct",
        reason=ReasonCode.SLICE_BELOW_FLOOR,
        ctx=ctx,
        slice_name=item.name,
    )
    sem = seed_sem(item.seeds)
    if sem is None:
        return check
    note = f"; SEM {wording.pts(sem).lstrip('+')} across {len(item.seeds)} seeds"
    return check.model_copy(update={"message": check.message + note})


def _versus_baseline(
    candidate: Run, item: Slice, baseline: Run | None, policy: OfflinePolicy, ctx: Context
) -> list[Check]:
    wanted = [
        ("pass-rate-drop", "pass_rate", policy.max_pass_rate_drop),
        ("duration-p95", "duration_p95", policy.max_duration_p95_ratio),
        ("cost-per-success", "cost_per_success", policy.max_cost_per_success_ratio),
    ]
    wanted = [w for w in wanted if w[2] is not None]
    if not wanted:
        return []
    base_item = baseline.report.slice(item.name) if baseline is not None else None
    if baseline is None or base_item is None:
        why = (
            "no baseline (first release of the agent)"
            if baseline is None
            else ("the baseline has no slice of this name")
        )
        return [
            not_applicable(name, metric, f"{item.name}: {why}", item.name)
            for name, metric, _ in wanted
        ]
    mine, theirs = candidate.report, baseline.report
    drift = version_drift(
        item.name,
        (mine.dataset_version(item), mine.harness_version(item)),
        (theirs.dataset_version(base_item), theirs.harness_version(base_item)),
    )
    if drift is not None:
        return [drift]
    checks = []
    if policy.max_pass_rate_drop is not None:
        paired = paired_scores(candidate.tallies(item.name), baseline.tallies(item.name), "score")
        checks.append(
            threshold_check(
                name="pass-rate-drop",
                metric="pass_rate",
                label="pass rate change",
                measured=difference(
                    (item.passed, item.tasks), (base_item.passed, base_item.tasks), ctx, paired
                ),
                threshold=-policy.max_pass_rate_drop,
                direction="min",
                kind="pts",
                side_kind="pct",
                reason=ReasonCode.SUCCESS_REGRESSION,
                ctx=ctx,
                slice_name=item.name,
            )
        )
    if policy.max_duration_p95_ratio is not None:
        checks.append(
            duration_check(
                name="duration-p95",
                candidate=[r.duration_seconds for r in item.seeds],
                baseline=[r.duration_seconds for r in base_item.seeds],
                limit=policy.max_duration_p95_ratio,
                ctx=ctx,
                slice_name=item.name,
            )
        )
    if policy.max_cost_per_success_ratio is not None:
        checks.append(
            cost_check(
                name="cost-per-success",
                candidate=[(r.cost_usd, r.passed) for r in item.seeds],
                baseline=[(r.cost_usd, r.passed) for r in base_item.seeds],
                limit=policy.max_cost_per_success_ratio,
                ctx=ctx,
                slice_name=item.name,
            )
        )
    return checks
