"""What is the world: everything one release's decision reads.

Only reads. What the watches deliver (the agent's other releases, its reports' names,
the policy) comes from the cache (`cache`); the Rollout, and the reports a gate reads,
are fetched by name. A reconcile of a canary costs two API reads (the release and its
Rollout) whatever the number of objects, and a gate a few more, once per change.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..adapters.kube import Kube
from ..api.evalreport import EvalReport
from ..api.names import (
    ANNOTATION_RELEASE,
    ANNOTATION_REQUEST,
    EVALREPORTS,
    LABEL_POD_TEMPLATE_HASH,
    REPLICASETS,
    ROLLOUTS,
)
from ..api.policy import ReleasePolicy
from ..api.release import AgentRelease, Phase
from ..api.requests import PersonRequest
from ..api.types import Stage
from ..manifests import validation_message
from . import rollouts
from .cache import Cache
from .facts import AnalysisOutcome, Baseline, ReportLookup, World
from .machine import STAGES
from .runtime import Runtime

_GATE_PHASES = (Phase.PENDING, Phase.GATING, Phase.BLOCKED)


async def observe(rt: Runtime, release: AgentRelease, outcome: AnalysisOutcome | None) -> World:
    kube, cache, spec = rt.kube, rt.cache, release.spec
    namespace = release.metadata.namespace or kube.default_namespace
    phase = release.status.phase if release.status else Phase.PENDING
    gating = phase in _GATE_PHASES
    policy = _policy(cache, spec.policy) if gating else None
    reports: dict[Stage, ReportLookup] = {}
    baseline = Baseline(release=None, reports={})
    if gating:
        for stage, _ in STAGES:
            reports[stage] = await _find_report(kube, cache, release, stage)
        baseline = await _baseline(kube, cache, release)
    body = await kube.get(ROLLOUTS, namespace, rollouts.rollout_name_of(spec.agent))
    rollout = rollouts.view(body) if body is not None else None
    rival = _rival(cache, release, rollout.release if rollout else None)
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


def _policy(cache: Cache, name: str) -> ReleasePolicy | None:
    body = cache.policy(name)
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


async def _find_report(
    kube: Kube, cache: Cache, release: AgentRelease, stage: Stage
) -> ReportLookup:
    """The named report of a stage, or the newest of the agent's reports that evaluated
    this very candidate (model, runtime and, when the release names them, tools)."""
    namespace = release.metadata.namespace or kube.default_namespace
    named = (
        getattr(release.spec.eval_reports, stage.value, None) if release.spec.eval_reports else None
    )
    wanted = release.spec.candidate
    tools = tuple(sorted(wanted.tools.items()))
    if named is None:
        matches = [
            ref
            for ref in cache.reports_of(namespace, release.spec.agent, stage)
            if (ref.model, ref.runtime) == (wanted.model, wanted.runtime)
            and (not tools or ref.tools == tools)
        ]
        if not matches:
            return ReportLookup(
                missing=f"none for agent {release.spec.agent} and {wanted.describe()} (yet)"
            )
        named = max(matches, key=lambda ref: (ref.created, ref.name)).name
    body = await kube.get(EVALREPORTS, namespace, named)
    if body is None:
        return ReportLookup(missing=f"EvalReport {named} does not exist (yet)")
    return _parse_report(body)


async def _baseline(kube: Kube, cache: Cache, release: AgentRelease) -> Baseline:
    """Named baseline reports, else those of the agent's last promoted release."""
    namespace = release.metadata.namespace or kube.default_namespace
    refs = release.spec.baseline.eval_reports if release.spec.baseline else None
    source: str | None = None
    if refs is None:
        promoted = [
            entry
            for entry in cache.releases_of(namespace, release.spec.agent)
            if entry.phase == Phase.PROMOTED.value and entry.key[1] != release.metadata.name
        ]
        if not promoted:
            return Baseline(release=None, reports={})
        last = max(promoted, key=lambda entry: (entry.promoted_at, entry.key[1]))
        source = last.key[1]
        used = dict(last.reports_used)
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


def _rival(cache: Cache, release: AgentRelease, driver: str | None) -> str | None:
    """The newer release of the agent that drives its Rollout now, if any."""
    if driver is None or driver == release.metadata.name:
        return None
    theirs = cache.release((release.metadata.namespace or "", driver))
    if theirs is None:
        return None
    created = release.metadata.creation_timestamp
    ours = (created.strftime("%Y-%m-%dT%H:%M:%SZ") if created else "", release.metadata.name)
    return driver if (theirs.created, driver) > ours else None


def pending_request(release: AgentRelease) -> PersonRequest | None:
    """The person's request in the release's annotation, unless it was carried out."""
    request = PersonRequest.decode(release.metadata.annotations.get(ANNOTATION_REQUEST))
    done = release.status.actions if release.status else []
    if request is None or any(a.id == request.id for a in done):
        return None
    return request
