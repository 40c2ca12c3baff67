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
from ..api.names import (
    ANNOTATION_EVAL_RUNS,
    ANNOTATION_RELEASE,
    ANNOTATION_ROLLBACK,
    FIELD_MANAGER,
    StatusReason,
)
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
    RolloutAction,
    RolloutChange,
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
    RolloutActed,
    StepPromoted,
    Superseded,
    UpdateRollout,
    describe_request,
)
from .rollouts import FieldOwner, RolloutView

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
    """A final phase only makes sure the Rollout reflects it (after a crash, say), unless
    a person set the aborted Rollout going again (`_retried`)."""
    rollout, status = world.rollout, plan.status
    if rollout is None or rollout.release != release.metadata.name:
        return  # a newer release drives the Rollout now (or an older one's, after an undo)
    if status.phase is Phase.ROLLED_BACK and status.rollback and not rollout.aborted:
        retry = _retry_of(rollout, status.rollback)
        if retry is not None:
            _retried(release, world, plan, retry)
        elif status.rollback.reason is ReasonCode.MANUAL_UNDO:
            # the template of an undone release is back (an undo of the undo): a person's
            # call like a retry, and the canary runs again in Argo
            _adopt(release, world, plan, rollout.template_by, "its template was restored")
        else:  # killed after deciding the rollback, before the abort reached the Rollout
            _rollback_effects(plan, status.rollback, deployed=True, replayed=True)
    elif status.phase is Phase.ROLLED_BACK and status.rollback and rollout.rollback is None:
        # aborted, but the record never reached the Rollout (fenced, or killed, between the
        # abort and the annotation): annotate it, telling nothing again
        plan.effect(AnnotateRollout(_rollback_annotation(status.rollback)))
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
    """The Rollout as people and Argo left it (ours? undone, aborted, Degraded, paused?),
    then the step."""
    rollout = world.rollout
    if rollout is None:
        plan.effect(CreateRollout())  # status was written, the create was not
        return
    if rollout.claimed_by == release.metadata.name and rollout.undone:
        _undone(world, plan, rollout)
        return
    if rollout.release != release.metadata.name:
        plan.effect(UpdateRollout())
        return
    if not rollout.caught_up or _previous_abort(rollout, plan.status):
        return
    if rollout.aborted:
        by = _who(rollout.abort_by)
        _noticed(plan, world, RolloutChange.ABORT, rollout.abort_by, "rolled back (ManualAbort)")
        _rollback(plan, ReasonCode.MANUAL_ABORT, f"the Rollout was aborted by {by}")
        return
    if rollout.degraded:
        _rollback(
            plan,
            ReasonCode.ROLLOUT_DEGRADED,
            f"the Rollout is Degraded: {rollout.message}",
        )
        return
    _pause_or_resume(world, plan, rollout)
    _step(release, world, plan, rollout)
    if rollout.held and plan.status.phase in (Phase.CANARY, Phase.PROMOTING):
        _say_held(plan, rollout)


def _previous_abort(rollout: RolloutView, status: AgentReleaseStatus) -> bool:
    """The abort on the Rollout is the operator's own for an earlier release, not a
    person's: Argo clears it once it acts on this release's template, and until then it
    may report that template as observed (a condition patched first, `observedGeneration`
    with it) while the old abort and its Degraded phase are still there. The operator
    aborts for a release only after its status says so, so an abort of ours on a release
    whose status holds no rollback is an earlier release's."""
    owner = rollout.abort_by
    return (
        rollout.aborted
        and owner is not None
        and owner.manager == FIELD_MANAGER
        and status.rollback is None
    )


def _step(release: AgentRelease, world: World, plan: Plan, rollout: RolloutView) -> None:
    """Where the canary is: promoting, following the Rollout, baking, deciding a step."""
    status = plan.status
    settings = status.canary
    assert settings is not None
    assert status.step is not None
    steps = len(settings.steps)
    if status.phase is Phase.PROMOTING:
        if rollout.healthy_on_current:
            _promoted(release, world, plan)
        elif steps > 1 and rollout.paused_at(rollouts.pause_index(steps - 1)) and not rollout.held:
            _promotion_effects(plan, steps - 1, replayed=True)  # status moved on, Rollout not
        return
    step = status.step
    index = rollout.step_index
    if (
        index is not None
        and rollouts.step_at(index, steps) > step
        and _runs_ours(plan, world, release.metadata.name)
    ):
        _follow(world, plan, rollout, rollouts.step_at(index, steps))
        return
    if step > 1 and rollout.paused_at(rollouts.pause_index(step - 1)):
        if not rollout.held:  # status moved on, the Rollout not
            _promotion_effects(plan, step - 1, replayed=True)
        return
    if not rollout.paused_at(rollouts.pause_index(step)):
        return  # still shifting traffic to this step's weight (or held on the way)
    if status.step_started_at is None and world.canary_release != release.metadata.name:
        # Argo Rollouts may report the previous canary's pause and hash for a moment after
        # the template changed: bake only once the canary ReplicaSet runs this release
        return
    if status.step_started_at is None:
        if status.evidence is None:  # the first step: the canary's evidence begins
            plan.set(evidence=CanaryEvidence(began_at=_next_interval(world.now, settings)))
        else:
            plan.set(evidence=_reached(status.evidence, world.now, settings))
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
        if rollout.held:
            _record(plan, world, f"step {step}", f"not promoted: {_held_note(rollout)}")
            return
        _record(plan, world, f"step {step}", "promoted one step")
        _promote(plan, f"promoted by a person: {request.reason}")
        return
    if request is not None and request.action is RequestAction.APPROVE:
        _record(plan, world, f"step {step}", f"step {step} may promote even if undecided")
    if world.outcome is not None and world.outcome.step == step:
        _apply_outcome(plan, world.outcome, settings, held=rollout.held)


def _reached(evidence: CanaryEvidence, now: datetime, settings: CanaryPolicy) -> CanaryEvidence:
    """The Rollout is paused at a later step now: its bake counts from the look that
    promoted the step before (`_promote`), unless the Rollout got here in a later interval
    than that look's (Argo's controller or the API server away, the operator restarted
    between writing the step and promoting the Rollout): then from the start of the
    interval it got here in. Time on the way is not time at this step's weight: counted,
    a delay would eat the bake, and one longer than the bake would skip the step."""
    interval = parse_duration(settings.analysis_interval)
    since = (now - evidence.began_at).total_seconds()
    reached = math.floor(since / interval) * interval
    if reached <= evidence.step_began:
        return evidence
    return evidence.model_copy(update={"step_began": reached})


def _next_interval(now: datetime, settings: CanaryPolicy) -> datetime:
    """The start of the first whole analysis interval from `now` on (looks and intervals
    fall on multiples of the interval since the epoch, shared by all canaries)."""
    interval = parse_duration(settings.analysis_interval)
    return datetime.fromtimestamp(math.ceil(now.timestamp() / interval) * interval, UTC)


def _apply_outcome(
    plan: Plan, outcome: AnalysisOutcome, settings: CanaryPolicy, *, held: bool = False
) -> None:
    """The look's verdict; `held` (a person paused the Rollout) keeps any promotion back,
    never a rollback."""
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
    elif decision.verdict is Verdict.PROMOTE and held:  # `_say_held` tells it
        plan.condition(C.CANARY_HEALTHY, True, StatusReason.NO_BREACH.value, decision.message)
    elif decision.verdict is Verdict.PROMOTE:
        _promote(plan, decision.message, at=decision.at)
    elif decision.verdict is Verdict.HOLD:
        if _approved(plan.status, f"step {step}") and not held:
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
    assert status.step is not None
    step = status.step
    _move_to(plan, step + 1, StatusReason.STEP_PROMOTED, why, at)
    plan.condition(C.CANARY_HEALTHY, True, StatusReason.STEP_PROMOTED.value, why)
    started = status.step_started_at
    baked = (plan.now - started).total_seconds() if started is not None else None
    _promotion_effects(plan, step, baked)


def _move_to(plan: Plan, nxt: int, reason: StatusReason, why: str, at: float | None = None) -> str:
    """Status at step `nxt`, waiting for its pause to bake (from `at`, seconds since the
    evidence began, else from now), saying why; returns the move ("step 1/3 (5%) → 2/3
    (50%)")."""
    status = plan.status
    settings = status.canary
    assert settings is not None
    steps, weight = len(settings.steps), settings.steps[nxt - 1].weight
    evidence = status.evidence
    if evidence is not None:
        began = at if at is not None else (plan.now - evidence.began_at).total_seconds()
        plan.set(evidence=evidence.model_copy(update={"step_began": began}))
    moved = f"step {status.step}/{steps} ({status.weight}%) → {nxt}/{steps} ({weight}%)"
    plan.set(
        phase=Phase.PROMOTING if nxt == steps else Phase.CANARY,
        step=nxt,
        weight=weight,
        progress=progress(nxt, steps, weight),
        step_started_at=None,
        reason=reason.value,
        message=f"{moved}: {why}",
    )
    return moved


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
    status = plan.status
    runs = ", ".join(status.eval_run_ids)
    message = (
        f"{release.spec.agent} runs {release.spec.candidate.describe()} at 100%; eval runs {runs}"
    )
    reason = StatusReason.PROMOTED
    steps = len(status.canary.steps) if status.canary else 0
    pushed = [
        a
        for a in status.rollout_actions
        if a.attempt == status.attempt and a.to_step == steps and a.step is not None
    ]
    if pushed:  # a person took it to 100%: say which steps the analysis did not decide
        last = pushed[-1]
        full = last.action is RolloutChange.PROMOTE_FULL
        reason = StatusReason.MANUAL_FULL_PROMOTE if full else StatusReason.MANUAL_PROMOTE
        assert last.step is not None
        undecided = (
            f"step {last.step}" if last.step == steps - 1 else f"steps {last.step} to {steps - 1}"
        )
        message += (
            f"; promoted {'in full ' if full else ''}by {last.by or 'an unknown client'} "
            f"at step {last.step}/{steps}: the canary analysis did not decide {undecided}"
        )
    plan.set(
        phase=Phase.PROMOTED,
        promoted_at=world.now,
        reason=reason.value,
        message=message,
    )
    plan.condition(C.PROMOTED, True, reason.value, message)
    _promoted_effects(release, plan)


def _promoted_effects(release: AgentRelease, plan: Plan, *, replayed: bool = False) -> None:
    plan.tell(Promoted(plan.status.message or "", replayed=replayed))
    annotations = {
        ANNOTATION_EVAL_RUNS: ",".join(plan.status.eval_run_ids),
        ANNOTATION_RELEASE: release.metadata.name,
    }
    plan.effect(AnnotateRollout(annotations))


def _rollback(
    plan: Plan,
    reason: ReasonCode,
    message: str,
    trigger: GuardrailResult | None = None,
    *,
    abort: bool = True,
) -> None:
    """Roll back, and abort the Rollout unless Argo already serves the stable revision
    (`abort=False`: an undo set the template back)."""
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
    _rollback_effects(plan, record, deployed, abort=abort)


def _rollback_effects(
    plan: Plan,
    record: RollbackRecord,
    deployed: bool,
    *,
    replayed: bool = False,
    abort: bool = True,
) -> None:
    """Abort and tell; replayed as is when a crash came between status and Rollout."""
    plan.tell(RolledBack(record, replayed=replayed))
    if deployed:
        if abort:
            plan.effect(AbortRollout())
        plan.effect(AnnotateRollout(_rollback_annotation(record)))


# -- people acting on the Rollout itself ---------------------------------------------------
#
# On call may use Argo's own tools beside the operator (`kubectl argo rollouts promote|
# abort|retry|pause|undo`, or `kubectl patch`). The operator notices each from the Rollout,
# records it in `status.rolloutActions` with the field manager that made it, tells it
# (a ManualAction Event) and goes on from where the person left the Rollout: it never
# reverses a person's action, except a retry of a canary shown to harm, which it refuses
# out loud (docs/operator.md, "People's actions").

# Rollback reasons that are evidence of harm: a retry of such a canary is refused.
_PROVEN_HARM = frozenset({ReasonCode.GUARDRAIL_BREACHED, ReasonCode.POLICY_VIOLATION})


def _who(owner: FieldOwner | None) -> str:
    if owner is None:
        return "someone outside the operator (its managedFields name no one)"
    return owner.describe()


def _noticed(
    plan: Plan,
    world: World,
    action: RolloutChange,
    owner: FieldOwner | None,
    outcome: str,
    *,
    step: int | None = None,
    to_step: int | None = None,
    refused: bool = False,
) -> None:
    """Record a person's action on the Rollout (once: status then shows it done) and tell
    it; `step` is the release's step then (else the one status names now)."""
    status = plan.status
    record = RolloutAction(
        action=action,
        by=owner.manager if owner else None,
        at=owner.at if owner else None,
        time=world.now,
        attempt=status.attempt,
        step=step if step is not None else status.step,
        to_step=to_step,
        outcome=outcome,
    )
    plan.set(rollout_actions=[*status.rollout_actions, record])
    plan.tell(RolloutActed(record, refused=refused))


def _runs_ours(plan: Plan, world: World, name: str) -> bool:
    """The Rollout's current revision is this release's canary (not a previous canary's
    state, which Argo may still report for a moment after a template change): the one
    its first bake recorded, or, before that, the one whose template names the release."""
    rollout, known = world.rollout, plan.status.rollout
    assert rollout is not None
    if rollout.current_hash is None:
        return False
    if known is not None and known.canary_revision is not None:
        return rollout.current_hash == known.canary_revision
    return world.canary_release == name


def _follow(world: World, plan: Plan, rollout: RolloutView, to_step: int) -> None:
    """A person promoted the Rollout past the step status names: follow it there, and bake
    that step as any other (a full promotion goes to Promoting, then Promoted)."""
    status = plan.status
    settings = status.canary
    assert settings is not None
    steps, full = len(settings.steps), rollout.promote_full
    owner = rollout.promote_full_by if full else None
    by = _who(owner) if full else "someone outside the operator (a promote leaves no owner)"
    if to_step == steps:
        then = "the operator follows it to 100%"
    else:
        then = f"the operator follows and bakes step {to_step} before it promotes again"
    reason = StatusReason.MANUAL_FULL_PROMOTE if full else StatusReason.MANUAL_PROMOTE
    how = f"promoted {'in full ' if full else ''}by {by}; {then}"
    moved = _move_to(plan, to_step, reason, how)
    action = RolloutChange.PROMOTE_FULL if full else RolloutChange.PROMOTE
    _noticed(plan, world, action, owner, f"followed: {moved}", step=status.step, to_step=to_step)


def _held_note(rollout: RolloutView) -> str:
    return (
        f"the Rollout is paused by {_who(rollout.paused_by)}; the operator promotes no step "
        "until it is resumed (kubectl argo rollouts promote), and still rolls back on a breach"
    )


def _holding(status: AgentReleaseStatus) -> bool:
    """The last pause or resume of this attempt that status recorded is a pause."""
    for action in reversed(status.rollout_actions):
        if action.attempt != status.attempt:
            return False
        if action.action in (RolloutChange.PAUSE, RolloutChange.RESUME):
            return action.action is RolloutChange.PAUSE
    return False


def _pause_or_resume(world: World, plan: Plan, rollout: RolloutView) -> None:
    """Record a pause (`spec.paused`) when it begins and when it ends: the operator never
    clears a pause a person set, and says it is held meanwhile."""
    holding = _holding(plan.status)
    if rollout.held and not holding:
        outcome = f"held: {_held_note(rollout)}"
        _noticed(plan, world, RolloutChange.PAUSE, rollout.paused_by, outcome)
    elif holding and not rollout.held:
        outcome = "the canary goes on from where the Rollout is"
        _noticed(plan, world, RolloutChange.RESUME, rollout.paused_by, outcome)
        plan.set(
            reason=StatusReason.MANUAL_RESUME.value,
            message=f"resumed by {_who(rollout.paused_by)}: {outcome}",
        )


def _say_held(plan: Plan, rollout: RolloutView) -> None:
    """While held, reason and message say so (the looks go on: `status.analysis`), and
    whether the step would promote now."""
    status = plan.status
    if status.reason == ReasonCode.METRICS_UNAVAILABLE.value:
        return  # more urgent than the pause, and says it holds too
    settings = status.canary
    assert settings is not None
    steps = len(settings.steps)
    at = rollouts.step_at(rollout.step_index or 0, steps)
    note = f"held at step {at}/{steps} ({settings.steps[at - 1].weight}%): {_held_note(rollout)}"
    look = status.analysis
    if look is not None and look.step == status.step and look.verdict == Verdict.PROMOTE.value:
        note += f"; step {status.step} is ready to promote"
    plan.set(reason=StatusReason.MANUAL_PAUSE.value, message=note)


def _undone(world: World, plan: Plan, rollout: RolloutView) -> None:
    """A person set the Rollout's template back to an earlier release's (`undo`): Argo
    serves the stable revision already. The release ends RolledBack (ManualUndo); its
    template is not applied again."""
    earlier = rollout.template_release or "a revision without a release"
    message = (
        f"the Rollout was rolled back to the template of {earlier} by {_who(rollout.template_by)}:"
        " this release no longer runs, and the operator does not apply its template again"
    )
    _noticed(plan, world, RolloutChange.UNDO, rollout.template_by, "rolled back (ManualUndo)")
    _rollback(plan, ReasonCode.MANUAL_UNDO, message, abort=False)


def _retry_of(rollout: RolloutView, record: RollbackRecord) -> FieldOwner | None:
    """Who set the aborted Rollout going again after this rollback, if someone did.

    A retry sets `status.abort` back to false. An abort field that is false but was written
    before the rollback (by an earlier attempt's retry) is no retry: the rollback's own abort
    has not reached the Rollout yet (a crash), and is applied again. managedFields have
    whole seconds: a write in the rollback's second counts as after it.
    """
    owner = rollout.abort_by
    if not rollout.retried or owner is None or not owner.outside or owner.at is None:
        return None
    return owner if owner.at >= record.time.replace(microsecond=0) else None


def _retried(release: AgentRelease, world: World, plan: Plan, owner: FieldOwner) -> None:
    """An aborted Rollout retried: a new attempt, unless the canary was shown to harm."""
    status = plan.status
    record = status.rollback
    assert record is not None
    if record.reason not in _PROVEN_HARM:
        _adopt(release, world, plan, owner, "the aborted Rollout was retried")
        return
    plan.effect(AbortRollout())
    if any(a.action is RolloutChange.RETRY and a.at == owner.at for a in status.rollout_actions):
        return  # refused before (a crash kept the abort from the Rollout): abort again
    outcome = (
        f"refused: the canary was rolled back for {record.reason.value} ({record.message}); "
        "the operator aborted the Rollout again. A candidate shown to harm is not retried: "
        "create a new AgentRelease to try it again"
    )
    _noticed(plan, world, RolloutChange.RETRY, owner, outcome, refused=True)


def _adopt(
    release: AgentRelease, world: World, plan: Plan, owner: FieldOwner | None, what: str
) -> None:
    """A person set the rolled-back canary going again: adopt it as a new attempt, from
    step 1 with fresh evidence (the Rollout starts again from its first step too)."""
    status = plan.status
    record, settings = status.rollback, status.canary
    assert record is not None
    assert settings is not None
    attempt, steps, weight = status.attempt + 1, len(settings.steps), settings.steps[0].weight
    before = (
        f"attempt {status.attempt} was rolled back at step {record.step}/{steps} "
        f"({record.weight}%) for {record.reason.value}"
    )
    message = (
        f"attempt {attempt}: {what} by {_who(owner)}; the canary starts again at step "
        f"1/{steps} ({weight}%) with fresh evidence ({before})"
    )
    plan.set(attempt=attempt)
    _noticed(plan, world, RolloutChange.RETRY, owner, f"adopted as attempt {attempt}")
    plan.set(
        phase=Phase.CANARY,
        step=1,
        weight=weight,
        progress=progress(1, steps, weight),
        step_started_at=None,
        promoted_at=None,
        evidence=None,
        analysis=None,
        forecast=None,
        metrics_failures=0,
        rollback=None,
        rollout=RolloutStatus(name=rollouts.rollout_name_of(release.spec.agent)),
        reason=StatusReason.MANUAL_RETRY.value,
        message=message,
    )
    plan.condition(C.ROLLED_BACK, False, StatusReason.MANUAL_RETRY.value, message)
    plan.condition(C.CANARY_HEALTHY, None, StatusReason.MANUAL_RETRY.value, message)
    plan.effect(AnnotateRollout({ANNOTATION_ROLLBACK: None}))  # the old record no longer holds
