"""Argo Rollouts: the Rollout the operator renders, what its status means, its patches.

One Rollout per agent, named after it: a release changes the Rollout's pod template
and steps, so Argo Rollouts has a stable ReplicaSet to canary against. The release
that drives it is its controlling owner. Canary steps are `setWeight`, `pause: {}`
pairs for every step but the last (weight 100, reached by promoting past the last
pause), so step k (1-based) is paused at Argo index 2k−1. The operator, not a timer,
ends each pause: clearing `status.pauseConditions` promotes exactly one step (also
bumping `currentStepIndex` would skip one), as the Argo kubectl plugin does.

People act on the Rollout too, with Argo's kubectl plugin or `kubectl patch`. What they
did is read from the Rollout itself: `spec.paused` (pause), `status.abort` (abort, and
`false` after a retry), `status.promoteFull`, a template that is not the release's
(undo), a step beyond the one status names (promote); and who did it from
`metadata.managedFields`, where the API server records the field manager of each write
(`FieldOwner`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..api.names import (
    ANNOTATION_EVAL_RUNS,
    ANNOTATION_RELEASE,
    ANNOTATION_ROLLBACK,
    ARGO_CONTROLLER_MANAGER,
    FIELD_MANAGER,
    LABEL_AGENT,
    ROLLOUTS,
)
from ..api.policy import CanaryStep
from ..api.release import AgentRelease

PROMOTE_STEP: dict[str, Any] = {"status": {"pauseConditions": None}}
ABORT: dict[str, Any] = {"status": {"abort": True}}


def argo_steps(steps: Sequence[CanaryStep]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for step in steps[:-1]:
        out += [{"setWeight": step.weight}, {"pause": {}}]
    return out


def pause_index(step: int) -> int:
    """Argo's currentStepIndex while paused at our (1-based) step."""
    return 2 * step - 1


def step_at(index: int, steps: int) -> int:
    """Our (1-based) step at Argo's currentStepIndex: its setWeight or its pause, and
    the last step (100%) past the last pause."""
    return min(index // 2 + 1, steps)


def template(release: AgentRelease, eval_run_ids: Sequence[str]) -> dict[str, Any]:
    """The pod template of a release: its own, plus the agent label, the release and
    eval run annotations, and the candidate image on the first container.

    Deterministic, so the same release always yields the same pod-template hash.
    """
    spec = release.spec
    body = copy.deepcopy(spec.rollout.template or {})
    meta = body.setdefault("metadata", {})
    meta.setdefault("labels", {})[LABEL_AGENT] = spec.agent
    annotations = meta.setdefault("annotations", {})
    annotations[ANNOTATION_RELEASE] = release.metadata.name
    annotations[ANNOTATION_EVAL_RUNS] = ",".join(eval_run_ids)
    containers = body.setdefault("spec", {}).get("containers") or []
    if spec.candidate.image and containers:
        containers[0]["image"] = spec.candidate.image
    return body


def owner_reference(release: AgentRelease) -> dict[str, Any]:
    return {
        "apiVersion": release.api_version,
        "kind": release.kind,
        "name": release.metadata.name,
        "uid": release.metadata.uid,
        "controller": True,
        # no blockOwnerDeletion: it would need update on agentreleases/finalizers where
        # OwnerReferencesPermissionEnforcement is on, for no benefit here
    }


def rollout_name_of(agent: str) -> str:
    """One Rollout per agent, named after it."""
    return agent


def _workload(release: AgentRelease, run_ids: Sequence[str]) -> dict[str, Any]:
    workload = release.spec.rollout.workload_ref
    if workload is None:
        return {"template": template(release, run_ids)}
    return {
        "workloadRef": {
            "apiVersion": workload.api_version,
            "kind": workload.kind,
            "name": workload.name,
        }
    }


def _strategy(steps: Sequence[CanaryStep]) -> dict[str, Any]:
    return {"canary": {"steps": argo_steps(steps)}}


def manifest(
    release: AgentRelease, steps: Sequence[CanaryStep], run_ids: Sequence[str]
) -> dict[str, Any]:
    """A new Rollout for the agent, owned by the release."""
    agent = release.spec.agent
    return {
        "apiVersion": f"{ROLLOUTS.group}/{ROLLOUTS.version}",
        "kind": "Rollout",
        "metadata": {
            "name": rollout_name_of(agent),
            "namespace": release.metadata.namespace,
            "labels": {LABEL_AGENT: agent},
            "annotations": {ANNOTATION_RELEASE: release.metadata.name},
            "ownerReferences": [owner_reference(release)],
        },
        "spec": {
            "replicas": release.spec.rollout.replicas,
            "selector": {"matchLabels": {LABEL_AGENT: agent}},
            "strategy": _strategy(steps),
            **_workload(release, run_ids),
        },
    }


def takeover(
    release: AgentRelease,
    steps: Sequence[CanaryStep],
    run_ids: Sequence[str],
    current: dict[str, Any],
) -> list[dict[str, Any]]:
    """JSON Patch that hands an existing Rollout to the release, atomically.

    A JSON Patch rather than a merge patch: the pod template must be replaced whole
    (a merge would keep keys the new template dropped, and the pod-template hash would
    not be the release's), and the `test` of the resourceVersion makes it conditional.
    The previous release's rollback annotation goes; Argo's own annotations stay.
    """
    meta = current.get("metadata") or {}
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k != ANNOTATION_ROLLBACK
    }
    annotations[ANNOTATION_RELEASE] = release.metadata.name
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")},
        {"op": "add", "path": "/metadata/annotations", "value": annotations},
        {"op": "add", "path": "/metadata/ownerReferences", "value": [owner_reference(release)]},
        {"op": "add", "path": "/spec/replicas", "value": release.spec.rollout.replicas},
        {"op": "add", "path": "/spec/strategy", "value": _strategy(steps)},
    ]
    spec = current.get("spec") or {}
    for key, value in _workload(release, run_ids).items():
        ops.append({"op": "add", "path": f"/spec/{key}", "value": value})
    for stale in {"template", "workloadRef"} - set(_workload(release, run_ids)):
        if stale in spec:
            ops.append({"op": "remove", "path": f"/spec/{stale}"})
    return ops


@dataclass(frozen=True, slots=True)
class FieldOwner:
    """Who last wrote a field of the Rollout, as its managedFields say: the field manager
    (a program: `kubectl-argo-rollouts`, `kubectl-patch`, ...) and when (whole seconds)."""

    manager: str
    at: datetime | None = None

    @property
    def outside(self) -> bool:
        """Neither this operator nor Argo's controller: someone acting on the Rollout."""
        return self.manager not in (FIELD_MANAGER, ARGO_CONTROLLER_MANAGER)

    def describe(self) -> str:
        when = f" at {self.at:%H:%M:%S}" if self.at else ""
        return f"{self.manager}{when}"


@dataclass(frozen=True, slots=True)
class RolloutView:
    """What the operator reads from a Rollout."""

    release: str | None  # the release whose template this is (spec, not status)
    eval_runs: str | None  # the eval run IDs annotated on a promotion
    generation: int
    observed_generation: int | None
    step_index: int | None
    paused: bool  # at a pause: status.pauseConditions
    aborted: bool
    phase: str
    message: str
    stable_hash: str | None
    current_hash: str | None
    # the release that took the Rollout over (its own annotation; the template's may differ)
    claimed_by: str | None = None
    # the release annotated on spec.template; None without a template (workloadRef) or
    # when the template has no annotation
    template_release: str | None = None
    templated: bool = True  # spec.template, not spec.workloadRef
    held: bool = False  # spec.paused: paused by a person, until they resume it
    retried: bool = False  # status.abort is false: set back after an abort (a retry)
    promote_full: bool = False  # status.promoteFull: `promote --full` under way
    # who last wrote spec.paused, status.abort, status.promoteFull and the template's
    # release annotation (else any field of the template)
    paused_by: FieldOwner | None = None
    abort_by: FieldOwner | None = None
    promote_full_by: FieldOwner | None = None
    template_by: FieldOwner | None = None
    rollback: str | None = None  # the rollback annotation (the record's JSON), if any
    resource_version: str = ""  # of what was read: the precondition of an effect on it

    @property
    def caught_up(self) -> bool:
        """The controller has seen the latest spec: its status describes it."""
        return self.observed_generation == self.generation

    def paused_at(self, index: int) -> bool:
        return self.caught_up and self.paused and self.step_index == index

    @property
    def undone(self) -> bool:
        """The template is not the one of the release that took the Rollout over: set back
        to an earlier revision (`kubectl argo rollouts undo`), since a release's takeover
        changes the template and the Rollout's own annotation together."""
        return self.templated and self.template_release != self.claimed_by

    @property
    def degraded(self) -> bool:
        """Degraded, and not merely an abort that a retry has just cleared: right after
        `retry`, Argo's controller still reports the abort's Degraded for a moment."""
        stale_abort = self.retried and self.message.startswith("RolloutAborted")
        return self.phase == "Degraded" and not stale_abort

    @property
    def healthy_on_current(self) -> bool:
        """Fully promoted: the current revision is the stable one and all is ready."""
        return (
            self.caught_up
            and self.phase == "Healthy"
            and self.current_hash is not None
            and self.current_hash == self.stable_hash
        )


def view(body: dict[str, Any]) -> RolloutView:
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    spec = body.get("spec") or {}
    template_meta = (spec.get("template") or {}).get("metadata") or {}
    observed = status.get("observedGeneration")
    claimed = (meta.get("annotations") or {}).get(ANNOTATION_RELEASE)
    templated = (template_meta.get("annotations") or {}).get(ANNOTATION_RELEASE)
    owners = _Owners(meta.get("managedFields") or [])
    release_key = f"f:{ANNOTATION_RELEASE}"
    return RolloutView(
        release=templated or claimed,
        eval_runs=(meta.get("annotations") or {}).get(ANNOTATION_EVAL_RUNS),
        generation=int(meta.get("generation") or 0),
        # Argo Rollouts writes observedGeneration as a string
        observed_generation=int(observed) if observed not in (None, "") else None,
        step_index=status.get("currentStepIndex"),
        paused=bool(status.get("pauseConditions")),
        aborted=bool(status.get("abort")),
        phase=status.get("phase") or "",
        message=status.get("message") or "",
        stable_hash=status.get("stableRS") or None,
        current_hash=status.get("currentPodHash") or None,
        claimed_by=claimed,
        template_release=templated,
        templated="template" in spec,
        held=spec.get("paused") is True,
        retried=status.get("abort") is False,
        promote_full=status.get("promoteFull") is True,
        paused_by=owners.of("f:spec", "f:paused"),
        abort_by=owners.of("f:status", "f:abort"),
        rollback=(meta.get("annotations") or {}).get(ANNOTATION_ROLLBACK),
        promote_full_by=owners.of("f:status", "f:promoteFull"),
        template_by=owners.of("f:spec", "f:template", "f:metadata", "f:annotations", release_key)
        or owners.within("f:spec", "f:template"),
        resource_version=str(meta.get("resourceVersion") or ""),
    )


class _Owners:
    """The field managers of an object, from `metadata.managedFields` (fieldsV1 trees:
    `{"f:spec": {"f:paused": {}}}` means that manager owns spec.paused)."""

    def __init__(self, entries: Sequence[Mapping[str, Any]]) -> None:
        self._entries = [e for e in entries if isinstance(e, Mapping) and e.get("manager")]

    def _owners(self, path: Sequence[str], *, outside: bool) -> list[FieldOwner]:
        found = []
        for entry in self._entries:
            node: Any = entry.get("fieldsV1") or {}
            for key in path:
                node = node.get(key) if isinstance(node, Mapping) else None
            if node is None:
                continue
            owner = FieldOwner(str(entry["manager"]), _timestamp(entry.get("time")))
            if owner.outside or not outside:
                found.append(owner)
        return found

    def of(self, *path: str) -> FieldOwner | None:
        """The manager of the field at `path` (the newest, should several share it)."""
        return _newest(self._owners(path, outside=False))

    def within(self, *path: str) -> FieldOwner | None:
        """The newest manager from outside that owns anything under `path`."""
        return _newest(self._owners(path, outside=True))


def _newest(owners: list[FieldOwner]) -> FieldOwner | None:
    if not owners:
        return None
    return max(owners, key=lambda o: o.at or datetime.min.replace(tzinfo=UTC))


def _timestamp(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
