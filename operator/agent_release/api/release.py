"""AgentRelease: a request to release one candidate of one agent (SPEC §4).

The spec is what a release engineer writes; the status is the operator's record
and its only memory. A restarted operator reads status and continues from it, so
everything a later decision needs (the step and when it started, the revisions,
consecutive metric failures, the rollback reason) lives here, not in process state.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from .evalreport import Candidate, Interval
from .meta import Condition, ObjectMeta
from .names import API_VERSION
from .outcomes import GateReport, ReasonCode, Result
from .policy import CanaryPolicy
from .requests import RequestAction
from .types import AgentName, Model, NonEmpty, ObjectName, cel


class Phase(StrEnum):
    PENDING = "Pending"
    GATING = "Gating"
    BLOCKED = "Blocked"
    CANARY = "Canary"
    PROMOTING = "Promoting"
    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"
    SUPERSEDED = "Superseded"

    @property
    def final(self) -> bool:
        return self in _FINAL


# Blocked is not final: its gates are evaluated again when reports or policy change,
# and a person may approve an Inconclusive gate.
_FINAL = {Phase.PROMOTED, Phase.ROLLED_BACK, Phase.FAILED, Phase.SUPERSEDED}


class ReleaseCandidate(Candidate):
    image: NonEmpty | None = Field(
        default=None, description="container image; replaces the template's first container image"
    )


class ReportRefs(Model):
    """EvalReport names (in the release's namespace) per stage."""

    offline: ObjectName | None = None
    prerelease: ObjectName | None = None


class BaselineRef(Model):
    eval_reports: ReportRefs


class WorkloadRef(Model):
    api_version: Literal["apps/v1"] = "apps/v1"
    kind: Literal["Deployment"] = "Deployment"
    name: ObjectName


class RolloutSpec(Model):
    model_config = cel(
        ("has(self.template) != has(self.workloadRef)", "set exactly one of template, workloadRef")
    )

    replicas: int = Field(default=20, ge=1, le=1000)
    template: dict[str, Any] | None = Field(default=None, description="a PodTemplateSpec")
    workload_ref: WorkloadRef | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.template is None) == (self.workload_ref is None):
            raise ValueError("set exactly one of template, workloadRef")
        return self


class AgentReleaseSpec(Model):
    """What to release. Agent and candidate are fixed once created: a different
    candidate is a new release (which supersedes this one), so status never
    describes a mix of two candidates. The API server enforces it (CEL transition
    rule); there is no pydantic twin, as a lone object has no old self."""

    model_config = cel(
        (
            "self.agent == oldSelf.agent && self.candidate == oldSelf.candidate",
            "agent and candidate are immutable: create a new AgentRelease instead",
        )
    )

    agent: AgentName
    candidate: ReleaseCandidate
    policy: ObjectName
    baseline: BaselineRef | None = None
    eval_reports: ReportRefs | None = None
    rollout: RolloutSpec
    canary: CanaryPolicy | None = Field(
        default=None, description="fields set here replace the policy's canary fields"
    )


class GateResults(Model):
    offline: GateReport | None = None
    prerelease: GateReport | None = None


class GuardrailResult(Model):
    """One guardrail at one look: canary against stable over the whole canary so far.

    Pass: a regression of the threshold's size is ruled out (settled). Fail: a regression
    is established. Inconclusive otherwise."""

    metric: str
    hard: bool = False
    result: Result
    reason: ReasonCode | None = None
    canary: float | None = None
    stable: float | None = None
    observed: float | None = Field(default=None, description="difference or ratio judged")
    threshold: float
    interval: Interval | None = Field(
        default=None, description="95% interval of observed at this look, for reading only"
    )
    evidence: float | None = Field(
        default=None,
        description="log likelihood ratio of a threshold-size regression against none",
    )
    screened: bool = Field(default=False, description="gross harm ruled out")
    settled: bool = Field(default=False, description="a threshold-size regression ruled out")
    canary_samples: int = 0
    stable_samples: int = 0
    message: str


class Analysis(Model):
    time: datetime
    step: int
    weight: int
    at: float = Field(default=0.0, description="seconds since the canary began")
    look: int = Field(description="looks since the canary began, this one included")
    verdict: str = ""
    result: Result
    guardrails: list[GuardrailResult] = Field(default_factory=list)


class CanaryEvidence(Model):
    """What the canary analysis keeps across looks and restarts (its sums are rebuilt
    from Prometheus history): when the evidence began, and what it has shown."""

    began_at: datetime = Field(description="start of the first analysis interval")
    step_began: float = Field(
        default=0.0, description="seconds after beganAt when the current step began"
    )
    screened: list[str] = Field(default_factory=list, description="metrics: gross harm ruled out")
    settled: list[str] = Field(default_factory=list, description="metrics: threshold ruled out")
    looks: int = 0


class StepForecast(Model):
    step: int
    weight: int
    require: str
    ends_at: datetime | None = Field(default=None, description="median; none if it may never")
    bound_by: str = Field(description="what sets the step's length: bake or a guardrail")


class GuardrailForecast(Model):
    metric: str
    collected: int = Field(description="canary tasks so far")
    needed: int | None = Field(
        default=None, description="canary tasks the current step's requirement needs, median"
    )


class Forecast(Model):
    """When a healthy canary should be done, at the traffic it has now."""

    time: datetime
    tasks_per_minute: float
    full_at: datetime | None = Field(default=None, description="median time at 100%")
    steps: list[StepForecast] = Field(default_factory=list)
    guardrails: list[GuardrailForecast] = Field(default_factory=list)


class RollbackRecord(Model):
    """Why a release was rolled back: machine-readable, also annotated on the Rollout."""

    reason: ReasonCode
    metric: str | None = None
    observed: float | None = None
    baseline: float | None = None
    threshold: float | None = None
    samples: int | None = None
    step: int | None = None
    weight: int | None = None
    time: datetime
    revision: str | None = None
    message: str


class ManualAction(Model):
    """A person's action, as carried out (or not) by the operator."""

    id: str = Field(description="the request's id, so a request is carried out once")
    action: RequestAction
    reason: str
    by: str | None = None
    time: datetime
    target: str | None = Field(
        default=None, description="what it applied to: offline, prerelease, step N"
    )
    outcome: str


class RolloutChange(StrEnum):
    """What a person did to the Rollout itself, with Argo's kubectl plugin (its command in
    brackets) or any other tool."""

    PROMOTE = "promote"  # past the current step (promote)
    PROMOTE_FULL = "promote-full"  # to 100% at once (promote --full)
    ABORT = "abort"  # (abort)
    RETRY = "retry"  # an aborted Rollout set going again (retry rollout)
    PAUSE = "pause"  # (pause)
    RESUME = "resume"  # a pause ended (promote, or spec.paused set back to false)
    UNDO = "undo"  # the template set back to an earlier revision (undo)


class RolloutAction(Model):
    """A person's action on the Rollout, as the operator noticed it and what it did about it.

    `by` is the field manager the API server recorded for the change (managedFields):
    the program, not the person (`kubectl-argo-rollouts`). None when managedFields keep
    no trace of it: a promote only clears the pause, and a field cleared is owned by no one.
    """

    action: RolloutChange
    by: str | None = None
    at: datetime | None = Field(default=None, description="when, as managedFields say it")
    time: datetime = Field(description="when the operator noticed it")
    attempt: int = Field(default=1, ge=1)
    step: int | None = Field(default=None, description="the release's step then")
    to_step: int | None = Field(default=None, description="a promote: the step reached")
    outcome: str


class RolloutStatus(Model):
    name: str
    canary_revision: str | None = None
    stable_revision: str | None = None


class BaselineStatus(Model):
    release: str | None = None
    eval_reports: ReportRefs | None = None


class AgentReleaseStatus(Model):
    phase: Phase = Phase.PENDING
    progress: str | None = Field(default=None, description="step/steps and weight, for kubectl")
    step: int | None = Field(default=None, description="current canary step, 1-based")
    weight: int | None = None
    reason: str | None = None
    message: str | None = None
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    gates: GateResults | None = None
    eval_reports: ReportRefs | None = None
    eval_run_ids: list[str] = Field(default_factory=list)
    baseline: BaselineStatus | None = None
    rollout: RolloutStatus | None = None
    canary: CanaryPolicy | None = Field(
        default=None, description="the canary settings in force, fixed when the canary starts"
    )
    step_started_at: datetime | None = None
    promoted_at: datetime | None = None
    evidence: CanaryEvidence | None = None
    analysis: Analysis | None = None
    forecast: Forecast | None = None
    metrics_failures: int = 0
    rollback: RollbackRecord | None = None
    attempt: int = Field(
        default=1, ge=1, description="a retry of the aborted Rollout starts the next attempt"
    )
    actions: list[ManualAction] = Field(default_factory=list)
    rollout_actions: list[RolloutAction] = Field(
        default_factory=list, description="what people did to the Rollout itself"
    )
    superseded_by: str | None = None


class AgentRelease(Model):
    api_version: Literal["agentrelease.dev/v1alpha1"] = API_VERSION
    kind: Literal["AgentRelease"] = "AgentRelease"
    metadata: ObjectMeta
    spec: AgentReleaseSpec
    status: AgentReleaseStatus | None = None
