"""How an effect is applied: the one place the operator changes the agent's Rollout.

Effects are applied after status was written, and every effect is derived again from
status on the next reconcile, so an effect that could not be applied now is applied
later, and one applied twice must change nothing the second time. How each API answer
is taken:

- 404, the Rollout (or its namespace) is gone: every effect is skipped; the next
  reconcile creates the Rollout if status still wants one.
- CreateRollout finds one already (409 AlreadyExists): it takes it over instead.
- UpdateRollout's JSON Patch `test`s the resourceVersion it read: a Rollout changed
  meanwhile fails it (422) and raises.
- PromoteStep clears the pause only while the Rollout is paused where status says
  (else it was promoted already: skip) and no person holds it paused (`spec.paused`:
  skip; the promotion is sent again once they resume it), with the resourceVersion it
  checked: a 409 means it moved meanwhile (skip; the next reconcile sees where it is).
- Anything else raises.

"raises" is an `ApiError`, whose `retriable` says whether the next reconcile may succeed
(5xx, 429, a timeout, a 409) or something must change first (401 after a fresh login,
403, 410, 422): `reconcile` logs it as such and the release is reconciled again at
the next tick either way. A skip is never silent: it is logged.
"""

from __future__ import annotations

import os
from typing import Any

from ..adapters.kube import AlreadyExists, Conflict, Kube, NotFound
from ..api.names import ROLLOUTS
from ..api.policy import CanaryStep
from ..api.release import AgentRelease
from . import rollouts
from .observability import logger
from .plan import (
    AbortRollout,
    AnnotateRollout,
    CreateRollout,
    Effect,
    PlanError,
    PromoteStep,
    UpdateRollout,
)
from .rollouts import RolloutView
from .runtime import Runtime

CRASH_EXIT_CODE = 70  # what the fault hook exits with (EX_SOFTWARE)


async def apply(
    rt: Runtime, release: AgentRelease, effect: Effect, seen: RolloutView | None = None
) -> RolloutView | None:
    """Apply one effect of `release`'s plan (status already says what it should do).

    `seen` is the Rollout as the decision read it, or as the previous effect left it: a
    promotion, abort or annotation is sent at its resourceVersion without reading the
    Rollout again (a 409 says it changed meanwhile, and is taken as each effect takes it
    below). Returns the Rollout as this effect left it, for the next one (None: the next
    one reads it). At two hundred simultaneous rollbacks that is two reads fewer each.
    """
    if rt.config.crash_before == type(effect).__name__:
        os._exit(CRASH_EXIT_CODE)  # the crash tests' fault hook (runtime.Config.crash_before)
    rt.must_lead()  # the fence: a replica that lost its lease touches no Rollout
    kube = rt.kube
    namespace = release.metadata.namespace or kube.default_namespace
    name = rollouts.rollout_name_of(release.spec.agent)
    logger(release=release.metadata.name, namespace=namespace, replica=rt.identity).info(
        "effect", effect=type(effect).__name__, rollout=name
    )
    try:
        match effect:
            case CreateRollout():
                await _create(kube, release, namespace, name)
            case UpdateRollout():
                await _take_over(kube, release, namespace, name)
            case PromoteStep(expected_index=index):
                return await _promote_step(kube, namespace, name, index, seen)
            case AbortRollout():
                return await _conditional(rt, namespace, name, rollouts.ABORT, seen, status=True)
            case AnnotateRollout(annotations=annotations):
                patch = {"metadata": {"annotations": dict(annotations)}}
                return await _conditional(rt, namespace, name, patch, seen)
    except NotFound as error:
        logger(release=release.metadata.name, namespace=namespace).info(
            "effect skipped", effect=type(effect).__name__, why=error.message
        )
    return None


def _steps_and_runs(release: AgentRelease) -> tuple[list[CanaryStep], list[str]]:
    """What a Rollout of the release is made of; fixed in status when the canary started."""
    status = release.status
    if status is None or status.canary is None:
        raise PlanError(f"{release.metadata.name}: a Rollout effect before the canary started")
    return status.canary.steps, status.eval_run_ids


async def _create(kube: Kube, release: AgentRelease, namespace: str, name: str) -> None:
    body = rollouts.manifest(release, *_steps_and_runs(release))
    try:
        await kube.create(ROLLOUTS, namespace, body)
    except AlreadyExists:
        await _take_over(kube, release, namespace, name)


async def _take_over(kube: Kube, release: AgentRelease, namespace: str, name: str) -> None:
    current = await kube.get(ROLLOUTS, namespace, name)
    if current is None:
        raise NotFound(404, "NotFound", f"Rollout {namespace}/{name} was deleted meanwhile")
    ops = rollouts.takeover(release, *_steps_and_runs(release), current)
    await kube.json_patch(ROLLOUTS, namespace, name, ops)


CONFLICT_ATTEMPTS = 3


async def _conditional(
    rt: Runtime,
    namespace: str,
    name: str,
    patch: dict[str, Any],
    seen: RolloutView | None,
    *,
    status: bool = False,
) -> RolloutView:
    """A merge patch at the resourceVersion of the Rollout as last read (`seen`, else
    read now), so that a fenced leader's write cannot land on a Rollout the new leader
    changed; Argo Rollouts writes the Rollout's status often, so a conflict is read again
    and retried a few times (each time behind the fence) before it is left to the next
    reconcile."""
    version = seen.resource_version if seen is not None else ""
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        if not version:
            body = await rt.kube.get(ROLLOUTS, namespace, name)
            if body is None:
                raise NotFound(404, "NotFound", f"Rollout {namespace}/{name} does not exist")
            version = body["metadata"]["resourceVersion"]
        metadata = {**patch.get("metadata", {}), "resourceVersion": version}
        rt.must_lead()
        try:
            done = await rt.kube.patch(
                ROLLOUTS, namespace, name, {**patch, "metadata": metadata}, status=status
            )
            return rollouts.view(done)
        except Conflict:
            if attempt == CONFLICT_ATTEMPTS:
                raise
            version = ""  # changed meanwhile: read it again
    raise AssertionError("unreachable: the last attempt returns or raises")


async def _promote_step(
    kube: Kube, namespace: str, name: str, expected_index: int, seen: RolloutView | None
) -> RolloutView | None:
    """Clear the pause only if the Rollout is still paused where status says: exactly once.

    The patch carries the resourceVersion it was checked at (the Rollout as the decision
    read it, else read now), so a Rollout that moved in between is not promoted a second
    time (409, and the next reconcile sees why).
    """
    if seen is None:
        body = await kube.get(ROLLOUTS, namespace, name)
        if body is None:
            raise NotFound(404, "NotFound", f"Rollout {namespace}/{name} does not exist")
        seen = rollouts.view(body)
    if not seen.paused_at(expected_index):
        return seen  # promoted already (a replay), or Argo moved on: nothing to clear
    if seen.held:
        logger(rollout=name, namespace=namespace).info(
            "promotion not sent: a person paused the Rollout", index=expected_index
        )
        return seen
    patch = {**rollouts.PROMOTE_STEP, "metadata": {"resourceVersion": seen.resource_version}}
    try:
        return rollouts.view(await kube.patch(ROLLOUTS, namespace, name, patch, status=True))
    except Conflict:
        logger(rollout=name, namespace=namespace).info(
            "promotion not sent: the Rollout changed since it was read", index=expected_index
        )
        return None
