"""The release state machine, without a cluster: every transition and its effects,
and the crash-replay cases that make it safe to kill the operator at any line."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agent_release.api.outcomes import ReasonCode
from agent_release.api.release import Phase
from agent_release.api.requests import PersonRequest, RequestAction
from agent_release.api.types import Stage
from agent_release.canary.analyzer import Verdict
from agent_release.controller.facts import AnalysisOutcome, ReportLookup
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
from builders.objects import machine_policy as policy
from builders.objects import release
from builders.objects import stage_report as report
from builders.worlds import NOW, canary_status, outcome, rollout, world


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
    aborted = decide(release(**plan.status.wire()), world(rollout=rollout(index=1, aborted=True)))
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
    # a later step's bake keeps the canary's evidence
    step2 = decide(
        release(**canary_status(step=2, started=None)),
        world(rollout=rollout(index=3, paused=True)),
    )
    assert step2.status.evidence == release(**canary_status()).status.evidence  # type: ignore[union-attr]


def test_a_look_records_what_it_showed_and_a_promotion_bakes_from_the_look() -> None:
    look = outcome(Verdict.PROMOTE)
    plan = decide(
        release(**canary_status()), world(rollout=rollout(index=1, paused=True), outcome=look)
    )
    assert plan.status.analysis == look.analysis
    assert plan.status.evidence is not None
    assert plan.status.evidence.step_began == look.decision.at  # type: ignore[union-attr]
    assert plan.status.evidence.looks == 1
