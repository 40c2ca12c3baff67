"""The campaign's invariants, checked from Argo's own record, not from the operator's word.

Pure functions of what was recorded: the Rollouts' versions (`watch.RolloutSeen`, every
status Argo wrote), the Lease's versions, the effects each replica logged, the faults and
the releases. Each returns its violations, one sentence each; none is a pass.

- `outcomes`: every good release is Promoted by Argo (Healthy on its own revision, every
  step done) and never aborted; every bad one aborted, with the reason it must have in
  the Rollout's `agentrelease.dev/rollback` annotation, and never promoted. The
  operator's status must say the same.
- `steps`: per release, every pause of the canary is reached once (one pause condition,
  one `startTime`) and lasts at least its bake, counted on the looks' clock (from the
  start of the analysis interval it began in), and the step index never goes back: a
  step promoted twice would skip the next pause, or cut it short.
- `leadership`: every effect a replica logged falls within a time it held the Lease
  (from acquisition to its last renewal plus the renew deadline, cut at the next holder's
  acquisition), as the Lease's own versions show.
- `stuck`: every release is final within its expected time plus a margin, plus the time
  the faults during its life took.
- `prometheus_down`: no pause is cleared while Prometheus is out (a short grace after it
  went, for a promotion decided on the last look before).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .faults import Fault, Kind
from .releases import EXPECTED, ReleaseRun
from .watch import LeaseSeen, RolloutSeen

PROMOTION_GRACE = 3.0
"""Seconds after Prometheus went out in which a promotion may still land: decided on the
last look before (a status write, then the Rollout patch)."""
CLOCK_TOLERANCE = 0.05
"""Seconds: a replica's log timestamp and its Lease stamps come from the same clock."""


@dataclass(frozen=True)
class Effect:
    at: float
    replica: str
    effect: str
    release: str


@dataclass(frozen=True)
class Canary:
    """What the Rollouts' history says about one release (its template's versions)."""

    versions: tuple[RolloutSeen, ...]

    @property
    def promoted(self) -> bool:
        return any(
            v.phase == "Healthy"
            and not v.abort
            and v.current_pod_hash is not None
            and v.stable_rs == v.current_pod_hash
            for v in self.versions
        )

    @property
    def aborted(self) -> bool:
        return any(v.abort for v in self.versions)

    @property
    def rollback_reason(self) -> str | None:
        reasons = [v.rollback_reason for v in self.versions if v.abort and v.rollback_reason]
        return reasons[-1] if reasons else None

    def promotions(self, pauses: Sequence[int]) -> list[tuple[int, float]]:
        """(pause index, when the watch saw the pause released) for each pause left.

        Released is the first version without the pause, or past it: the promotion's own
        patch clears the pause condition, and Argo moves the index when its controller
        syncs, which a busy or restarted controller may do many seconds later (a chaos run
        saw 18 s: the operator's promotion, decided and sent before an outage of
        Prometheus, then looked like one during it)."""
        out = []
        for pause in pauses:
            seen_paused = False
            for v in self.versions:
                if v.abort:
                    break
                if v.step_index == pause and v.paused_since is not None:
                    seen_paused = True
                elif seen_paused and v.step_index is not None and v.step_index >= pause:
                    out.append((pause, v.at))
                    break
        return out


def history(runs: Iterable[ReleaseRun], seen: Iterable[RolloutSeen]) -> dict[str, Canary]:
    """Each release's versions of its agent's Rollout (the Rollout is named after the
    agent), in the order the API server wrote them, each once, once Argo caught up."""
    unique = {(v.namespace, v.name, v.resource_version): v for v in seen if not v.deleted}
    ordered = sorted(unique.values(), key=lambda v: v.resource_version)
    out = {}
    for run in runs:
        mine = [
            v
            for v in ordered
            if v.key == (run.namespace, run.agent) and v.template_release == run.name
        ]
        # right after a template change Argo may still report the previous canary's
        # index and hash: only the versions of this release's own revision count
        revision = mine[-1].current_pod_hash if mine else None
        out[run.name] = Canary(
            tuple(v for v in mine if v.caught_up and v.current_pod_hash == revision)
        )
    return out


def outcomes(runs: Iterable[ReleaseRun], canaries: Mapping[str, Canary]) -> list[str]:
    out = []
    for run in runs:
        if run.finished is None:
            continue  # `stuck` says so
        canary = canaries[run.name]
        expected = EXPECTED[run.kind]
        if expected == "Promoted":
            if not canary.promoted:
                out.append(f"{run.name} ({run.kind}): Argo never promoted it")
            if canary.aborted:
                out.append(f"{run.name} ({run.kind}): Argo aborted it")
            if run.phase != "Promoted":
                out.append(f"{run.name} ({run.kind}): the operator says {run.phase}")
            continue
        if not canary.aborted:
            out.append(f"{run.name} ({run.kind}): Argo never aborted it")
        elif canary.rollback_reason != expected:
            out.append(
                f"{run.name} ({run.kind}): rolled back for {canary.rollback_reason}, not {expected}"
            )
        if canary.promoted:
            out.append(f"{run.name} ({run.kind}): Argo promoted it")
        if (run.phase, run.reason) != ("RolledBack", expected):
            out.append(f"{run.name} ({run.kind}): the operator says {run.phase} {run.reason}")
    return out


def steps(
    runs: Iterable[ReleaseRun],
    canaries: Mapping[str, Canary],
    pauses: Sequence[int],
    bake: float,
    interval: float,
) -> list[str]:
    out = []
    for run in runs:
        if run.first:
            continue  # Argo skips the steps of a first deploy
        versions = canaries[run.name].versions
        live = [v for v in versions if not v.abort]
        for earlier, later in itertools.pairwise(live):
            if (
                earlier.step_index is not None
                and later.step_index is not None
                and later.step_index < earlier.step_index
            ):
                out.append(
                    f"{run.name}: step index went back from {earlier.step_index} "
                    f"to {later.step_index}"
                )
        reached = max((v.step_index or 0 for v in live), default=0)
        for pause in pauses:
            starts = sorted(
                {v.paused_since for v in live if v.step_index == pause and v.paused_since}
            )
            if len(starts) > 1:
                out.append(f"{run.name}: pause at index {pause} entered {len(starts)} times")
            if reached <= pause:
                continue  # not past it (rolled back there or before)
            if not starts:
                out.append(f"{run.name}: the pause at index {pause} was skipped")
                continue
            left = next(v.at for v in live if (v.step_index or 0) > pause and v.at >= starts[0])
            # looks fall on multiples of the interval: a bake counts from the start of
            # the interval the step was reached in, at the latest
            baked_from = math.floor(starts[0] / interval) * interval
            if left < baked_from + bake:
                out.append(
                    f"{run.name}: promoted past the pause at index {pause} after "
                    f"{left - starts[0]:.1f} s, before its {bake:.0f} s bake (counted from "
                    f"the interval it began in)"
                )
    return out


@dataclass(frozen=True)
class Tenure:
    holder: str
    start: float
    end: float


def tenures(leases: Iterable[LeaseSeen], renew_deadline: float) -> list[Tenure]:
    """Who held the Lease when: one tenure per acquisition (holder and acquireTime), to
    its last renewal plus the renew deadline, cut at the next acquisition."""
    unique = {v.resource_version: v for v in leases}
    groups: list[tuple[str, float, float]] = []  # holder, acquired, last renewed
    for v in (unique[rv] for rv in sorted(unique)):
        if v.holder is None or v.acquired is None or v.renewed is None:
            continue  # released on shutdown
        if groups and groups[-1][:2] == (v.holder, v.acquired):
            groups[-1] = (v.holder, v.acquired, max(groups[-1][2], v.renewed))
        else:
            groups.append((v.holder, v.acquired, v.renewed))
    out = []
    for i, (holder, acquired, renewed) in enumerate(groups):
        end = renewed + renew_deadline
        if i + 1 < len(groups):
            end = min(end, groups[i + 1][1])
        out.append(Tenure(holder, acquired, end))
    return out


def leadership(effects: Iterable[Effect], held: Sequence[Tenure]) -> list[str]:
    out = []
    for effect in effects:
        if not any(
            t.holder == effect.replica
            and t.start - CLOCK_TOLERANCE <= effect.at <= t.end + CLOCK_TOLERANCE
            for t in held
        ):
            holders = [t.holder for t in held if t.start <= effect.at <= t.end]
            out.append(
                f"{effect.replica} sent {effect.effect} for {effect.release} at "
                f"{effect.at:.3f} while the Lease was held by {holders or 'no one'}"
            )
    return out


def stuck(
    runs: Iterable[ReleaseRun],
    faults: Sequence[Fault],
    *,
    expected: Mapping[str, float],
    margin: float,
    per_fault: float,
    now: float,
) -> list[str]:
    """`expected` by kind (`first` for a first release); each fault during a release's
    life adds the time its target was unhealthy and `per_fault`."""
    out = []
    for run in runs:
        end = run.finished if run.finished is not None else now
        during = [f for f in faults if f.out_from < end and f.recovered > run.created]
        allowed = (
            expected["first" if run.first else run.kind]
            + margin
            + sum(f.recovered - f.out_from + per_fault for f in during)
        )
        took = end - run.created
        if run.finished is None or took > allowed:
            state = "not final" if run.finished is None else "final"
            out.append(
                f"{run.name} ({run.kind}): {state} after {took:.0f} s, allowed {allowed:.0f} s "
                f"({len(during)} faults during it)"
            )
    return out


def prometheus_down(
    canaries: Mapping[str, Canary], faults: Iterable[Fault], pauses: Sequence[int]
) -> list[str]:
    out = []
    outages = [f for f in faults if f.kind is Kind.RESTART_PROMETHEUS]
    for name, canary in canaries.items():
        for pause, at in canary.promotions(pauses):
            for outage in outages:
                if outage.out_from + PROMOTION_GRACE <= at <= outage.out_to:
                    out.append(
                        f"{name}: promoted past index {pause} at {at:.1f}, "
                        f"{at - outage.out_from:.1f} s into a Prometheus outage"
                    )
    return out
