"""The AgentRelease state machine: pure decisions from status and what was observed.

    Pending → Gating → Blocked
                     → Canary(step k, k = 1..n−1) → Promoting → Promoted
                                                   → RolledBack
    (any non-final phase) → Superseded | Failed

`decide(release, world)` returns the new status fields and the side effects that
make the world match them. Status is written first, then the effects are applied,
and every effect is re-derived from status on the next reconcile: an operator killed
between the two simply applies them again. Effects are therefore idempotent by
construction — a step is promoted only while the Rollout is paused at the pause
*before* the step status asks for, so a replayed promotion can never skip a step.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from ..api.evalreport import EvalReport
from ..api.names import ANNOTATION_EVAL_RUNS, ANNOTATION_RELEASE, ANNOTATION_ROLLBACK, StatusReason
from ..api.names import ConditionType as C
from ..api.outcomes import GateReport, ReasonCode, Result
from ..api.policy import Action, CanaryPolicy, ReleasePolicy
from ..api.release import (
    AgentRelease,
    AgentReleaseStatus,
    BaselineStatus,
    CanaryEvidence,
    GateResults,
    GuardrailResult,
    ManualAction,
    Phase,
    ReportRefs,
    RollbackRecord,
    RolloutStatus,
)
from ..api.requests import PersonRequest, RequestAction
from ..api.types import Stage, parse_duration
from ..canary.analyzer import Verdict
from ..gates import candidate_mismatch, evaluate, report_invalid, report_missing
from . import rollouts
from .facts import AnalysisOutcome, World
from .plan import (
    AbortRollout,
    ActionTaken,
    AnnotateRollout,
    CanaryStarted,
    CreateRollout,
    GateDecided,
    Holding,
    MetricsUnavailable,
    Plan,
    Promoted,
    PromoteStep,
    RolledBack,
    StepPromoted,
    Superseded,
    UpdateRollout,
    describe_request,
)

# -- helpers -----------------------------------------------------------------------------


def canary_policy(release: AgentRelease, policy: ReleasePolicy) -> CanaryPolicy:
    return policy.spec.canary.merged(release.spec.canary)


def progress(step: int | None, steps: int, weight: int | None) -> str | None:
    if step is None or weight is None:
        return None
    return f"{step}/{steps} {weight}%"


# -- the decision ------------------------------------------------------------------------

STAGES = ((Stage.OFFLINE, C.OFFLINE_GATE_PASSED), (Stage.PRERELEASE, C.PRERELEASE_GATE_PASSED))


def decide(release: AgentRelease, world: World) -> Plan:
    status = release.status or AgentReleaseStatus()
    generation = release.metadata.generation
    plan = Plan(
        status.model_copy(update={"observed_generation": generation}), world.now, generation
    )
    if status.phase.final:
        _keep_final(release, world, plan)
    elif world.rival is not None:
        _supersede(world.rival, plan)
    elif world.request is not None and world.request.action is RequestAction.ABORT:
        _rollback(plan, ReasonCode.MANUAL_ABORT, _by(world.request))
        _record(plan, world, None, "rolled back")
    elif status.phase in (Phase.PENDING, Phase.GATING, Phase.BLOCKED):
        _gate(release, world, plan)
    else:
        _canary(release, world, plan)
    if world.request is not None and not any(a.id == world.request.id for a in plan.status.actions):
        _record(
            plan,
            world,
            None,
            f"nothing to {world.request.action} in phase {plan.status.phase.value}",
        )
    return plan


def _by(request: PersonRequest) -> str:
    return describe_request(request.action.value, request.by, request.reason)


def _record(plan: Plan, world: World, target: str | None, outcome: str) -> None:
    """Mark the pending request as carried out, so it is never carried out twice."""
    request = world.request
    assert request is not None
    action = ManualAction(
        id=request.id,
        action=request.action,
        reason=request.reason,
        by=request.by,
        time=world.now,
        target=target,
        outcome=outcome,
    )
    plan.set(actions=[*plan.status.actions, action])
    plan.tell(ActionTaken(action))


def _approved(status: AgentReleaseStatus, target: str) -> bool:
    return any(a.action is RequestAction.APPROVE and a.target == target for a in status.actions)


def _supersede(rival: str, plan: Plan) -> None:
    message = f"superseded by the newer release {rival}, which now drives the Rollout"
    plan.set(
        phase=Phase.SUPERSEDED,
        reason=ReasonCode.SUPERSEDED.value,
        message=message,
        superseded_by=rival,
    )
    plan.tell(Superseded(rival, message))


def _keep_final(release: AgentRelease, world: World, plan: Plan) -> None:
    """A final phase only makes sure the Rollout reflects it (after a crash, say)."""
    rollout, status = world.rollout, plan.status
    if rollout is None or rollout.release != release.metadata.name:
        return  # a newer release drives the Rollout now
    if status.phase is Phase.ROLLED_BACK and status.rollback and not rollout.aborted:
        _rollback_effects(plan, status.rollback, deployed=True, replayed=True)
    if status.phase is Phase.PROMOTED and rollout.eval_runs != ",".join(status.eval_run_ids):
        _promoted_effects(release, plan, replayed=True)


def _rollback_annotation(record: RollbackRecord) -> dict[str, str]:
    return {ANNOTATION_ROLLBACK: record.model_dump_json(by_alias=True, exclude_none=True)}


# -- gates -------------------------------------------------------------------------------


def _gate_one(release: AgentRelease, world: World, stage: Stage) -> GateReport:
    assert world.policy is not None
    lookup = world.reports[stage]
    if lookup.report is None:
        if lookup.invalid is not None:
            return report_invalid(stage, lookup.missing or stage.value, lookup.invalid)
        return report_missing(stage, lookup.missing or "none found")
    report = lookup.report
    if report.spec.agent != release.spec.agent:
        return report_invalid(
            stage,
            report.metadata.name,
            f"it evaluates agent {report.spec.agent}, the release is for {release.spec.agent}",
        )
    mismatch = candidate_mismatch(
        stage, report.metadata.name, report.spec.candidate, release.spec.candidate
    )
    if mismatch is not None:
        return mismatch
    baseline = world.baseline.reports.get(stage)
    return evaluate(
        stage, report.spec, world.policy.spec, baseline=None if baseline is None else baseline.spec
    )


def _gate(release: AgentRelease, world: World, plan: Plan) -> None:
    if world.policy is None:
        plan.set(
            phase=Phase.GATING,
            reason="PolicyMissing",
            message=f"ReleasePolicy {release.spec.policy} does not exist (yet)",
        )
        return
    results: dict[Stage, GateReport] = {}
    blocking: GateReport | None = None
    for stage, kind in STAGES:
        report = _gate_one(release, world, stage)
        results[stage] = report
        passed = report.decision is Result.PASS
        inconclusive = report.decision is Result.INCONCLUSIVE
        request = world.request
        asked = request is not None and request.action is RequestAction.APPROVE
        if inconclusive and asked and not _approved(plan.status, stage.value):
            _record(plan, world, stage.value, f"accepted the Inconclusive {stage.value} gate")
        approved = inconclusive and _approved(plan.status, stage.value)
        _gate_condition(plan, stage, kind, report, approved)
        if not (passed or approved):
            blocking = report
            break
    plan.set(
        gates=GateResults(
            offline=results.get(Stage.OFFLINE), prerelease=results.get(Stage.PRERELEASE)
        ),
    )
    if blocking is None:
        _start_canary(release, world, plan)
        return
    waiting = blocking.reasons == [ReasonCode.REPORT_MISSING]
    plan.set(
        phase=Phase.GATING if waiting else Phase.BLOCKED,
        reason=blocking.reasons[0].value if blocking.reasons else blocking.decision.value,
        message=blocking.headline(),
        progress=None,
    )


def _gate_condition(plan: Plan, stage: Stage, kind: C, report: GateReport, approved: bool) -> None:
    passed = report.decision is Result.PASS
    if passed:
        reason = StatusReason.GATE_PASSED.value
    elif approved:
        reason = StatusReason.APPROVED.value
    else:
        reason = report.reasons[0].value if report.reasons else report.decision.value
    message = report.headline() + (" (approved by a person)" if approved else "")
    previous = getattr(plan.status.gates or GateResults(), stage.value)
    changed = (
        previous is None
        or previous.decision is not report.decision
        or previous.reasons != report.reasons
    )
    plan.condition(kind, passed or approved, reason, message)
    if changed:
        plan.tell(GateDecided(stage, report, plan.generation))


def _start_canary(release: AgentRelease, world: World, plan: Plan) -> None:
    assert world.policy is not None
    settings = canary_policy(release, world.policy)
    reports = [world.reports[stage].report for stage, _ in STAGES]
    run_ids = [r.spec.run_id for r in reports if r is not None]
    names = [r.metadata.name if r is not None else None for r in reports]
    baseline = world.baseline
    steps = len(settings.steps)
    first = world.rollout is None or world.rollout.stable_hash is None
    plan.set(
        eval_reports=ReportRefs(offline=names[0], prerelease=names[1]),
        eval_run_ids=run_ids,
        baseline=BaselineStatus(
            release=baseline.release,
            eval_reports=ReportRefs(
                offline=_name(baseline.reports.get(Stage.OFFLINE)),
                prerelease=_name(baseline.reports.get(Stage.PRERELEASE)),
            ),
        ),
        rollout=RolloutStatus(name=rollouts.rollout_name_of(release.spec.agent)),
        canary=settings,
        step_started_at=None,
        evidence=None,
        analysis=None,
        forecast=None,
        metrics_failures=0,
    )
    if first:
        message = (
            f"first release of agent {release.spec.agent}: deployed at once, as there is no "
            "stable version to compare a canary with"
        )
        plan.set(
            phase=Phase.PROMOTING,
            step=steps,
            weight=100,
            progress=progress(steps, steps, 100),
            reason=StatusReason.FIRST_RELEASE.value,
            message=message,
        )
    else:
        weight = settings.steps[0].weight
        message = f"canary started: step 1/{steps} at {weight}% of traffic"
        plan.set(
            phase=Phase.CANARY,
            step=1,
            weight=weight,
            progress=progress(1, steps, weight),
            reason=StatusReason.CANARY_STARTED.value,
            message=message,
        )
    plan.tell(CanaryStarted(message))
    plan.effect(CreateRollout() if world.rollout is None else UpdateRollout())


def _name(report: EvalReport | None) -> str | None:
    return None if report is None else report.metadata.name


# -- canary ------------------------------------------------------------------------------


def _canary(release: AgentRelease, world: World, plan: Plan) -> None:
    status = plan.status
    settings = status.canary
    rollout = world.rollout
    assert settings is not None
    assert status.step is not None
    if rollout is None:
        plan.effect(CreateRollout())  # status was written, the create was not
        return
    if rollout.release != release.metadata.name:
        plan.effect(UpdateRollout())
        return
    if not rollout.caught_up:
        return
    if rollout.aborted:
        _rollback(
            plan,
            ReasonCode.MANUAL_ABORT,
            "the Rollout was aborted outside the operator",
        )
        return
    if rollout.phase == "Degraded":
        _rollback(
            plan,
            ReasonCode.ROLLOUT_DEGRADED,
            f"the Rollout is Degraded: {rollout.message}",
        )
        return
    steps = len(settings.steps)
    if status.phase is Phase.PROMOTING:
        if rollout.healthy_on_current:
            _promoted(release, world, plan)
        elif steps > 1 and rollout.paused_at(rollouts.pause_index(steps - 1)):
            _promotion_effects(plan, steps - 1, replayed=True)  # status moved on, Rollout not
        return
    step = status.step
    if step > 1 and rollout.paused_at(rollouts.pause_index(step - 1)):
        _promotion_effects(plan, step - 1, replayed=True)  # status moved on, Rollout not
        return
    if not rollout.paused_at(rollouts.pause_index(step)):
        return  # still shifting traffic to this step's weight
    if status.step_started_at is None and world.canary_release != release.metadata.name:
        # Argo Rollouts may report the previous canary's pause and hash for a moment after
        # the template changed: bake only once the canary ReplicaSet runs this release
        return
    if status.step_started_at is None:
        if status.evidence is None:  # the first step: the canary's evidence begins
            plan.set(evidence=CanaryEvidence(began_at=_next_interval(world.now, settings)))
        plan.set(
            step_started_at=world.now,
            rollout=RolloutStatus(
                name=rollouts.rollout_name_of(release.spec.agent),
                canary_revision=rollout.current_hash,
                stable_revision=rollout.stable_hash,
            ),
            reason=StatusReason.BAKING.value,
            message=f"step {step}/{steps}: {status.weight}% of traffic on revision "
            f"{rollout.current_hash}, baking {settings.steps[step - 1].bake_time}",
        )
        return
    request = world.request
    if request is not None and request.action is RequestAction.PROMOTE:
        _record(plan, world, f"step {step}", "promoted one step")
        _promote(plan, f"promoted by a person: {request.reason}")
        return
    if request is not None and request.action is RequestAction.APPROVE:
        _record(plan, world, f"step {step}", f"step {step} may promote even if undecided")
    if world.outcome is not None and world.outcome.step == step:
        _apply_outcome(plan, world.outcome, settings)


def _next_interval(now: datetime, settings: CanaryPolicy) -> datetime:
    """The start of the first whole analysis interval from `now` on (looks and intervals
    fall on multiples of the interval since the epoch, shared by all canaries)."""
    interval = parse_duration(settings.analysis_interval)
    return datetime.fromtimestamp(math.ceil(now.timestamp() / interval) * interval, UTC)


def _apply_outcome(plan: Plan, outcome: AnalysisOutcome, settings: CanaryPolicy) -> None:
    step = plan.status.step
    assert step is not None
    if outcome.analysis is None or outcome.decision is None:
        failures = plan.status.metrics_failures + 1
        message = f"guardrail metrics unavailable ({failures} in a row): {outcome.error}"
        plan.set(metrics_failures=failures)
        if failures < settings.metrics_unavailable.after:
            return
        if settings.metrics_unavailable.action is Action.ROLLBACK:
            _rollback(plan, ReasonCode.METRICS_UNAVAILABLE, message)
            return
        if plan.status.reason != ReasonCode.METRICS_UNAVAILABLE.value:
            plan.tell(MetricsUnavailable(step, message + "; holding the step", plan.now))
        plan.set(reason=ReasonCode.METRICS_UNAVAILABLE.value, message=message)
        plan.condition(C.CANARY_HEALTHY, None, ReasonCode.METRICS_UNAVAILABLE.value, message)
        return
    decision = outcome.decision
    evidence = plan.status.evidence
    if evidence is not None:
        state = decision.state
        evidence = evidence.model_copy(
            update={
                "screened": sorted(state.screened),
                "settled": sorted(state.settled),
                "looks": state.looks,
            }
        )
    plan.set(
        analysis=outcome.analysis, forecast=outcome.forecast, evidence=evidence, metrics_failures=0
    )
    if decision.verdict is Verdict.ROLLBACK:
        _rollback(
            plan,
            decision.reason or ReasonCode.GUARDRAIL_BREACHED,
            decision.message,
            decision.trigger,
        )
    elif decision.verdict is Verdict.PROMOTE:
        _promote(plan, decision.message, at=decision.at)
    elif decision.verdict is Verdict.HOLD:
        if _approved(plan.status, f"step {step}"):
            _promote(
                plan, f"approved by a person although undecided: {decision.message}", at=decision.at
            )
            return
        reason = (decision.reason or ReasonCode.INSUFFICIENT_EVIDENCE).value
        if plan.status.reason != reason:
            told = f"step {step} is past its maxBake, undecided: {decision.message}"
            plan.tell(Holding(step, reason, told))
        plan.set(reason=reason, message=f"holding step {step}: {decision.message}")
        plan.condition(C.CANARY_HEALTHY, None, reason, decision.message)
    else:
        results = outcome.analysis.guardrails
        passing = sum(r.result is Result.PASS for r in results)
        message = f"step {step}: {passing}/{len(results)} guardrails settled so far, none breached"
        plan.set(reason=StatusReason.BAKING.value, message=message)
        plan.condition(C.CANARY_HEALTHY, True, StatusReason.NO_BREACH.value, message)


def _promote(plan: Plan, why: str, at: float | None = None) -> None:
    """Go to the next step; its bake counts from `at` (seconds since the canary's evidence
    began: the look that decided), else from now (a person's promote)."""
    status = plan.status
    settings = status.canary
    assert settings is not None
    assert status.step is not None
    step, steps = status.step, len(settings.steps)
    nxt = step + 1
    weight = settings.steps[nxt - 1].weight
    evidence = status.evidence
    if evidence is not None:
        began = at if at is not None else (plan.now - evidence.began_at).total_seconds()
        plan.set(evidence=evidence.model_copy(update={"step_began": began}))
    plan.set(
        phase=Phase.PROMOTING if nxt == steps else Phase.CANARY,
        step=nxt,
        weight=weight,
        progress=progress(nxt, steps, weight),
        step_started_at=None,
        reason=StatusReason.STEP_PROMOTED.value,
        message=f"step {step}/{steps} ({status.weight}%) → {nxt}/{steps} ({weight}%): {why}",
    )
    plan.condition(C.CANARY_HEALTHY, True, StatusReason.STEP_PROMOTED.value, why)
    started = status.step_started_at
    baked = (plan.now - started).total_seconds() if started is not None else None
    _promotion_effects(plan, step, baked)


def _promotion_effects(
    plan: Plan, step: int, baked_seconds: float | None = None, *, replayed: bool = False
) -> None:
    """Promote from `step`, and tell it. Also what a replay after a crash does: status
    already holds the decision (its message is the Event's), the Event is keyed by the
    step, so a promotion told before the crash is not told twice."""
    message = plan.status.message or ""
    plan.tell(StepPromoted(step, message, baked_seconds, replayed=replayed))
    plan.effect(PromoteStep(expected_index=rollouts.pause_index(step)))


def _promoted(release: AgentRelease, world: World, plan: Plan) -> None:
    runs = ", ".join(plan.status.eval_run_ids)
    message = (
        f"{release.spec.agent} runs {release.spec.candidate.describe()} at 100%; eval runs {runs}"
    )
    plan.set(
        phase=Phase.PROMOTED,
        promoted_at=world.now,
        reason=StatusReason.PROMOTED.value,
        message=message,
    )
    plan.condition(C.PROMOTED, True, StatusReason.PROMOTED.value, message)
    _promoted_effects(release, plan)


def _promoted_effects(release: AgentRelease, plan: Plan, *, replayed: bool = False) -> None:
    plan.tell(Promoted(plan.status.message or "", replayed=replayed))
    annotations = {
        ANNOTATION_EVAL_RUNS: ",".join(plan.status.eval_run_ids),
        ANNOTATION_RELEASE: release.metadata.name,
    }
    plan.effect(AnnotateRollout(annotations))


def _rollback(
    plan: Plan, reason: ReasonCode, message: str, trigger: GuardrailResult | None = None
) -> None:
    status = plan.status
    deployed = status.phase in (Phase.CANARY, Phase.PROMOTING)
    record = RollbackRecord(
        reason=reason,
        metric=trigger.metric if trigger else None,
        observed=trigger.observed if trigger else None,
        baseline=trigger.stable if trigger else None,
        threshold=trigger.threshold if trigger else None,
        samples=trigger.canary_samples if trigger else None,
        step=status.step if deployed else None,
        weight=status.weight if deployed else None,
        time=plan.now,
        revision=status.rollout.canary_revision if status.rollout else None,
        message=message,
    )
    plan.set(phase=Phase.ROLLED_BACK, reason=reason.value, message=message, rollback=record)
    plan.condition(C.CANARY_HEALTHY, False, reason.value, message)
    plan.condition(C.ROLLED_BACK, True, reason.value, message)
    _rollback_effects(plan, record, deployed)


def _rollback_effects(
    plan: Plan, record: RollbackRecord, deployed: bool, *, replayed: bool = False
) -> None:
    """Abort and tell; replayed as is when a crash came between status and Rollout."""
    plan.tell(RolledBack(record, replayed=replayed))
    if deployed:
        plan.effect(AbortRollout())
        plan.effect(AnnotateRollout(_rollback_annotation(record)))
