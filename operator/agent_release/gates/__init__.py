"""The gate engine: offline and pre-release decisions over EvalReports (SPEC §5).

Pure: it takes parsed reports, a policy and, when available, per-task tallies, and
returns a GateReport. Loading files, fetching objects and writing status are the
callers' business (the CLI and the operator), so this is tested and benchmarked
without a cluster.
"""

from __future__ import annotations

from ..api.evalreport import EvalReportSpec
from ..api.outcomes import GateReport
from ..api.policy import ReleasePolicySpec
from ..api.types import Stage
from ..taskresults import PerTask
from .hygiene import candidate_mismatch, report_invalid, report_missing
from .measures import Context, Run
from .offline import offline_checks
from .prerelease import prerelease_checks

__all__ = ["candidate_mismatch", "evaluate", "report_invalid", "report_missing"]


def evaluate(
    stage: Stage,
    report: EvalReportSpec,
    policy: ReleasePolicySpec,
    *,
    baseline: EvalReportSpec | None = None,
    per_task: PerTask | None = None,
    baseline_per_task: PerTask | None = None,
) -> GateReport:
    """Decide one gate. `baseline` None means the agent has no promoted release yet.

    Per-task tallies (slice -> task id -> tally) turn the pass-rate and intervention
    comparisons into paired ones where both sides have them.
    """
    ctx = Context(policy.decision.mode, policy.decision.confidence)
    mine = Run(report, per_task or {})
    theirs = None if baseline is None else Run(baseline, baseline_per_task or {})
    if stage is Stage.OFFLINE:
        checks = offline_checks(mine, theirs, policy.offline, ctx)
    else:
        checks = prerelease_checks(mine, theirs, policy.prerelease, ctx)
    return GateReport.of(stage, checks)
