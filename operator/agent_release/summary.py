"""The per-slice summary an EvalReport's status shows (SPEC §4). Pure.

Durations are the mean over seeds of each seed's p50/p95 (a seed reports quantiles,
not samples, so the quantile of the pooled tasks cannot be rebuilt). Cost per
successful task is total cost over total passes, and appears only when every seed
reports a cost. The interval is Wilson's on pooled attempts, as in the gates.
"""

from __future__ import annotations

from .api.evalreport import EvalReportSpec, Interval, SliceSummary
from .api.types import FailureClass
from .stats import mean_and_sem, wilson


def summarize(spec: EvalReportSpec, confidence: float = 0.95) -> list[SliceSummary]:
    out = []
    for item in spec.slices:
        seeds = item.seeds
        tasks, passed = item.tasks, item.passed
        low, high = wilson(passed, tasks, confidence)
        durations = [s.duration_seconds for s in seeds if s.duration_seconds is not None]
        costs = [s.cost_usd for s in seeds if s.cost_usd is not None]
        failures = {c: 0 for c in FailureClass}
        counted = [s.failures for s in seeds if s.failures is not None]
        for counts in counted:
            for kind, count in counts.items():
                failures[kind] += count
        failed = sum(failures.values())
        out.append(
            SliceSummary(
                name=item.name,
                capability=item.capability,
                seeds=len(seeds),
                tasks=tasks,
                passed=passed,
                pass_rate=round(passed / tasks, 6),
                sem=_round(mean_and_sem([s.pass_rate for s in seeds])[1]),
                interval=Interval(low=round(low, 6), high=round(high, 6)),
                duration_p50_seconds=_mean([d.p50 for d in durations], len(seeds)),
                duration_p95_seconds=_mean([d.p95 for d in durations], len(seeds)),
                cost_per_success_usd=(
                    round(sum(costs) / passed, 6) if len(costs) == len(seeds) and passed else None
                ),
                failure_shares=(
                    {k: round(v / failed, 4) for k, v in failures.items() if v}
                    if counted and failed
                    else {}
                ),
            )
        )
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _mean(values: list[float], expected: int) -> float | None:
    return round(sum(values) / len(values), 3) if values and len(values) == expected else None
