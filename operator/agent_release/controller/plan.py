"""What a decision asks for: the new status, the effects, and the transitions to tell.

`machine.decide` returns a `Plan`; the shell around it writes `plan.status`, applies
`plan.effects` (`effects.apply`) and tells `plan.transitions` (`telling.tell`). All three
are typed values, so what the machine asks for is checked where it is written:

- Status changes go through `Plan.set`, which validates the whole new status strictly:
  a misspelt field or a value of the wrong type is a `PlanError` at once, never a change
  silently dropped or an object the API server refuses later.
- Effects are a closed set of frozen classes, one per change to the world, each with the
  fields it needs (`PromoteStep.expected_index`); the applier matches on them.
- Transitions say what happened in domain terms (a gate decided, a step promoted, a
  rollback). Events and the operator's metrics are both derived from them, so the
  metric of a rollback cannot drift from its Event.

A transition is `replayed` when the decision was taken before (status already holds it)
and is told again after a crash: its Events are posted again under the same names (a
no-op if they were posted), and it is not counted again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ..api.meta import with_condition
from ..api.names import ConditionType, EventReason
from ..api.outcomes import GateReport, ReasonCode, Result
from ..api.release import (
    AgentReleaseStatus,
    ManualAction,
    RollbackRecord,
    RolloutAction,
    RolloutChange,
)
from ..api.types import Stage

# -- effects -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateRollout:
    """Create the agent's Rollout from the release (take it over if it exists already)."""


@dataclass(frozen=True, slots=True)
class UpdateRollout:
    """Hand the agent's existing Rollout to the release: template, steps and owner."""


@dataclass(frozen=True, slots=True)
class PromoteStep:
    """Clear the Rollout's pause, only while it is paused at `expected_index`."""

    expected_index: int


@dataclass(frozen=True, slots=True)
class AbortRollout:
    """Abort the Rollout: Argo scales the canary down and serves the stable revision."""


@dataclass(frozen=True, slots=True)
class AnnotateRollout:
    """Set annotations on the Rollout; None removes one."""

    annotations: Mapping[str, str | None]


Effect = CreateRollout | UpdateRollout | PromoteStep | AbortRollout | AnnotateRollout


# -- transitions and their Events --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """A decision to tell. `key` names it within the release (`step-2`, `rollback`): the
    Event object is named after it, so posting it again after a crash is a no-op
    instead of a duplicate."""

    reason: EventReason
    message: str
    key: str
    warning: bool = False


@dataclass(frozen=True, slots=True)
class GateDecided:
    """A gate's decision changed (or was taken for the first time)."""

    stage: Stage
    report: GateReport
    generation: int | None

    def events(self) -> tuple[Event, ...]:
        report = self.report
        if report.decision is Result.PASS:
            key = f"{self.stage.value}-{self.generation}-pass"
            return (Event(EventReason.GATE_PASSED, report.headline(), key),)
        if report.reasons == [ReasonCode.REPORT_MISSING]:
            return ()  # still waiting for the report: not worth a Warning
        digest = "-".join(r.value.lower() for r in report.reasons)
        return (
            Event(
                EventReason.GATE_BLOCKED,
                f"{self.stage.value} gate {report.decision.value}: {report.headline()}",
                f"{self.stage.value}-{self.generation}-{digest}"[:60],
                warning=True,
            ),
        )


@dataclass(frozen=True, slots=True)
class CanaryStarted:
    message: str

    def events(self) -> tuple[Event, ...]:
        return (Event(EventReason.CANARY_STARTED, self.message, "canary"),)


@dataclass(frozen=True, slots=True)
class StepPromoted:
    """Step `step` is over; `baked` is how long it baked (None when replayed)."""

    step: int
    message: str
    baked_seconds: float | None = None
    replayed: bool = False

    def events(self) -> tuple[Event, ...]:
        return (Event(EventReason.STEP_PROMOTED, self.message, f"step-{self.step}"),)


@dataclass(frozen=True, slots=True)
class Holding:
    """A step's bake is over, undecided, and the policy says hold."""

    step: int
    reason: str
    message: str

    def events(self) -> tuple[Event, ...]:
        key = f"hold-step-{self.step}-{self.reason.lower()}"
        return (Event(EventReason.HOLDING, self.message, key, warning=True),)


@dataclass(frozen=True, slots=True)
class MetricsUnavailable:
    """Prometheus could not answer `metricsUnavailable.after` looks in a row: holding."""

    step: int
    message: str
    at: datetime

    def events(self) -> tuple[Event, ...]:
        key = f"metrics-step-{self.step}-{self.at:%H%M%S}"
        return (Event(EventReason.METRICS_UNAVAILABLE, self.message, key, warning=True),)


@dataclass(frozen=True, slots=True)
class RolledBack:
    record: RollbackRecord
    replayed: bool = False

    def events(self) -> tuple[Event, ...]:
        record = self.record
        told = [
            Event(
                EventReason.ROLLED_BACK,
                f"{record.reason.value}: {record.message}",
                "rollback",
                warning=True,
            )
        ]
        if record.reason in (ReasonCode.GUARDRAIL_BREACHED, ReasonCode.POLICY_VIOLATION):
            told.insert(
                0, Event(EventReason.GUARDRAIL_BREACHED, record.message, "breach", warning=True)
            )
        return tuple(told)


@dataclass(frozen=True, slots=True)
class Promoted:
    message: str
    replayed: bool = False

    def events(self) -> tuple[Event, ...]:
        return (Event(EventReason.PROMOTED, self.message, "promoted"),)


@dataclass(frozen=True, slots=True)
class Superseded:
    by: str
    message: str

    def events(self) -> tuple[Event, ...]:
        return (Event(EventReason.SUPERSEDED, self.message, "superseded"),)


@dataclass(frozen=True, slots=True)
class ActionTaken:
    """A person's request, carried out (or found to have nothing to act on)."""

    action: ManualAction

    def events(self) -> tuple[Event, ...]:
        a = self.action
        message = f"{describe_request(a.action.value, a.by, a.reason)} ({a.outcome})"
        return (Event(EventReason.MANUAL_ACTION, message, f"request-{a.id}"),)


@dataclass(frozen=True, slots=True)
class RolloutActed:
    """A person's action on the Rollout itself, noticed and answered; `refused` when the
    operator did not let it stand (a retry of a canary shown to harm)."""

    action: RolloutAction
    refused: bool = False

    def events(self) -> tuple[Event, ...]:
        a = self.action
        message = f"{a.action.value} of the Rollout by {a.by or 'an unknown client'}: {a.outcome}"
        if a.at is not None:  # the change itself, as managedFields date it
            moment = f"{a.at:%Y%m%dT%H%M%S}"
        elif a.action in (RolloutChange.PROMOTE, RolloutChange.PROMOTE_FULL):
            moment = f"step-{a.step}-{a.to_step}"  # once per step of an attempt
        else:
            moment = f"{a.time:%Y%m%dT%H%M%S%f}"
        reason = EventReason.RETRY_REFUSED if self.refused else EventReason.MANUAL_ACTION
        key = f"rollout-{a.action.value}-{moment}"
        return (Event(reason, message, key, warning=self.refused),)


Transition = (
    GateDecided
    | CanaryStarted
    | StepPromoted
    | Holding
    | MetricsUnavailable
    | RolledBack
    | Promoted
    | Superseded
    | ActionTaken
    | RolloutActed
)


def describe_request(action: str, by: str | None, reason: str) -> str:
    return f"{action} by {by or 'an unknown user'}: {reason}"


# -- the plan ----------------------------------------------------------------------------


class PlanError(TypeError):
    """A decision asked for a status the model cannot hold: a bug, retrying cannot help."""


_FIELDS = frozenset(AgentReleaseStatus.model_fields)
CONDITION_ORDER = tuple(t.value for t in ConditionType)


@dataclass(slots=True)
class Plan:
    """The new status, then the effects that make the world match it, then what to tell."""

    status: AgentReleaseStatus
    now: datetime
    generation: int | None
    effects: list[Effect] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)

    def set(self, **changes: Any) -> None:
        """Change status fields (by their Python names), validated strictly."""
        unknown = sorted(changes.keys() - _FIELDS)
        if unknown:
            raise PlanError(f"AgentReleaseStatus has no field {', '.join(unknown)}")
        try:
            self.status = AgentReleaseStatus.model_validate(
                {**dict(self.status), **changes}, strict=True
            )
        except ValidationError as error:
            raise PlanError(f"invalid status change {sorted(changes)}: {error}") from None

    def condition(self, kind: ConditionType, value: bool | None, reason: str, message: str) -> None:
        """Set one condition; its transition time moves only when its status flips."""
        conditions = with_condition(
            self.status.conditions,
            kind.value,
            value,
            reason,
            message,
            now=self.now,
            generation=self.generation,
            order=CONDITION_ORDER,
        )
        self.set(conditions=conditions)

    def effect(self, effect: Effect) -> None:
        self.effects.append(effect)

    def tell(self, transition: Transition) -> None:
        self.transitions.append(transition)

    def told(self, transition: Transition) -> tuple[Event, ...]:
        """A transition's Events, keyed within the canary's attempt: after a retry, the
        second attempt's rollback is an Event of its own, not a replay of the first's."""
        events = transition.events()
        attempt = self.status.attempt
        if attempt == 1:
            return events
        return tuple(replace(e, key=f"{e.key}-attempt-{attempt}") for e in events)

    @property
    def events(self) -> Sequence[Event]:
        return [event for t in self.transitions for event in self.told(t)]
