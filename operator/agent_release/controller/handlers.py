"""Kopf handlers: thin wiring from cluster events to reconcile and to validation.

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

from ..adapters.kube import Kube, login
from ..adapters.prometheus import Prometheus
from ..api.names import (
    AGENTRELEASES,
    ANNOTATION_RELEASE,
    EVALREPORTS,
    FIELD_MANAGER,
    GROUP,
    LABEL_AGENT,
    RELEASEPOLICIES,
    ROLLOUTS,
)
from . import analysis
from .observability import configure_logging, logger
from .reconcile import reconcile, report_failure
from .registry import track
from .runtime import Config, Runtime
from .validation import policy_status, report_status


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
    kube = Kube(login(), field_manager=FIELD_MANAGER)
    rt = Runtime(kube=kube, prometheus=prometheus, config=config)
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


@kopf.on.event(AGENTRELEASES.group, AGENTRELEASES.version, AGENTRELEASES.plural)
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
    await _reconcile(rt, *key)


@kopf.on.event(
    ROLLOUTS.group, ROLLOUTS.version, ROLLOUTS.plural, labels={LABEL_AGENT: kopf.PRESENT}
)
async def rollout_event(event: kopf.RawEvent, body: kopf.Body, memo: Any, **_: Any) -> None:
    """A Rollout moved (reached a pause, became healthy): reconcile its release at once."""
    release = (body.metadata.annotations or {}).get(ANNOTATION_RELEASE)
    if release and event.get("type") != "DELETED":
        await _reconcile(memo["runtime"], body.metadata.namespace or "", release)


async def _reconcile(rt: Runtime, namespace: str, name: str) -> None:
    """Reconcile on an event; a failure is reported, and retried by the analysis loop."""
    try:
        await reconcile(rt, namespace, name)
    except Exception as error:
        report_failure(error)


# -- EvalReport and ReleasePolicy: validation and status --------------------------------


@kopf.on.resume(EVALREPORTS.group, EVALREPORTS.version, EVALREPORTS.plural)
@kopf.on.create(EVALREPORTS.group, EVALREPORTS.version, EVALREPORTS.plural)
@kopf.on.update(EVALREPORTS.group, EVALREPORTS.version, EVALREPORTS.plural, field="spec")
async def evalreport_changed(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """Validate beyond the schema and summarise each slice into status."""
    patch.status.update(await report_status(memo["runtime"], body))


@kopf.on.resume(RELEASEPOLICIES.group, RELEASEPOLICIES.version, RELEASEPOLICIES.plural)
@kopf.on.create(RELEASEPOLICIES.group, RELEASEPOLICIES.version, RELEASEPOLICIES.plural)
@kopf.on.update(
    RELEASEPOLICIES.group, RELEASEPOLICIES.version, RELEASEPOLICIES.plural, field="spec"
)
async def policy_changed(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    patch.status.update(policy_status(memo["runtime"], body))
