"""Reconciling one AgentRelease: observe, decide (machine), write status, act, tell.

Status is written before effects are applied, with the resourceVersion it was read
at, so two writers (a kopf handler and the analysis loop) never overwrite each other:
the loser gets a 409, reads again and decides again. Effects are then applied and
re-derived on every later reconcile, so a crash between the two steps is harmless.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from ..adapters.kube import (
    AGENTRELEASES,
    EVALREPORTS,
    EVENTS,
    RELEASEPOLICIES,
    REPLICASETS,
    ROLLOUTS,
    AlreadyExists,
    ApiError,
    Kube,
)
from ..api.evalreport import EvalReport
from ..api.policy import ReleasePolicy
from ..api.release import AgentRelease, Phase
from ..api.types import Stage
from ..manifests import validation_message
from . import rollouts
from .machine import (
    STAGES,
    AnalysisOutcome,
    Baseline,
    Effect,
    Event,
    Plan,
    ReportLookup,
    Request,
    World,
    decide,
)
from .observability import logger, release_fields
from .runtime import Runtime

REQUEST_ANNOTATION = "agentrelease.dev/request"
# Fault injection for the crash tests only (tests/e2e/test_operator.py): with
# "crash-before:PromoteStep" the process dies after writing status and before the
# Rollout is patched, the most delicate line to be killed at. Unset in any deployment.
_FAULT = os.environ.get("AGENT_RELEASE_FAULT", "")
_GATE_PHASES = (Phase.PENDING, Phase.GATING, Phase.BLOCKED)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def reconcile(
    rt: Runtime, namespace: str, name: str, outcome: AnalysisOutcome | None = None
) -> AgentRelease | None:
    """Bring one release one decision further. Safe to call at any time, any number of times."""
    async with rt.locks[(namespace, name)]:
        started = time.perf_counter()
        try:
            for _ in range(5):
                body = await rt.kube.get(AGENTRELEASES, namespace, name)
                if body is None:
                    return None
                try:
                    release = AgentRelease.model_validate(body)
                except ValidationError as error:
                    await _fail(rt, body, f"invalid AgentRelease: {validation_message(error)}")
                    return None
                world = await observe(rt, release, outcome)
                plan = decide(release, world)
                try:
                    await _write_status(rt, release, plan)
                except ApiError as error:
                    if error.status == 409:
                        continue  # written meanwhile by someone else: decide again on fresh data
                    raise
                done = release.model_copy(update={"status": plan.status})
                await _apply(rt, done, plan)
                if outcome is not None and (Effect.ABORT_ROLLOUT, {}) in plan.effects:
                    rt.metrics.breach_to_abort.observe(time.time() - outcome.taken_at)
                await _tell(rt, release, done, plan)
                return done
            return None
        finally:
            rt.metrics.reconcile_latency.observe(time.perf_counter() - started)


# -- observing ---------------------------------------------------------------------------


async def observe(rt: Runtime, release: AgentRelease, outcome: AnalysisOutcome | None) -> World:
    kube, spec = rt.kube, release.spec
    namespace = release.metadata.namespace or kube.default_namespace
    phase = release.status.phase if release.status else Phase.PENDING
    gating = phase in _GATE_PHASES
    policy = await _policy(kube, spec.policy) if gating or release.status is None else None
    reports: dict[Stage, ReportLookup] = {}
    baseline = Baseline(release=None, reports={})
    if gating:
        for stage, _ in STAGES:
            reports[stage] = await _find_report(kube, release, stage)
        baseline = await _baseline(kube, release)
    body = await kube.get(ROLLOUTS, namespace, rollouts.rollout_name_of(spec.agent))
    rollout = rollouts.view(body) if body is not None else None
    rival = await _rival(kube, release, rollout.release if rollout else None)
    canary_release = None
    status = release.status
    if status and status.phase is Phase.CANARY and status.step_started_at is None and rollout:
        canary_release = await _template_release(kube, namespace, rollout.current_hash)
    return World(
        now=now(),
        policy=policy,
        reports=reports,
        baseline=baseline,
        rollout=rollout,
        rival=rival,
        canary_release=canary_release,
        request=_request(release),
        outcome=outcome,
    )


async def _policy(kube: Kube, name: str) -> ReleasePolicy | None:
    body = await kube.get(RELEASEPOLICIES, None, name)
    if body is None:
        return None
    try:
        return ReleasePolicy.model_validate(body)
    except ValidationError:
        return None  # the API server validated it; a newer schema than ours: treat as absent


def _parse_report(body: dict[str, Any]) -> ReportLookup:
    name = body.get("metadata", {}).get("name", "?")
    try:
        return ReportLookup(report=EvalReport.model_validate(body))
    except ValidationError as error:
        return ReportLookup(missing=name, invalid=validation_message(error))


async def _find_report(kube: Kube, release: AgentRelease, stage: Stage) -> ReportLookup:
    """The named report of a stage, or the newest of the agent's reports that evaluated
    this very candidate (model, runtime and, when the release names them, tools).

    The API server does the searching (field selectors on the CRD's selectableFields),
    so the cost does not grow with the number of reports in the namespace.
    """
    namespace = release.metadata.namespace or kube.default_namespace
    named = (
        getattr(release.spec.eval_reports, stage.value, None) if release.spec.eval_reports else None
    )
    if named is not None:
        body = await kube.get(EVALREPORTS, namespace, named)
        if body is None:
            return ReportLookup(missing=f"EvalReport {named} does not exist (yet)")
        return _parse_report(body)
    wanted = release.spec.candidate
    fields = {
        "spec.agent": release.spec.agent,
        "spec.stage": stage.value,
        "spec.candidate.model": wanted.model,
        "spec.candidate.runtime": wanted.runtime,
    }
    matches = []
    for body in await kube.list(EVALREPORTS, namespace, fields=fields):
        report = _parse_report(body).report
        if report is None or (wanted.tools and report.spec.candidate.tools != wanted.tools):
            continue
        matches.append(report)
    if not matches:
        return ReportLookup(
            missing=f"none for agent {release.spec.agent} and {wanted.describe()} (yet)"
        )
    newest = max(matches, key=lambda r: (r.metadata.creation_timestamp or now(), r.metadata.name))
    return ReportLookup(report=newest)


async def _baseline(kube: Kube, release: AgentRelease) -> Baseline:
    """Named baseline reports, else those of the agent's last promoted release."""
    namespace = release.metadata.namespace or kube.default_namespace
    refs = release.spec.baseline.eval_reports if release.spec.baseline else None
    source: str | None = None
    if refs is None:
        promoted = [
            body
            for body in await kube.list(
                AGENTRELEASES, namespace, fields={"spec.agent": release.spec.agent}
            )
            if (body.get("status") or {}).get("phase") == Phase.PROMOTED.value
            and body["metadata"]["name"] != release.metadata.name
        ]
        if not promoted:
            return Baseline(release=None, reports={})
        last = max(
            promoted, key=lambda b: (b["status"].get("promotedAt") or "", b["metadata"]["name"])
        )
        source = last["metadata"]["name"]
        used = last["status"].get("evalReports") or {}
        names = {Stage.OFFLINE: used.get("offline"), Stage.PRERELEASE: used.get("prerelease")}
    else:
        names = {Stage.OFFLINE: refs.offline, Stage.PRERELEASE: refs.prerelease}
    reports = {}
    for stage, name in names.items():
        body = await kube.get(EVALREPORTS, namespace, name) if name else None
        found = _parse_report(body) if body is not None else None
        if found is not None and found.report is not None:
            reports[stage] = found.report
    return Baseline(release=source, reports=reports)


async def _template_release(kube: Kube, namespace: str, revision: str | None) -> str | None:
    """The release named in the pod template of the ReplicaSet of `revision`."""
    if not revision:
        return None
    selector = f"{rollouts.HASH_LABEL}={revision}"
    for replicaset in await kube.list(REPLICASETS, namespace, labels=selector):
        template = replicaset.get("spec", {}).get("template", {})
        release = (template.get("metadata", {}).get("annotations") or {}).get(
            rollouts.ANNOTATION_RELEASE
        )
        if release:
            return str(release)
    return None


async def _rival(kube: Kube, release: AgentRelease, driver: str | None) -> str | None:
    """The newer release of the agent that drives its Rollout now, if any."""
    if driver is None or driver == release.metadata.name:
        return None
    body = await kube.get(AGENTRELEASES, release.metadata.namespace, driver)
    if body is None:
        return None
    theirs = (body["metadata"].get("creationTimestamp") or "", driver)
    created = release.metadata.creation_timestamp
    ours = (created.strftime("%Y-%m-%dT%H:%M:%SZ") if created else "", release.metadata.name)
    return driver if theirs > ours else None


def _request(release: AgentRelease) -> Request | None:
    raw = release.metadata.annotations.get(REQUEST_ANNOTATION)
    if not raw:
        return None
    try:
        data = json.loads(raw)
        request = Request(
            id=str(data["id"]),
            action=data["action"],
            reason=str(data.get("reason") or "no reason given"),
            by=data.get("by"),
        )
    except (ValueError, KeyError, TypeError):
        return None
    if request.action not in ("promote", "abort", "approve"):
        return None
    done = release.status.actions if release.status else []
    return None if any(a.id == request.id for a in done) else request


# -- writing -----------------------------------------------------------------------------


async def _write_status(rt: Runtime, release: AgentRelease, plan: Plan) -> None:
    before = release.status.wire() if release.status else {}
    after = plan.status.wire()
    if before == after:
        return
    patch = {k: v for k, v in after.items() if before.get(k) != v}
    patch.update({k: None for k in before if k not in after})  # merge patch: null deletes
    body = {"metadata": {"resourceVersion": release.metadata.resource_version}, "status": patch}
    await rt.kube.patch(
        AGENTRELEASES, release.metadata.namespace, release.metadata.name, body, status=True
    )


async def _fail(rt: Runtime, body: dict[str, Any], message: str) -> None:
    meta = body["metadata"]
    await rt.kube.patch(
        AGENTRELEASES,
        meta.get("namespace"),
        meta["name"],
        {"status": {"phase": Phase.FAILED.value, "reason": "Invalid", "message": message}},
        status=True,
    )


async def _apply(rt: Runtime, release: AgentRelease, plan: Plan) -> None:
    namespace = release.metadata.namespace or rt.kube.default_namespace
    name = rollouts.rollout_name_of(release.spec.agent)
    status = plan.status
    for effect, details in plan.effects:
        if f"crash-before:{effect.value}" == _FAULT:
            os._exit(70)
        if effect in (Effect.CREATE_ROLLOUT, Effect.UPDATE_ROLLOUT):
            assert status.canary is not None
            steps, runs = status.canary.steps, status.eval_run_ids
            if effect is Effect.CREATE_ROLLOUT:
                try:
                    await rt.kube.create(
                        ROLLOUTS, namespace, rollouts.manifest(release, steps, runs)
                    )
                    continue
                except AlreadyExists:
                    pass
            current = await rt.kube.get(ROLLOUTS, namespace, name)
            if current is None:
                continue  # deleted meanwhile: the next reconcile creates it
            ops = rollouts.takeover(release, steps, runs, current)
            await rt.kube.json_patch(ROLLOUTS, namespace, name, ops)
        elif effect is Effect.PROMOTE_STEP:
            await _promote_step(rt.kube, namespace, name, details["expected_index"])
        elif effect is Effect.ABORT_ROLLOUT:
            await rt.kube.patch(ROLLOUTS, namespace, name, rollouts.ABORT, status=True)
        elif effect is Effect.ANNOTATE_ROLLOUT:
            await rt.kube.patch(
                ROLLOUTS, namespace, name, {"metadata": {"annotations": details["annotations"]}}
            )


async def _promote_step(kube: Kube, namespace: str, name: str, expected_index: int) -> None:
    """Clear the pause only if the Rollout is still paused where status says: exactly once.

    The patch carries the resourceVersion it was checked at, so a Rollout that moved
    in between is not promoted a second time (409, and the next reconcile sees why).
    """
    body = await kube.get(ROLLOUTS, namespace, name)
    if body is None or not rollouts.view(body).paused_at(expected_index):
        return
    patch = {
        **rollouts.PROMOTE_STEP,
        "metadata": {"resourceVersion": body["metadata"]["resourceVersion"]},
    }
    try:
        await kube.patch(ROLLOUTS, namespace, name, patch, status=True)
    except ApiError as error:
        if error.status != 409:
            raise


async def _tell(rt: Runtime, before: AgentRelease, after: AgentRelease, plan: Plan) -> None:
    """Events and a log line for every decision, and the operator's metrics."""
    log = logger(**release_fields(after))
    for event in plan.events:
        log.info(event.message, decision=event.reason, phase=plan.status.phase.value)
        await post_event(rt.kube, after, event, warning=event.warning)
    old_gates = before.status.gates if before.status else None
    for stage, _ in STAGES:
        new = getattr(plan.status.gates, stage.value) if plan.status.gates else None
        old = getattr(old_gates, stage.value) if old_gates else None
        if new is not None and (
            old is None or (old.decision, old.reasons) != (new.decision, new.reasons)
        ):
            reason = new.reasons[0].value if new.reasons else ""
            rt.metrics.gate_decisions.labels(stage.value, new.decision.value, reason).inc()
    reasons = {e.reason for e in plan.events}
    started = before.status.step_started_at if before.status else None
    if "StepPromoted" in reasons and started is not None:
        rt.metrics.step_duration.observe((plan.now - started).total_seconds())
    if "RolledBack" in reasons:
        rt.metrics.rollbacks.labels(reason=plan.status.reason or "").inc()


async def post_event(kube: Kube, release: AgentRelease, event: Event, *, warning: bool) -> None:
    await post_event_on(
        kube, release.wire(), event.reason, event.message, warning=warning, key=event.key
    )


async def post_event_on(
    kube: Kube,
    body: Mapping[str, Any],
    reason: str,
    message: str,
    *,
    warning: bool = False,
    key: str | None = None,
) -> None:
    """A core/v1 Event about an object, as `kubectl describe` shows them.

    With a `key`, the Event's name is derived from the object's uid, the reason and the
    key, so the same decision posted twice (a replay after a crash) is one Event. A
    failure to post is logged, never raised: the decision is already in status.

    `lastTimestamp` has whole seconds, and two decisions often fall in the same second (the
    last step promoted, then the release Promoted); `eventTime` keeps microseconds so the
    order stays readable (`kubectl get events --sort-by=.eventTime`). The API server
    requires `action` and `reportingInstance` on an Event that has an `eventTime`.
    """
    meta = body.get("metadata") or {}
    namespace = meta.get("namespace") or kube.default_namespace
    moment = datetime.now(UTC)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if key is None:
        naming = {"generateName": f"{meta.get('name')}."}
    else:
        digest = hashlib.sha256(f"{meta.get('uid')}/{reason}/{key}".encode()).hexdigest()[:16]
        naming = {"name": f"{meta.get('name')}.{digest}"}
    event = {
        "metadata": {**naming, "namespace": namespace},
        "involvedObject": {
            "apiVersion": body.get("apiVersion"),
            "kind": body.get("kind"),
            "name": meta.get("name"),
            "namespace": namespace,
            "uid": meta.get("uid"),
        },
        "reason": reason,
        "message": message[:1024],
        "type": "Warning" if warning else "Normal",
        "source": {"component": "agent-release-operator"},
        "reportingComponent": "agent-release-operator",
        "reportingInstance": socket.gethostname()[:128],
        "action": reason,
        "eventTime": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
    try:
        await kube.create(EVENTS, namespace, event)
    except AlreadyExists:
        pass  # told before a crash: once is enough
    except ApiError as error:
        logger(object=meta.get("name")).warning("event not posted", error=str(error))
