"""What a decision says: results, machine-readable reason codes and check records.

The reason codes are a public contract (SPEC §5): CI pipelines, alerting and the
Argo CD health check match on them. Add codes; never rename one.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from .evalreport import Interval
from .types import Model, Stage


class Result(StrEnum):
    PASS = "Pass"
    FAIL = "Fail"
    INCONCLUSIVE = "Inconclusive"
    # A baseline-relative check with no baseline to compare against (first release of
    # an agent) or a metric neither run reports: shown, never decisive.
    NOT_APPLICABLE = "NotApplicable"


class ReasonCode(StrEnum):
    # gates
    REPORT_MISSING = "ReportMissing"
    REPORT_INVALID = "ReportInvalid"
    CANDIDATE_MISMATCH = "CandidateMismatch"
    SLICE_MISSING = "SliceMissing"
    INSUFFICIENT_SEEDS = "InsufficientSeeds"
    SLICE_BELOW_FLOOR = "SliceBelowFloor"
    SUCCESS_REGRESSION = "SuccessRegression"
    INTERVENTION_REGRESSION = "InterventionRegression"
    LATENCY_REGRESSION = "LatencyRegression"
    COST_REGRESSION = "CostRegression"
    POLICY_VIOLATION = "PolicyViolation"
    ROLLBACK_TRIGGERS = "RollbackTriggers"
    HOLDOUT_MISSING = "HoldoutMissing"
    VERSION_DRIFT = "VersionDrift"
    INSUFFICIENT_EVIDENCE = "InsufficientEvidence"
    # canary
    GUARDRAIL_BREACHED = "GuardrailBreached"
    METRICS_UNAVAILABLE = "MetricsUnavailable"
    INSUFFICIENT_TRAFFIC = "InsufficientTraffic"
    ROLLOUT_DEGRADED = "RolloutDegraded"
    MANUAL_ABORT = "ManualAbort"
    MANUAL_UNDO = "ManualUndo"  # the Rollout's template set back to an earlier release's
    SUPERSEDED = "Superseded"


class Unit(StrEnum):
    """How to read `observed` and `threshold` of a check."""

    RATE = "rate"  # a proportion in [0, 1]
    DELTA = "delta"  # candidate - baseline of two proportions
    RATIO = "ratio"  # candidate / baseline
    COUNT = "count"


class Bound(StrEnum):
    """Which side of `threshold` passes: observed >= threshold (min) or <= (max)."""

    MIN = "min"
    MAX = "max"


class Check(Model):
    """One check of a gate: the numbers a person needs to agree or disagree with it."""

    name: str
    slice: str | None = None
    metric: str
    unit: Unit | None = None
    observed: float | None = None
    baseline: float | None = None
    threshold: float | None = None
    bound: Bound | None = None
    interval: Interval | None = None
    result: Result
    reason: ReasonCode | None = None
    message: str


def combine(results: list[Result]) -> Result:
    """Fail if any check fails, else Inconclusive if any is, else Pass (SPEC §5)."""
    if Result.FAIL in results:
        return Result.FAIL
    if Result.INCONCLUSIVE in results:
        return Result.INCONCLUSIVE
    return Result.PASS


class GateReport(Model):
    """The decision of one gate over one report, with every check that led to it."""

    decision: Result
    stage: Stage
    reasons: list[ReasonCode] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)

    @classmethod
    def of(cls, stage: Stage, checks: list[Check]) -> GateReport:
        reasons: list[ReasonCode] = []
        for check in checks:
            decisive = check.result in (Result.FAIL, Result.INCONCLUSIVE)
            if decisive and check.reason is not None and check.reason not in reasons:
                reasons.append(check.reason)
        return cls(
            decision=combine([c.result for c in checks]),
            stage=stage,
            reasons=reasons,
            checks=checks,
        )

    def headline(self) -> str:
        """One sentence for a condition message or an Event: the first decisive checks."""
        if self.decision is Result.PASS:
            return f"{self.stage.value} gate passed: {len(self.checks)} checks"
        bad = [c for c in self.checks if c.result is self.decision]
        more = f" (+{len(bad) - 2} more)" if len(bad) > 2 else ""
        return "; ".join(c.message for c in bad[:2]) + more
