"""Reconciling one AgentRelease: observe, decide, write status, apply effects, tell.

    observe      →  machine.decide  →  writes.write_status  →  effects.apply  →  telling.tell
    (reads only)    (pure)             (conditional on the      (the Rollout)      (Events, logs,
                                        resourceVersion read)                       metrics)

Status is written before effects are applied, with the resourceVersion it was read
at, so two writers (a kopf handler and the analysis loop) never overwrite each other:
the loser gets a 409, reads again and decides again. A storm of conflicts is retried
with growing, jittered waits and then reported as `ConflictStorm`, never dropped in
silence; the release is reconciled again at the next tick. Effects are applied after
the write and derived again from status on every later reconcile, so a crash between
any two of these steps is harmless.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from contextlib import nullcontext

from pydantic import ValidationError

from ..adapters.kube import ApiError, Conflict
from ..api.names import AGENTRELEASES
from ..api.release import AgentRelease
from ..manifests import validation_message
from . import effects, telling
from .facts import AnalysisOutcome
from .machine import decide
from .observability import logger
from .observe import observe
from .plan import AbortRollout, Plan
from .runtime import Runtime
from .writes import mark_failed, write_status

CONFLICT_ATTEMPTS = 8
CONFLICT_BACKOFF = 0.05  # seconds before the second attempt; doubles, with jitter, up to 1.6 s


class ConflictStorm(ApiError):
    """Every attempt to write a release's status met a newer version (409): someone else
    keeps writing it. Retriable: the release is reconciled again at the next tick."""


def wake(rt: Runtime, namespace: str, name: str) -> None:
    """Reconcile a release soon, without waiting: what a watch event asks for.

    The handler returns at once and holds no object while the release waits for a slot,
    so a burst of a thousand events is a thousand keys in memory, not a thousand bodies;
    and a release already waiting gets nothing more, since its reconcile reads the
    release as it is when its turn comes (a Rollout written five times by Argo while
    its release waits is one reconcile, not five). An event after the read wakes it
    again. A failure is reported, and the analysis loop tries again (`Runtime.unsettled`).
    """
    key = (namespace, name)
    if key in rt.waiting:
        return
    rt.waiting.add(key)

    def begun() -> None:
        rt.waiting.discard(key)

    async def run() -> None:
        try:
            await reconcile(rt, namespace, name, started=begun)
        except Exception as error:
            report_failure(error)
        finally:
            rt.waiting.discard(key)

    task = asyncio.create_task(run())
    rt.background.add(task)
    task.add_done_callback(rt.background.discard)


async def reconcile(
    rt: Runtime,
    namespace: str,
    name: str,
    outcome: AnalysisOutcome | None = None,
    *,
    started: Callable[[], AnalysisOutcome | None] | Callable[[], None] | None = None,
) -> AgentRelease | None:
    """Bring one release one decision further. Safe to call at any time, any number of times.

    Returns the release as written, or None when it does not exist (any more) or cannot
    be parsed (it is then marked Failed). At most `Config.concurrent_reconciles` run at
    once, whatever called them (watch events, the analysis loop): a burst of a thousand
    creations waits its turn instead of holding a thousand observations in memory.

    A rollback a look found does not wait its turn: it takes the release's lock only.
    The limit is there for bursts, and rollbacks are bounded by the canaries baking;
    queued behind a look's two hundred status writes, an abort would wait one analysis
    interval. So a reconcile takes a slot first and the release's lock second: a
    reconcile holding the lock is running, never queued, and a rollback waits at most
    for one reconcile of its own release.
    """
    if not rt.leading():
        return None  # a standby watches; the leader decides
    key = (namespace, name)
    urgent = outcome is not None and outcome.urgent
    async with nullcontext() if urgent else rt.reconciling, rt.locks[key]:
        if started is not None:
            # what changes from now on needs another reconcile (`wake`); a look that
            # came while this one waited for its turn is the one applied (`settle`)
            outcome = started() or outcome
        began = time.perf_counter()
        try:
            done = await _reconcile(rt, namespace, name, outcome)
        except Exception:
            # what it wrote may be ahead of what it applied (a final status, its abort
            # refused): the loop tries again even if the release is final now
            rt.unsettled.add(key)
            raise
        finally:
            rt.metrics.reconcile_latency.observe(time.perf_counter() - began)
        rt.unsettled.discard(key)
        return done


async def _reconcile(
    rt: Runtime, namespace: str, name: str, outcome: AnalysisOutcome | None
) -> AgentRelease | None:
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        body = await rt.kube.get(AGENTRELEASES, namespace, name)
        if body is None:
            return None
        try:
            release = AgentRelease.model_validate(body)
        except ValidationError as error:
            await mark_failed(rt.kube, body, f"invalid AgentRelease: {validation_message(error)}")
            return None
        world = await observe(rt, release, outcome)
        plan = decide(release, world)
        rt.must_lead()  # the fence: a replica that lost its lease writes nothing
        try:
            written = await write_status(rt.kube, release, plan.status)
        except Conflict as error:
            rt.metrics.conflicts.inc()
            if attempt == CONFLICT_ATTEMPTS:
                raise ConflictStorm(
                    409,
                    "ConflictStorm",
                    f"AgentRelease {namespace}/{name}: status changed under each of "
                    f"{attempt} attempts to write it (last: {error.message})",
                ) from error
            wait = CONFLICT_BACKOFF * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
            logger(namespace=namespace, release=name).info(
                "status write conflict: deciding again on fresh data",
                attempt=attempt,
                wait_seconds=round(wait, 3),
            )
            await asyncio.sleep(wait)
            continue
        done = release.model_copy(update={"status": plan.status})
        if written and outcome is not None and not plan.effects and _unmoved(release, plan):
            rt.echoes[(namespace, name)] = written
        seen = world.rollout  # each effect is sent on the Rollout as last read
        for effect in plan.effects:
            seen = await effects.apply(rt, done, effect, seen)
            if outcome is not None and isinstance(effect, AbortRollout):
                rt.metrics.breach_to_abort.observe(time.time() - outcome.taken_at)
        await telling.tell(rt, done, plan)
        return done
    raise AssertionError("unreachable: the last attempt returns or raises")


def _unmoved(release: AgentRelease, plan: Plan) -> bool:
    """A look that only recorded itself: same phase and step, nothing applied.

    Its own write comes back as a watch event, and reconciling that would read the
    release and its Rollout only to decide the same again (at two hundred canaries, as
    many reconciles per interval as the looks). Such a write is an echo (`Runtime.echoes`)
    and its event is not reconciled; any other write's event is, since a decision may
    lead straight to the next (a gate passed: start the canary)."""
    before = release.status
    return (
        before is not None
        and before.phase is plan.status.phase
        and before.step == plan.status.step
        and not plan.transitions
    )


def report_failure(error: BaseException) -> None:
    """Log a reconcile that failed; it is tried again at the next tick either way.

    An API error that may pass by itself (`retriable`: a busy or unreachable server, a
    conflict storm) is a warning; one that needs a change first (403, 422: RBAC or the
    object) and any other exception (a bug) are errors.
    """
    text = f"{type(error).__name__}: {error}"
    if isinstance(error, ApiError) and error.retriable:
        logger().warning("reconcile failed, will retry", error=text)
    else:
        logger().error("reconcile failed", error=text, exc_info=error)
