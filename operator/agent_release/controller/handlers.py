"""Kopf handlers: thin wiring from cluster events to reconcile and to validation.

Every replica watches (kopf's event handlers only: no progress annotations, no kopf
state on the objects) and keeps its registry warm; only the leader of the Lease acts
(`leadership`). Every handler is idempotent: it recomputes from the object and what it
observes, so retries, restarts, duplicate events and a change of leader are harmless.
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
    COMPONENT,
    EVALREPORTS,
    LABEL_AGENT,
    RELEASEPOLICIES,
    ROLLOUTS,
)
from . import analysis, health
from .leadership import Leadership
from .observability import configure_logging, logger
from .reconcile import reconcile, report_failure
from .registry import track
from .runtime import Config, Runtime
from .validation import validate


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    configure_logging()
    settings.posting.level = logging.WARNING  # the operator posts its own decision Events
    settings.peering.standalone = True  # kopf's peering is not leader election: `leadership`
    config = Config.from_env()
    prometheus = None
    if config.prometheus_url:
        prometheus = Prometheus(
            config.prometheus_url,
            ca_file=config.prometheus_ca_file,
            token_file=config.prometheus_token_file,
        )
    kube = Kube(login(), field_manager=COMPONENT)
    leadership = (
        Leadership(kube, config.namespace, timing=config.lease_timing)
        if config.leader_election
        else None
    )
    rt = Runtime(kube=kube, prometheus=prometheus, config=config, leadership=leadership)
    memo["runtime"] = rt
    start_http_server(
        config.metrics_port, addr=config.metrics_address, registry=rt.metrics.registry
    )
    memo["health"] = await health.serve(rt, config.metrics_address, config.health_port)
    tasks = [asyncio.create_task(analysis.run(rt))]
    if leadership is not None:
        tasks.append(asyncio.create_task(leadership.run()))
    memo["tasks"] = tasks
    logger().info(
        "operator started",
        identity=leadership.me if leadership else None,
        prometheus=prometheus.url if prometheus else None,
        metrics_port=config.metrics_port,
        health_port=config.health_port,
        tick_seconds=config.tick_seconds,
        hard_check_seconds=config.hard_check_seconds,
    )


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    for task in memo.get("tasks", []):
        task.cancel()
    rt: Runtime | None = memo.get("runtime")
    if rt is None:
        return
    if rt.leadership is not None:
        await rt.leadership.release()  # a clean stop hands over at once
    runner = memo.get("health")
    if runner is not None:
        await runner.cleanup()
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


@kopf.on.event(EVALREPORTS.group, EVALREPORTS.version, EVALREPORTS.plural)
async def evalreport_event(event: kopf.RawEvent, body: kopf.Body, memo: Any, **_: Any) -> None:
    """Validate beyond the schema and summarise each slice into status (the leader)."""
    await _validate(memo["runtime"], EVALREPORTS.plural, event, body)


@kopf.on.event(RELEASEPOLICIES.group, RELEASEPOLICIES.version, RELEASEPOLICIES.plural)
async def policy_event(event: kopf.RawEvent, body: kopf.Body, memo: Any, **_: Any) -> None:
    await _validate(memo["runtime"], RELEASEPOLICIES.plural, event, body)


async def _validate(rt: Runtime, plural: str, event: kopf.RawEvent, body: kopf.Body) -> None:
    if event.get("type") == "DELETED":
        rt.unvalidated.pop((plural, body.metadata.namespace or "", body.metadata.name or ""), None)
        return
    try:
        await validate(rt, plural, dict(body))
    except Exception as error:
        report_failure(error)
