"""What is the world: everything one release's decision reads, fetched from the API server.

Only reads. Each lookup asks the API server for exactly what it needs (named objects by
name, the rest by field selector on the CRDs' selectableFields), so the cost of one
observation does not grow with the number of objects in the namespace.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from ..adapters.kube import Kube
from ..api.evalreport import EvalReport
from ..api.names import (
    AGENTRELEASES,
    ANNOTATION_RELEASE,
    ANNOTATION_REQUEST,
    EVALREPORTS,
    LABEL_POD_TEMPLATE_HASH,
    RELEASEPOLICIES,
    REPLICASETS,
    ROLLOUTS,
)
from ..api.policy import ReleasePolicy
from ..api.release import AgentRelease, Phase
from ..api.requests import PersonRequest
from ..api.types import Stage
from ..manifests import validation_message
from . import rollouts
from .facts import AnalysisOutcome, Baseline, ReportLookup, World
from .machine import STAGES
from .runtime import Runtime

_GATE_PHASES = (Phase.PENDING, Phase.GATING, Phase.BLOCKED)


async def observe(rt: Runtime, release: AgentRelease, outcome: AnalysisOutcome | None) -> World:
    kube, spec = rt.kube, release.spec
    namespace = release.metadata.namespace or kube.default_namespace
    phase = release.status.phase if release.status else Phase.PENDING
    gating = phase in _GATE_PHASES
    policy = await _policy(kube, spec.policy) if gating else None
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
        now=rt.clock(),
        policy=policy,
        reports=reports,
        baseline=baseline,
        rollout=rollout,
        rival=rival,
        canary_release=canary_release,
        request=pending_request(release),
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
    this very candidate (model, runtime and, when the release names them, tools)."""
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
    newest = max(matches, key=lambda r: (r.metadata.creation_timestamp or _EPOCH, r.metadata.name))
    return ReportLookup(report=newest)


_EPOCH = datetime.fromtimestamp(0, UTC)  # the API server always sets creationTimestamp


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
    selector = f"{LABEL_POD_TEMPLATE_HASH}={revision}"
    for replicaset in await kube.list(REPLICASETS, namespace, labels=selector):
        template = replicaset.get("spec", {}).get("template", {})
        release = (template.get("metadata", {}).get("annotations") or {}).get(ANNOTATION_RELEASE)
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


def pending_request(release: AgentRelease) -> PersonRequest | None:
    """The person's request in the release's annotation, unless it was carried out."""
    request = PersonRequest.decode(release.metadata.annotations.get(ANNOTATION_REQUEST))
    done = release.status.actions if release.status else []
    if request is None or any(a.id == request.id for a in done):
        return None
    return request
