"""What the operator remembers of each AgentRelease between watch events.

The analysis loop needs, every tick, the phase of every release (to reconcile the
ones still moving and to count them for `/metrics`) and, for the canaries that bake,
what their next look needs. It keeps exactly that, parsed once per watch event: never
the whole object, whose status carries every gate check and whose spec carries a pod
template. A Promoted release then costs a few hundred bytes, whatever its size, and
the operator's memory stays flat in the number of releases.

It is a cache, never a source of truth: each reconcile reads the object afresh before
deciding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..api.policy import CanaryPolicy
from ..api.release import AgentRelease, CanaryEvidence, Phase
from ..api.types import parse_duration
from ..canary.analyzer import Analyzer

Key = tuple[str, str]  # namespace, name


@dataclass(frozen=True, slots=True)
class Baking:
    """A release at a paused canary step, with what its next look needs."""

    key: Key
    agent: str
    step: int
    weight: int
    settings: CanaryPolicy
    evidence: CanaryEvidence  # when the canary's evidence began, and what it has shown
    interval: float
    canary: str
    stable: str

    @property
    def began(self) -> float:
        """Epoch seconds of the start of the canary's first analysis interval."""
        return self.evidence.began_at.timestamp()


@dataclass(slots=True)
class Live:
    """A baking canary's analyzer, and how far its evidence reaches (epoch seconds).

    The running sums live only here; what else the analyzer knows is in status, so a
    lost Live (a restart) is rebuilt from Prometheus history at the next look."""

    analyzer: Analyzer
    canary: str
    stable: str
    began: float
    added_until: float


@dataclass(frozen=True, slots=True)
class Tracked:
    phase: str
    baking: Baking | None = None

    @property
    def final(self) -> bool:
        return self.phase in Phase.__members__.values() and Phase(self.phase).final


def track(body: dict[str, Any]) -> Tracked:
    """The registry entry of a release, from its object as the watch delivered it."""
    status = body.get("status")
    phase = (status.get("phase") if isinstance(status, dict) else None) or Phase.PENDING.value
    return Tracked(phase=str(phase), baking=_baking(body) if phase == Phase.CANARY.value else None)


def _baking(body: dict[str, Any]) -> Baking | None:
    status = body.get("status") or {}
    if not status.get("stepStartedAt") or not status.get("evidence"):
        return None
    try:
        release = AgentRelease.model_validate(body)
    except ValidationError:
        return None
    st = release.status
    if st is None or st.canary is None or st.step is None or st.evidence is None:
        return None
    revisions = st.rollout
    if revisions is None or not revisions.canary_revision or not revisions.stable_revision:
        return None
    return Baking(
        key=(release.metadata.namespace or "", release.metadata.name),
        agent=release.spec.agent,
        step=st.step,
        weight=st.weight or 0,
        settings=st.canary,
        evidence=st.evidence,
        interval=parse_duration(st.canary.analysis_interval),
        canary=revisions.canary_revision,
        stable=revisions.stable_revision,
    )
