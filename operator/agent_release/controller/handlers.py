"""Kopf handlers: thin wiring from cluster events to reconcile and status writers.

Kopf stores its own bookkeeping in annotations under agentrelease.dev (not in
status, which belongs to the API and is pruned to its schema). Every handler is
idempotent: it recomputes from the object and what it observes, so kopf's retries,
resumes after a restart and duplicate events are all harmless.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
from prometheus_client import start_http_server
from pydantic import ValidationError

from ..adapters.kube import EVALREPORTS, Kube, login
from ..adapters.prometheus import Prometheus
from ..api.evalreport import EvalReport
from ..api.meta import Condition, ConditionStatus
from ..api.policy import ReleasePolicy
from ..manifests import validation_message
from ..summary import summarize
from . import analysis
from .observability import configure_logging, logger
from .reconcile import now, post_event_on, reconcile
from .registry import track
from .rollouts import ANNOTATION_RELEASE, LABEL_AGENT
from .runtime import Config, Runtime

GROUP, VERSION = "agentrelease.dev", "v1alpha1"


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    configure_logging()
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    settings.posting.level = logging.WARNING  # the operator posts its own decision Events
    settings.peering.standalone = True
    config = Config.from_env()
    prometheus = None
    if config.prometheus_url:
        prometheus = Prometheus(
            config.prometheus_url,
            ca_file=config.prometheus_ca_file,
            token_file=config.prometheus_token_file,
        )
    rt = Runtime(kube=Kube(login()), prometheus=prometheus, config=config)
    memo["runtime"] = rt
    start_http_server(
        config.metrics_port, addr=config.metrics_address, registry=rt.metrics.registry
    )
    memo["loop"] = asyncio.create_task(analysis.run(rt))
    logger().info(
        "operator started",
        prometheus=prometheus.url if prometheus else None,
        metrics_port=config.metrics_port,
        tick_seconds=config.tick_seconds,
    )


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    task = memo.get("loop")
    if task is not None:
        task.cancel()
    rt: Runtime | None = memo.get("runtime")
    if rt is not None:
        await rt.kube.close()
        if rt.prometheus is not None:
            await rt.prometheus.close()


# -- AgentRelease ------------------------------------------------------------------------


@kopf.on.event(GROUP, VERSION, "agentreleases")
async def release_event(event: kopf.RawEvent, body: kopf.Body, memo: Any, **_: Any) -> None:
    """Keep the registry current, and reconcile on any change (spec, status, requests)."""
    rt: Runtime = memo["runtime"]
    key = (body.metadata.namespace or "", body.metadata.name or "")
    if event.get("type") == "DELETED":
        rt.registry.pop(key, None)
        lock = rt.locks.get(key)
        if lock is not None and not lock.locked():
            del rt.locks[key]
        return
    rt.registry[key] = track(dict(body))
    await reconcile(rt, *key)


@kopf.on.event("argoproj.io", "v1alpha1", "rollouts", labels={LABEL_AGENT: kopf.PRESENT})
async def rollout_event(event: kopf.RawEvent, body: kopf.Body, memo: Any, **_: Any) -> None:
    """A Rollout moved (reached a pause, became healthy): reconcile its release at once."""
    release = (body.metadata.annotations or {}).get(ANNOTATION_RELEASE)
    if release and event.get("type") != "DELETED":
        await reconcile(memo["runtime"], body.metadata.namespace or "", release)


# -- EvalReport and ReleasePolicy: validation and status --------------------------------


def _valid(ok: bool, reason: str, message: str, generation: int | None) -> dict[str, Any]:
    condition = Condition(
        type="Valid",
        status=ConditionStatus.TRUE if ok else ConditionStatus.FALSE,
        reason=reason,
        message=message,
        last_transition_time=now(),
        observed_generation=generation,
    )
    return condition.wire()


@kopf.on.resume(GROUP, VERSION, "evalreports")
@kopf.on.create(GROUP, VERSION, "evalreports")
@kopf.on.update(GROUP, VERSION, "evalreports", field="spec")
async def evalreport_changed(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """Validate beyond the schema and summarise each slice into status."""
    rt: Runtime = memo["runtime"]
    generation = body.metadata.get("generation")
    try:
        report = EvalReport.model_validate(dict(body))
    except ValidationError as error:
        problem = validation_message(error)
        patch.status["conditions"] = [_valid(False, "ReportInvalid", problem, generation)]
        patch.status["observedGeneration"] = generation
        await post_event_on(rt.kube, body, "ReportInvalid", problem, warning=True)
        return
    duplicate = await _same_run(rt.kube, report)
    if duplicate is not None:
        problem = f"runId {report.spec.run_id} is already used by EvalReport {duplicate}"
        patch.status["conditions"] = [_valid(False, "DuplicateRunId", problem, generation)]
        patch.status["observedGeneration"] = generation
        await post_event_on(rt.kube, body, "ReportInvalid", problem, warning=True)
        return
    slices = summarize(report.spec)
    message = "; ".join(
        f"{s.name}: {s.pass_rate * 100:.1f}% [{s.interval.low * 100:.1f}, "
        f"{s.interval.high * 100:.1f}] over {s.seeds} seed(s)"
        for s in slices
    )
    patch.status["slices"] = [s.wire() for s in slices]
    patch.status["conditions"] = [_valid(True, "Valid", message, generation)]
    patch.status["observedGeneration"] = generation
    await post_event_on(rt.kube, body, "ReportValid", message)


async def _same_run(kube: Kube, report: EvalReport) -> str | None:
    """Another EvalReport of the namespace that claims the same eval run ID."""
    namespace = report.metadata.namespace
    for other in await kube.list(EVALREPORTS, namespace, fields={"spec.runId": report.spec.run_id}):
        name = other["metadata"]["name"]
        if name != report.metadata.name:
            return str(name)
    return None


@kopf.on.resume(GROUP, VERSION, "releasepolicies")
@kopf.on.create(GROUP, VERSION, "releasepolicies")
@kopf.on.update(GROUP, VERSION, "releasepolicies", field="spec")
async def policy_changed(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    generation = body.metadata.get("generation")
    try:
        policy = ReleasePolicy.model_validate(dict(body))
    except ValidationError as error:
        patch.status["conditions"] = [
            _valid(False, "PolicyInvalid", validation_message(error), generation)
        ]
    else:
        canary = policy.spec.canary
        weights = " → ".join(f"{s.weight}%" for s in canary.steps)
        message = (
            f"{policy.spec.decision.mode.value} decisions at {policy.spec.decision.confidence:g}; "
            f"canary {weights}, {len(canary.guardrails)} guardrails"
        )
        patch.status["conditions"] = [_valid(True, "Valid", message, generation)]
    patch.status["observedGeneration"] = generation
