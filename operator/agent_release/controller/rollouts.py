"""Argo Rollouts: the Rollout the operator renders, what its status means, its patches.

One Rollout per agent, named after it: a release changes the Rollout's pod template
and steps, so Argo Rollouts has a stable ReplicaSet to canary against. The release
that drives it is its controlling owner. Canary steps are `setWeight`, `pause: {}`
pairs for every step but the last (weight 100, reached by promoting past the last
pause), so step k (1-based) is paused at Argo index 2k−1. The operator, not a timer,
ends each pause: clearing `status.pauseConditions` promotes exactly one step (also
bumping `currentStepIndex` would skip one), as the Argo kubectl plugin does.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..api.names import (
    ANNOTATION_EVAL_RUNS,
    ANNOTATION_RELEASE,
    ANNOTATION_ROLLBACK,
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
class RolloutView:
    """What the operator reads from a Rollout."""

    release: str | None  # the release whose template this is (spec, not status)
    eval_runs: str | None  # the eval run IDs annotated on a promotion
    generation: int
    observed_generation: int | None
    step_index: int | None
    paused: bool
    aborted: bool
    phase: str
    message: str
    stable_hash: str | None
    current_hash: str | None

    @property
    def caught_up(self) -> bool:
        """The controller has seen the latest spec: its status describes it."""
        return self.observed_generation == self.generation

    def paused_at(self, index: int) -> bool:
        return self.caught_up and self.paused and self.step_index == index

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
    return RolloutView(
        release=(template_meta.get("annotations") or {}).get(ANNOTATION_RELEASE)
        or (meta.get("annotations") or {}).get(ANNOTATION_RELEASE),
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
    )
