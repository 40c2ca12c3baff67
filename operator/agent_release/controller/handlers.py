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
    EVALREPORTS,
    FIELD_MANAGER,
    LABEL_AGENT,
    RELEASEPOLICIES,
    ROLLOUTS,
)
from . import analysis, health
from .cache import AgentKey, Cache, ReportRef, policy_entry, release_entries, report_ref
from .leadership import Leadership
from .observability import Metrics, configure_logging, logger
from .reconcile import wake
from .registry import Tracked, track
from .runtime import Config, Runtime
from .validation import validate_soon

# -- the cache: kopf's indices of what the watches deliver (`cache`) ----------------------
# async, so kopf runs them on its loop: a sync handler goes through a thread pool, and the
# threads' malloc arenas held on to memory.


@kopf.index(AGENTRELEASES.group, AGENTRELEASES.version, AGENTRELEASES.plural)
async def release_index(body: kopf.Body, **_: Any) -> dict[tuple[str, str, str], Tracked]:
    return release_entries(track(dict(body)))


@kopf.index(EVALREPORTS.group, EVALREPORTS.version, EVALREPORTS.plural)
async def report_index(body: kopf.Body, **_: Any) -> dict[AgentKey, ReportRef]:
    found = report_ref(body)
    return {} if found is None else dict([found])


@kopf.index(RELEASEPOLICIES.group, RELEASEPOLICIES.version, RELEASEPOLICIES.plural)
async def policy_index(body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    return {body.metadata.name or "": policy_entry(body)}


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **indices: Any) -> None:
    """Wire the operator; kopf passes the indices (empty yet, filled as watches list)
    by the names of the functions above."""
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
    metrics = Metrics()
    kube = Kube(
        login(),
        field_manager=FIELD_MANAGER,
        on_request=lambda method: metrics.api_requests.labels(method=method).inc(),
    )
    leadership = (
        Leadership(kube, config.namespace, timing=config.lease_timing)
        if config.leader_election
        else None
    )
    cache = Cache(
        releases=indices["release_index"],
        reports=indices["report_index"],
        policies=indices["policy_index"],
    )
    rt = Runtime(
        kube=kube,
        prometheus=prometheus,
        config=config,
        metrics=metrics,
        leadership=leadership,
        cache=cache,
    )
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
    for task in list(rt.background):  # woken reconciles: status says where each stands
        task.cancel()
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
    """Reconcile on any change (spec, status, requests); the index keeps the registry."""
    rt: Runtime = memo["runtime"]
    key = (body.metadata.namespace or "", body.metadata.name or "")
    if event.get("type") == "DELETED":
        lock = rt.locks.get(key)
        if lock is not None and not lock.locked():
            del rt.locks[key]
        rt.echoes.pop(key, None)
        return
    version = body.metadata.get("resourceVersion")
    if version and rt.echoes.get(key) == version:
        del rt.echoes[key]  # a look's own record coming back: nothing to decide
        return
    _reconcile(rt, *key)


@kopf.on.event(
    ROLLOUTS.group, ROLLOUTS.version, ROLLOUTS.plural, labels={LABEL_AGENT: kopf.PRESENT}
)
async def rollout_event(event: kopf.RawEvent, body: kopf.Body, memo: Any, **_: Any) -> None:
    """A Rollout moved (reached a pause, became healthy): reconcile its release at once,
    and the agent's other releases still on their way (one may be superseded now)."""
    rt: Runtime = memo["runtime"]
    namespace = body.metadata.namespace or ""
    driver = (body.metadata.annotations or {}).get(ANNOTATION_RELEASE)
    if not driver or event.get("type") == "DELETED":
        return
    agent = (body.metadata.labels or {}).get(LABEL_AGENT, "")
    others = [
        entry.key[1]
        for entry in rt.cache.releases_of(namespace, agent)
        if not entry.final and entry.key[1] != driver
    ]
    _reconcile(rt, namespace, driver, *others)


def _reconcile(rt: Runtime, namespace: str, *names: str) -> None:
    """Wake these releases (`reconcile.wake`): the handler does not wait for them."""
    for name in names:
        wake(rt, namespace, name)


# -- EvalReport and ReleasePolicy: validation and status --------------------------------


@kopf.on.event(EVALREPORTS.group, EVALREPORTS.version, EVALREPORTS.plural)
async def evalreport_event(event: kopf.RawEvent, body: kopf.Body, memo: Any, **_: Any) -> None:
    """Validate beyond the schema and summarise each slice into status (the leader), then
    wake the agent's releases waiting at their gates: they wait for this, not for a tick."""
    rt: Runtime = memo["runtime"]
    _validate(rt, EVALREPORTS.plural, event, body)
    namespace, agent = body.metadata.namespace or "", str(body.spec.get("agent") or "")
    waiting = [e.key[1] for e in rt.cache.releases_of(namespace, agent) if e.gating]
    _reconcile(rt, namespace, *waiting)


@kopf.on.event(RELEASEPOLICIES.group, RELEASEPOLICIES.version, RELEASEPOLICIES.plural)
async def policy_event(event: kopf.RawEvent, body: kopf.Body, memo: Any, **_: Any) -> None:
    """Validate, then wake the releases of the policy waiting at their gates."""
    rt: Runtime = memo["runtime"]
    _validate(rt, RELEASEPOLICIES.plural, event, body)
    name = body.metadata.name or ""
    waiting = [e.key for e in rt.registry.values() if e.gating and e.policy == name]
    for namespace in {key[0] for key in waiting}:
        _reconcile(rt, namespace, *(key[1] for key in waiting if key[0] == namespace))


def _validate(rt: Runtime, plural: str, event: kopf.RawEvent, body: kopf.Body) -> None:
    if event.get("type") == "DELETED":
        rt.unvalidated.pop((plural, body.metadata.namespace or "", body.metadata.name or ""), None)
        return
    validate_soon(rt, plural, dict(body))
