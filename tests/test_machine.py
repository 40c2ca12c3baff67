"""The release state machine, without a cluster: every transition and its effects,
and the crash-replay cases that make it safe to kill the operator at any line."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agent_release.api.names import ANNOTATION_ROLLBACK, FIELD_MANAGER
from agent_release.api.outcomes import ReasonCode
from agent_release.api.release import AgentRelease, Phase, RolloutChange
from agent_release.api.requests import PersonRequest, RequestAction
from agent_release.api.types import Stage
from agent_release.canary.analyzer import Verdict
from agent_release.controller.facts import AnalysisOutcome, ReportLookup, World
from agent_release.controller.machine import decide
from agent_release.controller.plan import (
    AbortRollout,
    AnnotateRollout,
    CreateRollout,
    Effect,
    Plan,
    PlanError,
    PromoteStep,
    RolledBack,
    UpdateRollout,
)
from agent_release.controller.rollouts import FieldOwner
from builders.objects import machine_policy as policy
from builders.objects import release
from builders.objects import stage_report as report
from builders.worlds import NOW, PLUGIN, by_plugin, canary_status, outcome, rollout, world


def effects(plan: Plan) -> list[type[Effect]]:
    return [type(effect) for effect in plan.effects]


def events(plan: Plan) -> list[str]:
    return [e.reason.value for e in plan.events]


# -- gates -------------------------------------------------------------------------------


def test_missing_reports_wait_in_gating_without_blocking() -> None:
    plan = decide(release(), world(reports={s: ReportLookup(missing="none yet") for s in Stage}))
    assert plan.status.phase is Phase.GATING
    assert plan.status.reason == "ReportMissing"
    assert plan.effects == []
    assert "GateBlocked" not in events(plan)


def test_a_failing_offline_gate_blocks_and_creates_no_rollout() -> None:
    low = world(
        reports={
            Stage.OFFLINE: ReportLookup(report=report("offline", passed=100)),
            Stage.PRERELEASE: ReportLookup(report=report("prerelease")),
        }
    )
    plan = decide(release(), low)
    assert plan.status.phase is Phase.BLOCKED
    assert plan.status.reason == "SliceBelowFloor"
    assert plan.effects == []
    assert events(plan) == ["GateBlocked"]
    offline = next(c for c in plan.status.conditions if c.type == "OfflineGatePassed")
    assert (offline.status.value, offline.reason) == ("False", "SliceBelowFloor")
    assert "pass rate" in offline.message
    # the same decision again: no duplicate Event
    again = decide(release(**plan.status.wire()), low)
    assert events(again) == []
    # a better report arrives: the blocked release goes on
    fixed = decide(release(**plan.status.wire()), world())
    assert fixed.status.phase is Phase.CANARY


def test_candidate_mismatch_blocks() -> None:
    other = world(
        reports={
            Stage.OFFLINE: ReportLookup(report=report("offline", model="other")),
            Stage.PRERELEASE: ReportLookup(report=report("prerelease")),
        }
    )
    plan = decide(release(), other)
    assert (plan.status.phase, plan.status.reason) == (Phase.BLOCKED, "CandidateMismatch")


def test_passing_gates_start_the_canary_on_the_existing_rollout() -> None:
    plan = decide(release(), world())
    assert plan.status.phase is Phase.CANARY
    assert (plan.status.step, plan.status.weight, plan.status.progress) == (1, 5, "1/3 5%")
    assert plan.status.eval_run_ids == ["run-offline", "run-prerelease"]
    assert effects(plan) == [UpdateRollout]
    assert events(plan) == ["GatePassed", "GatePassed", "CanaryStarted"]
    assert plan.status.canary is not None
    assert [s.weight for s in plan.status.canary.steps] == [5, 50, 100]


def test_first_release_of_an_agent_is_deployed_at_once() -> None:
    plan = decide(release(), world(rollout=None))
    assert (plan.status.phase, plan.status.reason) == (Phase.PROMOTING, "FirstRelease")
    assert effects(plan) == [CreateRollout]


def test_missing_policy_waits() -> None:
    plan = decide(release(), world(policy=None))
    assert (plan.status.phase, plan.status.reason) == (Phase.GATING, "PolicyMissing")


# -- canary ------------------------------------------------------------------------------


def test_a_step_starts_baking_when_the_rollout_pauses_there() -> None:
    plan = decide(
        release(**canary_status(started=None)), world(rollout=rollout(index=1, paused=True))
    )
    assert plan.status.step_started_at == NOW
    assert plan.status.rollout is not None
    assert plan.status.rollout.canary_revision == "bbb"
    still_moving = decide(
        release(**canary_status(started=None)),
        world(rollout=rollout(index=0, paused=False, phase="Progressing")),
    )
    assert still_moving.status.step_started_at is None


def test_a_step_does_not_bake_on_the_previous_canary() -> None:
    """Right after a template change Argo may still show the old canary's pause and hash."""
    stale = world(rollout=rollout(index=1, paused=True), canary_release="rel-1")
    plan = decide(release(**canary_status(started=None)), stale)
    assert plan.status.step_started_at is None
    assert plan.effects == []


def test_promotion_moves_status_first_and_promotes_from_the_expected_pause() -> None:
    baking = world(rollout=rollout(index=1, paused=True), outcome=outcome(Verdict.PROMOTE))
    plan = decide(release(**canary_status()), baking)
    assert (plan.status.step, plan.status.weight, plan.status.step_started_at) == (2, 50, None)
    assert plan.effects == [PromoteStep(expected_index=1)]
    assert "StepPromoted" in events(plan)


def test_a_promotion_lost_to_a_crash_is_applied_again_never_twice() -> None:
    first = decide(
        release(**canary_status()),
        world(rollout=rollout(index=1, paused=True), outcome=outcome(Verdict.PROMOTE)),
    )
    promoted = first.status.wire()
    # status says step 2, the Rollout still waits at step 1's pause: promote again, and
    # tell it again under the same key (one Event if it was told before the crash)
    replay = decide(release(**promoted), world(rollout=rollout(index=1, paused=True)))
    assert replay.effects == [PromoteStep(expected_index=1)]
    assert replay.events == [e for e in first.events if e.reason == "StepPromoted"]
    # the Rollout already reached step 2's pause: nothing more to promote
    reached = decide(release(**promoted), world(rollout=rollout(index=3, paused=True)))
    assert PromoteStep not in effects(reached)
    assert reached.status.step_started_at == NOW


def test_an_analysis_of_another_step_is_ignored() -> None:
    stale = world(rollout=rollout(index=3, paused=True), outcome=outcome(Verdict.PROMOTE, step=1))
    plan = decide(release(**canary_status(step=2)), stale)
    assert plan.status.step == 2
    assert plan.effects == []


def test_last_pause_promotes_to_full_rollout_then_promoted() -> None:
    at_last = world(rollout=rollout(index=3, paused=True), outcome=outcome(Verdict.PROMOTE, step=2))
    plan = decide(release(**canary_status(step=2)), at_last)
    assert (plan.status.phase, plan.status.step, plan.status.weight) == (Phase.PROMOTING, 3, 100)
    assert plan.effects == [PromoteStep(expected_index=3)]
    healthy = world(rollout=rollout(index=4, stable="bbb", current="bbb", phase="Healthy"))
    done = decide(release(**plan.status.wire()), healthy)
    assert done.status.phase is Phase.PROMOTED
    assert done.status.promoted_at == NOW
    assert effects(done) == [AnnotateRollout]
    annotate = done.effects[0]
    assert isinstance(annotate, AnnotateRollout)
    annotations = annotate.annotations
    assert annotations["agentrelease.dev/eval-run-ids"] == "run-offline,run-prerelease"


def test_a_breach_rolls_back_with_a_machine_readable_record() -> None:
    breach = world(
        rollout=rollout(index=1, paused=True),
        outcome=outcome(Verdict.ROLLBACK, reason=ReasonCode.GUARDRAIL_BREACHED),
    )
    plan = decide(release(**canary_status()), breach)
    assert (plan.status.phase, plan.status.reason) == (Phase.ROLLED_BACK, "GuardrailBreached")
    record = plan.status.rollback
    assert record is not None
    assert (record.metric, record.observed, record.baseline, record.threshold) == (
        "human_intervention_rate",
        0.05,
        0.01,
        0.005,
    )
    assert (record.samples, record.step, record.weight, record.revision) == (1000, 1, 5, "bbb")
    assert effects(plan) == [AbortRollout, AnnotateRollout]
    assert events(plan) == ["GuardrailBreached", "RolledBack"]
    rolled = {c.type: c for c in plan.status.conditions}
    assert rolled["RolledBack"].status.value == "True"
    assert rolled["CanaryHealthy"].reason == "GuardrailBreached"
    # killed before the abort reached the Rollout: the final phase aborts it again
    replay = decide(release(**plan.status.wire()), world(rollout=rollout(index=1, paused=True)))
    assert effects(replay) == [AbortRollout, AnnotateRollout]
    assert replay.events == plan.events
    landed = rollout(index=1, aborted=True, rollback=_rollback_annotation(plan))
    aborted = decide(release(**plan.status.wire()), world(rollout=landed))
    assert aborted.effects == []


def test_metrics_unavailable_holds_and_never_promotes() -> None:
    down = AnalysisOutcome(step=1, analysis=None, decision=None, error="connection refused")
    status = canary_status()
    for failures in (1, 2, 3):
        plan = decide(release(**status), world(rollout=rollout(index=1, paused=True), outcome=down))
        assert plan.status.metrics_failures == failures
        assert plan.status.phase is Phase.CANARY
        assert PromoteStep not in effects(plan)
        status = plan.status.wire()
    assert plan.status.reason == "MetricsUnavailable"
    assert "MetricsUnavailable" in events(plan)


def test_metrics_unavailable_can_roll_back_when_the_policy_says_so() -> None:
    down = AnalysisOutcome(step=1, analysis=None, decision=None, error="timeout")
    settings = policy(metricsUnavailable={"after": 1, "action": "rollback"}).spec.canary.wire()
    plan = decide(
        release(**canary_status(canary=settings)),
        world(rollout=rollout(index=1, paused=True), outcome=down),
    )
    assert (plan.status.phase, plan.status.reason) == (Phase.ROLLED_BACK, "MetricsUnavailable")


def test_hold_then_a_person_approves() -> None:
    hold = outcome(Verdict.HOLD, reason=ReasonCode.INSUFFICIENT_TRAFFIC)
    plan = decide(
        release(**canary_status()), world(rollout=rollout(index=1, paused=True), outcome=hold)
    )
    assert (plan.status.phase, plan.status.reason) == (Phase.CANARY, "InsufficientTraffic")
    assert "Holding" in events(plan)
    approve = PersonRequest(
        id="r1", action=RequestAction.APPROVE, reason="traffic is low at night", by="alice"
    )
    approved = decide(
        release(**plan.status.wire()),
        world(rollout=rollout(index=1, paused=True), request=approve, outcome=hold),
    )
    assert approved.status.step == 2
    assert approved.status.actions[-1].by == "alice"
    assert approved.status.actions[-1].target == "step 1"


def test_manual_abort_and_promote() -> None:
    abort = PersonRequest(
        id="r2", action=RequestAction.ABORT, reason="customer complaints", by="bob"
    )
    plan = decide(
        release(**canary_status()), world(rollout=rollout(index=1, paused=True), request=abort)
    )
    assert (plan.status.phase, plan.status.reason) == (Phase.ROLLED_BACK, "ManualAbort")
    assert AbortRollout in effects(plan)
    assert plan.status.actions[-1].outcome == "rolled back"
    promote = PersonRequest(id="r3", action=RequestAction.PROMOTE, reason="looks fine", by="bob")
    pushed = decide(
        release(**canary_status()), world(rollout=rollout(index=1, paused=True), request=promote)
    )
    assert pushed.status.step == 2
    assert pushed.effects == [PromoteStep(expected_index=1)]


def test_a_request_with_nothing_to_do_is_still_answered() -> None:
    promote = PersonRequest(id="r4", action=RequestAction.PROMOTE, reason="go", by=None)
    plan = decide(
        release(), world(reports={s: ReportLookup(missing="none") for s in Stage}, request=promote)
    )
    assert plan.status.actions[-1].outcome == "nothing to promote in phase Gating"


def test_a_newer_release_supersedes() -> None:
    plan = decide(release(**canary_status()), world(rival="rel-3"))
    assert (plan.status.phase, plan.status.superseded_by) == (Phase.SUPERSEDED, "rel-3")
    assert plan.effects == []


def test_the_rollout_aborted_by_hand_is_a_manual_abort() -> None:
    plan = decide(
        release(**canary_status()), world(rollout=rollout(index=1, aborted=True, phase="Degraded"))
    )
    assert (plan.status.phase, plan.status.reason) == (Phase.ROLLED_BACK, "ManualAbort")


def test_a_rollback_record_lost_after_the_abort_is_annotated_again() -> None:
    """Found by the chaos campaign: the leader aborted the Rollout, then lost its lease
    (starved past its renew deadline) before the annotation; the new leader saw an aborted
    Rollout and a final release, and the record never reached the Rollout."""
    first = decide(
        release(**canary_status()),
        world(rollout=rollout(index=1, paused=True), outcome=outcome(Verdict.ROLLBACK)),
    )
    assert effects(first) == [AbortRollout, AnnotateRollout]
    aborted = rollout(index=0, aborted=True, phase="Degraded")
    replay = again(first, world(rollout=aborted))
    assert replay.effects == [e for e in first.effects if isinstance(e, AnnotateRollout)]
    assert replay.events == []  # told once, before the crash
    annotated = rollout(index=0, aborted=True, phase="Degraded", rollback="{}")
    assert again(first, world(rollout=annotated)).effects == []


def test_the_previous_releases_abort_is_not_taken_for_a_persons() -> None:
    """Found by the chaos campaign: right after a release takes over a Rollout the previous
    release's rollback aborted, Argo patches a condition, with `observedGeneration`, before
    it clears the abort (and its Degraded phase) for the new template. An abort the operator
    wrote, on a release whose status holds no rollback, is that earlier release's: wait."""
    ours = FieldOwner(FIELD_MANAGER, NOW.replace(microsecond=0))
    leftover = rollout(
        index=0,
        aborted=True,
        phase="Degraded",
        abort_by=ours,
        message="RolloutAborted: Rollout aborted update to revision 2",
    )
    plan = decide(release(**canary_status(started=None)), world(rollout=leftover))
    assert (plan.status.phase, plan.effects, plan.events) == (Phase.CANARY, [], [])
    # a person's abort (another field manager) is one, as is any abort when unknown
    theirs = rollout(index=1, aborted=True, phase="Degraded", abort_by=by_plugin())
    aborted = decide(release(**canary_status()), world(rollout=theirs))
    assert (aborted.status.phase, aborted.status.reason) == (Phase.ROLLED_BACK, "ManualAbort")


@pytest.mark.parametrize("phase", ["Promoted", "Superseded", "Failed"])
def test_final_phases_do_nothing(phase: str) -> None:
    plan = decide(release(phase=phase), world(outcome=outcome(Verdict.ROLLBACK)))
    assert plan.status.phase.value == phase
    assert plan.effects == []


# -- the plan: typed updates, typed transitions ------------------------------------------


def test_a_misspelt_status_update_fails_loudly() -> None:
    plan = decide(release(**canary_status()), world(rollout=rollout(index=1, paused=True)))
    with pytest.raises(PlanError, match="no field metrics_failure"):
        plan.set(metrics_failure=3)
    with pytest.raises(PlanError, match="invalid status change"):
        plan.set(metrics_failures="three")
    with pytest.raises(PlanError, match="invalid status change"):
        plan.set(phase="Canary")  # a Phase, not its spelling
    plan.set(metrics_failures=3)
    assert plan.status.metrics_failures == 3


def test_transitions_are_counted_once_and_told_again_after_a_crash() -> None:
    breach = world(
        rollout=rollout(index=1, paused=True),
        outcome=outcome(Verdict.ROLLBACK, reason=ReasonCode.GUARDRAIL_BREACHED),
    )
    first = decide(release(**canary_status()), breach)
    [rolled] = first.transitions
    assert isinstance(rolled, RolledBack)
    assert not rolled.replayed
    replay = decide(release(**first.status.wire()), world(rollout=rollout(index=1, paused=True)))
    [again] = replay.transitions
    assert isinstance(again, RolledBack)
    assert again.replayed  # told again under the same Event names, not counted again
    assert replay.events == first.events


def test_the_first_bake_begins_the_canary_evidence_at_the_next_whole_interval() -> None:
    late = NOW + timedelta(seconds=7)
    plan = decide(
        release(**canary_status(started=None, evidence=None)),
        world(now=late, rollout=rollout(index=1, paused=True)),
    )
    assert plan.status.step_started_at == late
    assert plan.status.evidence is not None
    # the machine policy looks every minute (the default): the next multiple of a minute
    assert plan.status.evidence.began_at == NOW + timedelta(minutes=1)
    # a later step's bake keeps the canary's evidence (and when it began)
    evidence = {"beganAt": (NOW - timedelta(minutes=1)).isoformat(), "stepBegan": 60.0}
    step2 = decide(
        release(**canary_status(step=2, started=None, evidence=evidence)),
        world(now=late, rollout=rollout(index=3, paused=True)),
    )
    assert step2.status.evidence == release(**canary_status(evidence=evidence)).status.evidence  # type: ignore[union-attr]


def test_a_step_the_rollout_reached_late_bakes_from_when_it_got_there() -> None:
    """The look at 60 s promoted step 1, and status says step 2; the Rollout reaches step
    2's pause only in a later interval (Argo's controller was away, or the operator died
    between the status write and the promotion). The delay must not count as bake: the
    step would promote at its first look, with a fraction of its bake at 50 %."""
    promoted = {"beganAt": (NOW - timedelta(minutes=1)).isoformat(), "stepBegan": 0.0}
    delayed = NOW + timedelta(minutes=2, seconds=25)  # 205 s after the evidence began
    plan = decide(
        release(**canary_status(step=2, started=None, evidence=promoted)),
        world(now=delayed, rollout=rollout(index=3, paused=True)),
    )
    assert plan.status.step_started_at == delayed
    assert plan.status.evidence is not None
    # baked from the start of the interval it got there in (looks every minute)
    assert plan.status.evidence.step_began == 180.0
    assert plan.status.evidence.began_at == NOW - timedelta(minutes=1)
    # killed right after that status write: the next reconcile bakes from the same moment
    replay = again(
        plan, world(now=delayed + timedelta(seconds=30), rollout=rollout(index=3, paused=True))
    )
    assert replay.status.evidence == plan.status.evidence


def test_a_look_records_what_it_showed_and_a_promotion_bakes_from_the_look() -> None:
    look = outcome(Verdict.PROMOTE)
    plan = decide(
        release(**canary_status()), world(rollout=rollout(index=1, paused=True), outcome=look)
    )
    assert plan.status.analysis == look.analysis
    assert plan.status.evidence is not None
    assert plan.status.evidence.step_began == look.decision.at  # type: ignore[union-attr]
    assert plan.status.evidence.looks == 1


# -- people acting through Argo's tools (kubectl argo rollouts ...) --------------------------
#
# Each: what the operator decides when it first sees the action, then the same world again
# with the status it wrote (a crash after the status write, or just the next reconcile):
# nothing recorded or told twice, no effect that reverses the person's action.


def _rollback_annotation(plan: Plan) -> str:
    """The rollback record of the plan's status, as annotated on the Rollout."""
    assert plan.status.rollback is not None
    return plan.status.rollback.model_dump_json(by_alias=True, exclude_none=True)


def again(plan: Plan, seen: World) -> Plan:
    """The next reconcile: the status `plan` wrote, the same world."""
    return decide(release(**plan.status.wire()), seen)


def actions(plan: Plan) -> list[tuple[str, str | None]]:
    return [(a.action.value, a.by) for a in plan.status.rollout_actions]


def rolled_back(reason: ReasonCode) -> AgentRelease:
    """A release rolled back at step 1 at NOW, as `_rollback` writes it: by a person's
    abort request, or for what a look showed."""
    at_step_1 = rollout(index=1, paused=True)
    if reason is ReasonCode.MANUAL_ABORT:
        request = PersonRequest(id="r9", action=RequestAction.ABORT, reason="pager", by="bob")
        seen = world(rollout=at_step_1, request=request)
    else:
        seen = world(rollout=at_step_1, outcome=outcome(Verdict.ROLLBACK, reason=reason))
    plan = decide(release(**canary_status()), seen)
    assert (plan.status.phase, plan.status.reason) == (Phase.ROLLED_BACK, reason.value)
    return release(**plan.status.wire())


def test_a_promote_by_hand_is_followed_and_the_step_it_reached_is_baked() -> None:
    """`promote` at step 1 took the Rollout to step 2's pause: the release follows it there,
    never promotes again from step 1, and bakes step 2 as any other."""
    moved = world(rollout=rollout(index=3, paused=True))
    plan = decide(release(**canary_status()), moved)
    assert (plan.status.phase, plan.status.step, plan.status.weight) == (Phase.CANARY, 2, 50)
    assert (plan.status.progress, plan.status.reason) == ("2/3 50%", "ManualPromote")
    assert plan.status.step_started_at is None
    assert plan.status.message is not None
    assert plan.status.message.startswith("step 1/3 (5%) → 2/3 (50%): promoted by someone")
    assert plan.effects == []
    [record] = plan.status.rollout_actions
    assert (record.action, record.by, record.step, record.to_step) == (
        RolloutChange.PROMOTE,
        None,  # clearing a pause owns no field: managedFields cannot name who
        1,
        2,
    )
    assert events(plan) == ["ManualAction"]
    evidence = plan.status.evidence
    assert evidence is not None
    assert evidence.step_began == 60.0  # step 2's bake counts from now, a minute in
    # the next reconcile: step 2 starts baking; nothing recorded or told again
    baking = again(plan, moved)
    assert (baking.status.step, baking.status.step_started_at) == (2, NOW)
    assert (baking.status.reason, baking.effects, baking.events) == ("Baking", [], [])
    assert len(baking.status.rollout_actions) == 1
    # its bake decides as any other: the look promotes step 2 from step 2's own pause
    look = world(rollout=rollout(index=3, paused=True), outcome=outcome(Verdict.PROMOTE, step=2))
    promoted = decide(release(**baking.status.wire()), look)
    assert promoted.effects == [PromoteStep(expected_index=3)]


def test_a_promote_seen_mid_shift_is_followed_and_waits_for_the_pause() -> None:
    shifting = world(rollout=rollout(index=2, paused=False, phase="Progressing"))
    plan = decide(release(**canary_status()), shifting)
    assert (plan.status.step, plan.status.step_started_at, plan.effects) == (2, None, [])
    still = again(plan, shifting)
    assert (still.status.step_started_at, still.effects, still.events) == (None, [], [])


def test_a_previous_canarys_index_is_not_taken_for_a_promote() -> None:
    """Right after a template change, Argo may report the old canary's step and hash."""
    stale = world(rollout=rollout(index=3, paused=True, current="old"), canary_release="rel-1")
    plan = decide(release(**canary_status(started=None)), stale)
    assert (plan.status.step, plan.status.rollout_actions, plan.effects) == (1, [], [])


def test_a_full_promotion_by_hand_ends_promoted_with_a_note() -> None:
    full = world(
        rollout=rollout(
            index=4, phase="Progressing", promote_full=True, promote_full_by=by_plugin(5)
        )
    )
    plan = decide(release(**canary_status()), full)
    assert (plan.status.phase, plan.status.step, plan.status.weight) == (Phase.PROMOTING, 3, 100)
    assert plan.status.reason == "ManualFullPromote"
    assert actions(plan) == [("promote-full", PLUGIN)]
    assert plan.effects == []
    assert again(plan, full).events == []  # followed once
    healthy = world(rollout=rollout(index=4, stable="bbb", current="bbb", phase="Healthy"))
    done = again(plan, healthy)
    assert (done.status.phase, done.status.reason) == (Phase.PROMOTED, "ManualFullPromote")
    assert done.status.message is not None
    assert done.status.message.endswith(
        "; promoted in full by kubectl-argo-rollouts at step 1/3: "
        "the canary analysis did not decide steps 1 to 2"
    )
    assert events(done) == ["Promoted"]
    assert effects(done) == [AnnotateRollout]
    condition = {c.type: c for c in done.status.conditions}["Promoted"]
    assert (condition.status.value, condition.reason) == ("True", "ManualFullPromote")


def test_a_full_promotion_the_operator_missed_still_ends_promoted_saying_so() -> None:
    """Down during `promote --full`: the Rollout is already Healthy on the canary and
    status.promoteFull is gone, so the note says a promotion, by someone unknown."""
    healthy = world(rollout=rollout(index=4, stable="bbb", current="bbb", phase="Healthy"))
    plan = decide(release(**canary_status()), healthy)
    assert (plan.status.phase, actions(plan)) == (Phase.PROMOTING, [("promote", None)])
    done = again(plan, healthy)
    assert (done.status.phase, done.status.reason) == (Phase.PROMOTED, "ManualPromote")
    assert done.status.message is not None
    assert "by an unknown client at step 1/3" in done.status.message


def test_an_abort_by_hand_names_who_and_is_recorded_once() -> None:
    aborted = world(rollout=rollout(index=0, aborted=True, phase="Degraded", abort_by=by_plugin()))
    plan = decide(release(**canary_status()), aborted)
    assert (plan.status.phase, plan.status.reason) == (Phase.ROLLED_BACK, "ManualAbort")
    assert plan.status.message == "the Rollout was aborted by kubectl-argo-rollouts at 12:00:00"
    assert actions(plan) == [("abort", PLUGIN)]
    assert events(plan) == ["ManualAction", "RolledBack"]
    assert effects(plan) == [AbortRollout, AnnotateRollout]  # the abort is a no-op there
    landed = rollout(
        index=0,
        aborted=True,
        phase="Degraded",
        abort_by=by_plugin(),
        rollback=_rollback_annotation(plan),
    )
    replay = again(plan, world(rollout=landed))
    assert (replay.effects, replay.events, len(replay.status.rollout_actions)) == ([], [], 1)


def test_a_retry_after_a_persons_abort_is_adopted_as_a_new_attempt() -> None:
    retried = world(
        rollout=rollout(
            index=0,
            phase="Degraded",
            message="RolloutAborted: Rollout aborted update to revision 2",
            retried=True,
            abort_by=by_plugin(30),
        )
    )
    plan = decide(rolled_back(ReasonCode.MANUAL_ABORT), retried)
    status = plan.status
    assert (status.phase, status.attempt, status.step, status.weight) == (Phase.CANARY, 2, 1, 5)
    assert (status.reason, status.rollback, status.evidence) == ("ManualRetry", None, None)
    assert status.message is not None
    assert status.message.startswith(
        "attempt 2: the aborted Rollout was retried by kubectl-argo-rollouts at 12:00:30"
    )
    assert "attempt 1 was rolled back at step 1/3 (5%) for ManualAbort" in status.message
    assert actions(plan) == [("retry", PLUGIN)]
    assert [a.attempt for a in status.rollout_actions] == [2]
    conditions = {c.type: c for c in status.conditions}
    assert (conditions["RolledBack"].status.value, conditions["RolledBack"].reason) == (
        "False",
        "ManualRetry",
    )
    # the Rollout is never aborted again; only the old rollback record leaves it
    assert plan.effects == [AnnotateRollout({ANNOTATION_ROLLBACK: None})]
    assert [(e.reason.value, e.key.endswith("-attempt-2")) for e in plan.events] == [
        ("ManualAction", True)
    ]
    # Argo still reports the abort's Degraded for a moment: not a new Degraded rollback
    replay = again(plan, retried)
    assert (replay.status.phase, replay.effects, replay.events) == (Phase.CANARY, [], [])
    # the canary runs at step 1 again: the new attempt bakes, with fresh evidence
    baking = again(replay, world(rollout=rollout(index=1, paused=True, retried=True)))
    assert (baking.status.step_started_at, baking.status.attempt) == (NOW, 2)
    assert baking.status.evidence is not None
    # and its decisions are Events of their own, not the first attempt's names
    breach = world(
        rollout=rollout(index=1, paused=True, retried=True),
        outcome=outcome(Verdict.ROLLBACK, reason=ReasonCode.GUARDRAIL_BREACHED),
    )
    second = again(baking, breach)
    assert second.status.phase is Phase.ROLLED_BACK
    assert {e.key for e in second.events} == {"breach-attempt-2", "rollback-attempt-2"}


def test_a_retry_of_a_canary_shown_to_harm_is_refused_out_loud() -> None:
    retried = world(
        rollout=rollout(index=0, phase="Progressing", retried=True, abort_by=by_plugin(30))
    )
    plan = decide(rolled_back(ReasonCode.GUARDRAIL_BREACHED), retried)
    assert (plan.status.phase, plan.status.reason) == (Phase.ROLLED_BACK, "GuardrailBreached")
    assert plan.effects == [AbortRollout()]
    [told] = plan.events
    assert (told.reason.value, told.warning) == ("RetryRefused", True)
    assert told.message.startswith(
        "retry of the Rollout by kubectl-argo-rollouts: refused: the canary was rolled back "
        "for GuardrailBreached"
    )
    [record] = plan.status.rollout_actions
    assert (record.action, record.by, record.at) == (
        RolloutChange.RETRY,
        PLUGIN,
        by_plugin(30).at,
    )
    # killed before the abort reached the Rollout: abort again, record and tell nothing new
    replay = again(plan, retried)
    assert (replay.effects, replay.events) == ([AbortRollout()], [])
    assert len(replay.status.rollout_actions) == 1
    # the abort landed: quiet; a second retry later is refused again, and said again
    landed = rollout(index=0, aborted=True, rollback=_rollback_annotation(plan))
    assert again(plan, world(rollout=landed)).effects == []
    later = world(rollout=rollout(index=0, retried=True, abort_by=by_plugin(90)))
    assert [e.reason.value for e in again(plan, later).events] == ["RetryRefused"]


def test_a_stale_retry_from_an_earlier_attempt_is_no_retry_of_this_rollback() -> None:
    """abort=false written before this rollback (an earlier retry): the rollback's abort
    was lost to a crash, and is applied again."""
    stale = world(rollout=rollout(index=1, paused=True, retried=True, abort_by=by_plugin(-60)))
    plan = decide(rolled_back(ReasonCode.GUARDRAIL_BREACHED), stale)
    assert effects(plan) == [AbortRollout, AnnotateRollout]
    assert (plan.status.rollout_actions, events(plan)) == ([], ["GuardrailBreached", "RolledBack"])


def test_a_pause_by_hand_is_held_never_cleared_and_said() -> None:
    held = rollout(index=1, paused=True, held=True, paused_by=by_plugin(5))
    ready = world(rollout=held, outcome=outcome(Verdict.PROMOTE))
    plan = decide(release(**canary_status()), ready)
    status = plan.status
    assert (status.phase, status.step, status.reason) == (Phase.CANARY, 1, "ManualPause")
    assert status.message == (
        "held at step 1/3 (5%): the Rollout is paused by kubectl-argo-rollouts at 12:00:05; "
        "the operator promotes no step until it is resumed (kubectl argo rollouts promote), "
        "and still rolls back on a breach; step 1 is ready to promote"
    )
    assert plan.effects == []  # the bake is over and healthy, but a person holds it
    assert actions(plan) == [("pause", PLUGIN)]
    assert events(plan) == ["ManualAction"]
    assert plan.status.analysis is not None  # the looks go on
    replay = again(plan, ready)
    assert (replay.effects, replay.events, replay.status.reason) == ([], [], "ManualPause")
    # a person's `agent-release promote` is answered, not carried out
    promote = PersonRequest(id="r5", action=RequestAction.PROMOTE, reason="go", by="bob")
    asked = again(plan, world(rollout=held, request=promote))
    assert (asked.status.step, asked.effects) == (1, [])
    assert asked.status.actions[-1].outcome.startswith("not promoted: the Rollout is paused by")
    # a breach still rolls back
    breach = world(
        rollout=held, outcome=outcome(Verdict.ROLLBACK, reason=ReasonCode.GUARDRAIL_BREACHED)
    )
    assert again(plan, breach).status.phase is Phase.ROLLED_BACK
    # resumed: said once, and the next look promotes
    resumed = rollout(index=1, paused=True, paused_by=by_plugin(60))
    going = again(plan, world(rollout=resumed, outcome=outcome(Verdict.PROMOTE)))
    assert actions(going) == [("pause", PLUGIN), ("resume", PLUGIN)]
    assert going.effects == [PromoteStep(expected_index=1)]
    assert going.status.step == 2


def test_a_promotion_decided_before_a_pause_waits_for_the_resume() -> None:
    """Status says step 2 (written), then a person paused before the Rollout was promoted:
    the replayed promotion is not sent while held, and is sent once resumed."""
    first = decide(
        release(**canary_status()),
        world(rollout=rollout(index=1, paused=True), outcome=outcome(Verdict.PROMOTE)),
    )
    held = world(rollout=rollout(index=1, paused=True, held=True, paused_by=by_plugin(1)))
    waiting = again(first, held)
    assert waiting.effects == []
    assert (waiting.status.step, waiting.status.reason) == (2, "ManualPause")
    assert waiting.status.message is not None
    assert waiting.status.message.startswith("held at step 1/3 (5%)")
    resumed = again(waiting, world(rollout=rollout(index=1, paused=True, paused_by=by_plugin(9))))
    assert resumed.effects == [PromoteStep(expected_index=1)]


def test_an_undo_ends_rolled_back_and_the_template_is_never_applied_again() -> None:
    """`undo` set the template back to the previous release's; Argo serves stable."""
    undone = world(
        rollout=rollout(
            index=4,
            owner="rel-1",
            claimed_by="rel-2",
            stable="aaa",
            current="aaa",
            phase="Healthy",
            template_by=by_plugin(5),
        )
    )
    plan = decide(release(**canary_status()), undone)
    assert (plan.status.phase, plan.status.reason) == (Phase.ROLLED_BACK, "ManualUndo")
    assert plan.status.message == (
        "the Rollout was rolled back to the template of rel-1 by kubectl-argo-rollouts at "
        "12:00:05: this release no longer runs, and the operator does not apply its template again"
    )
    record = plan.status.rollback
    assert record is not None
    assert (record.reason, record.step, record.revision) == (ReasonCode.MANUAL_UNDO, 1, "bbb")
    assert effects(plan) == [AnnotateRollout]  # no UpdateRollout, no abort of the stable
    assert actions(plan) == [("undo", PLUGIN)]
    assert events(plan) == ["ManualAction", "RolledBack"]
    replay = again(plan, undone)
    assert (replay.effects, replay.events) == ([], [])


def test_a_rollout_not_yet_handed_to_the_release_is_taken_over_not_undone() -> None:
    """Killed before UpdateRollout: the template and the claim are both the old release's."""
    pending = world(rollout=rollout(index=4, owner="rel-1", current="aaa", phase="Healthy"))
    plan = decide(release(**canary_status(started=None)), pending)
    assert (plan.status.phase, plan.effects) == (Phase.CANARY, [UpdateRollout()])


def test_an_undone_releases_template_put_back_is_adopted_as_a_new_attempt() -> None:
    """An undo of the undo: the release's own template runs again, so Argo canaries it
    from step 1; a person's call like a retry, never aborted behind their back."""
    undone = world(
        rollout=rollout(index=4, owner="rel-1", claimed_by="rel-2", current="aaa", phase="Healthy")
    )
    plan = decide(release(**canary_status()), undone)
    assert plan.status.reason == "ManualUndo"
    restored = world(rollout=rollout(index=0, phase="Progressing", template_by=by_plugin(40)))
    adopted = again(plan, restored)
    assert (adopted.status.phase, adopted.status.attempt, adopted.status.step) == (
        Phase.CANARY,
        2,
        1,
    )
    assert adopted.status.message is not None
    assert adopted.status.message.startswith(
        "attempt 2: its template was restored by kubectl-argo-rollouts at 12:00:40"
    )
    assert AbortRollout not in effects(adopted)
