"""What the machine is told: the world as observed for one release, as plain values.

`observe.observe` reads these from the API server (and the analysis loop adds its look);
`machine.decide` reads nothing else. Keeping them free of clients and I/O is what lets
tests and replays build a world by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..api.evalreport import EvalReport
from ..api.policy import ReleasePolicy
from ..api.release import Analysis, Forecast
from ..api.requests import PersonRequest
from ..api.types import Stage
from ..canary.analyzer import Decision, Verdict
from .rollouts import RolloutView


@dataclass(frozen=True, slots=True)
class ReportLookup:
    """The EvalReport of one stage: found, or why not (missing / invalid)."""

    report: EvalReport | None = None
    missing: str | None = None
    invalid: str | None = None


@dataclass(frozen=True, slots=True)
class Baseline:
    release: str | None  # the last promoted release of the agent, if derived from it
    reports: dict[Stage, EvalReport]


@dataclass(frozen=True, slots=True)
class AnalysisOutcome:
    """One look at the canary, from the analysis loop; no decision when Prometheus could
    not answer (`error` says why)."""

    step: int
    decision: Decision | None
    analysis: Analysis | None = None  # the look as status records it
    forecast: Forecast | None = None
    error: str | None = None
    taken_at: float = 0.0  # epoch seconds of the look, for breach-to-abort latency

    @property
    def urgent(self) -> bool:
        """A rollback: applied ahead of every routine reconcile (`reconcile`)."""
        return self.decision is not None and self.decision.verdict is Verdict.ROLLBACK


@dataclass(frozen=True, slots=True)
class World:
    now: datetime
    policy: ReleasePolicy | None
    reports: dict[Stage, ReportLookup]
    baseline: Baseline
    rollout: RolloutView | None
    rival: str | None = None  # a newer release of the agent that drives the Rollout
    # the release whose template the Rollout's current (canary) ReplicaSet runs; read when
    # a step is about to start baking, None otherwise
    canary_release: str | None = None
    request: PersonRequest | None = None  # a person's request not yet carried out
    outcome: AnalysisOutcome | None = None
