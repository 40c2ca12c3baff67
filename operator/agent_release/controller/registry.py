"""What the operator remembers of each AgentRelease between watch events.

The analysis loop needs, every tick, the phase of every release (to reconcile the
ones still moving and to count them for `/metrics`) and, for the canaries that bake,
what their next look needs. It keeps exactly that, parsed once per watch event: never
the whole object, whose status carries every gate check and whose spec carries a pod
template. A Promoted release then costs a few hundred bytes, whatever its size, and
the operator's memory stays flat in the number of releases.

It is a cache, never a source of truth: each reconcile reads the object afresh before
deciding. Kopf keeps it, as an index (`cache`), so it is whole before any handler runs.
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
_GATE_PHASES = frozenset(p.value for p in (Phase.PENDING, Phase.GATING, Phase.BLOCKED))


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
    """A release as the operator remembers it: its phase, what its look needs, and what
    other releases of its agent ask of it (a baseline's reports, a rival's age)."""

    key: Key
    phase: str
    agent: str = ""
    policy: str = ""
    created: str = ""  # RFC 3339 creationTimestamp: sorts as time
    promoted_at: str = ""
    reports_used: tuple[tuple[str, str], ...] = ()  # (stage, EvalReport) its gates read
    baking: Baking | None = None

    @property
    def final(self) -> bool:
        return self.phase in Phase.__members__.values() and Phase(self.phase).final

    @property
    def gating(self) -> bool:
        """Waiting at its gates: for its reports or its policy to change."""
        return self.phase in _GATE_PHASES


def track(body: dict[str, Any]) -> Tracked:
    """The registry entry of a release, from its object as the watch delivered it."""
    meta, spec, status = (_mapping(body.get(part)) for part in ("metadata", "spec", "status"))
    phase = str(status.get("phase") or Phase.PENDING.value)
    used = _mapping(status.get("evalReports"))
    return Tracked(
        key=(str(meta.get("namespace") or ""), str(meta.get("name") or "")),
        phase=phase,
        agent=str(spec.get("agent") or ""),
        policy=str(spec.get("policy") or ""),
        created=str(meta.get("creationTimestamp") or ""),
        promoted_at=str(status.get("promotedAt") or ""),
        reports_used=tuple(sorted((str(k), str(v)) for k, v in used.items() if v)),
        baking=_baking(body) if phase == Phase.CANARY.value else None,
    )


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


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
