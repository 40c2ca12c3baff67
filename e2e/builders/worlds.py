"""What the state machine is told: Rollouts as observed, worlds, looks, canary status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from agent_release.api.outcomes import ReasonCode, Result
from agent_release.api.release import Analysis, GuardrailResult
from agent_release.api.types import Stage
from agent_release.canary.analyzer import AnalyzerState, Decision, Verdict
from agent_release.controller.facts import AnalysisOutcome, Baseline, ReportLookup, World
from agent_release.controller.rollouts import FieldOwner, RolloutView

from .objects import machine_policy, stage_report

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
PLUGIN = "kubectl-argo-rollouts"  # the field manager of Argo's kubectl plugin


def by_plugin(seconds: float = 0.0) -> FieldOwner:
    """A change written by Argo's kubectl plugin, `seconds` after NOW (whole seconds)."""
    return FieldOwner(PLUGIN, (NOW + timedelta(seconds=seconds)).replace(microsecond=0))


def rollout(
    *,
    index: int | None = None,
    paused: bool = False,
    owner: str | None = "rel-2",
    stable: str | None = "aaa",
    current: str | None = "bbb",
    phase: str = "Paused",
    aborted: bool = False,
    message: str = "",
    **more: Any,
) -> RolloutView:
    """The Rollout as observed; `owner` is the release whose template it runs, which
    took it over (`more`: what people did, see `RolloutView`)."""
    fields: dict[str, Any] = {"claimed_by": owner, "template_release": owner, **more}
    return RolloutView(
        release=owner,
        eval_runs=None,
        generation=3,
        observed_generation=3,
        step_index=index,
        paused=paused,
        aborted=aborted,
        phase=phase,
        message=message,
        stable_hash=stable,
        current_hash=current,
        **fields,
    )


def world(**changes: Any) -> World:
    """Gates that pass, the previous release's Rollout healthy: a canary may start."""
    base: dict[str, Any] = {
        "now": NOW,
        "policy": machine_policy(),
        "reports": {
            Stage.OFFLINE: ReportLookup(report=stage_report("offline")),
            Stage.PRERELEASE: ReportLookup(report=stage_report("prerelease")),
        },
        "baseline": Baseline(release=None, reports={}),
        "rollout": rollout(owner="rel-1", stable="aaa", current="aaa", phase="Healthy"),
        "canary_release": "rel-2",
    }
    return World(**{**base, **changes})


def canary_status(step: int = 1, started: datetime | None = NOW, **more: Any) -> dict[str, Any]:
    """The status of a release baking at `step` of the machine policy (wire names)."""
    settings = machine_policy().spec.canary.wire()
    weights = [s["weight"] for s in settings["steps"]]
    status: dict[str, Any] = {
        "phase": "Canary",
        "step": step,
        "weight": weights[step - 1],
        "canary": settings,
        "evidence": {"beganAt": (NOW - timedelta(minutes=1)).isoformat()},
        "evalRunIds": ["run-offline", "run-prerelease"],
        "rollout": {"name": "support-agent", "canaryRevision": "bbb", "stableRevision": "aaa"},
        **more,
    }
    if started is not None:
        status["stepStartedAt"] = started.isoformat()
    return status


def outcome(verdict: Verdict, step: int = 1, reason: ReasonCode | None = None) -> AnalysisOutcome:
    """A look at `step` with this verdict, on human_intervention_rate's evidence."""
    failed = verdict is Verdict.ROLLBACK
    trigger = GuardrailResult(
        metric="human_intervention_rate",
        result=Result.FAIL if failed else Result.PASS,
        reason=reason if failed else None,
        canary=0.06,
        stable=0.01,
        observed=0.05,
        threshold=0.005,
        canary_samples=1000,
        stable_samples=10000,
        message="human_intervention_rate: canary 6.00% vs stable 1.00%",
    )
    at = 60.0 * step
    decision = Decision(
        verdict=verdict,
        step=step,
        weight=5,
        reason=reason,
        metric=trigger.metric if verdict in (Verdict.ROLLBACK, Verdict.HOLD) else None,
        message=trigger.message,
        at=at,
        guardrails=(trigger,),
        state=AnalyzerState(step=step, looks=1),
    )
    analysis = Analysis(
        time=NOW,
        step=step,
        weight=5,
        at=at,
        look=1,
        verdict=verdict.value,
        result=trigger.result,
        guardrails=[trigger],
    )
    return AnalysisOutcome(step=step, decision=decision, analysis=analysis)
