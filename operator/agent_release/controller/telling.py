"""How a decision is told: an Event and a log line per transition, and the metrics.

Events and metrics both read the plan's typed transitions (`plan.Transition`), so a
rollback is counted exactly when it is told, whatever its Event is called. A
transition replayed after a crash is told again (its Events are named after the
decision, so the API server keeps one) but not counted again.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..adapters.kube import AlreadyExists, ApiError, Kube
from ..api.meta import MESSAGE_LIMIT
from ..api.names import COMPONENT, EVENTS, EventReason
from ..api.release import AgentRelease
from .observability import Metrics, logger, release_fields
from .plan import Event, GateDecided, Plan, RolledBack, StepPromoted, Transition
from .runtime import Runtime


async def tell(rt: Runtime, release: AgentRelease, plan: Plan) -> None:
    """Events and a log line for every transition of `plan`, and the operator's metrics."""
    log = logger(**release_fields(release))
    body = release.wire()
    for transition in plan.transitions:
        for event in plan.told(transition):
            log.info(event.message, decision=event.reason.value, phase=plan.status.phase.value)
            await post_event(rt.kube, body, event)
        count(rt.metrics, transition)


def count(metrics: Metrics, transition: Transition) -> None:
    """The operator's /metrics of one transition."""
    match transition:
        case GateDecided(stage=stage, report=report):
            reason = report.reasons[0].value if report.reasons else ""
            metrics.gate_decisions.labels(stage.value, report.decision.value, reason).inc()
        case StepPromoted(baked_seconds=baked, replayed=False) if baked is not None:
            metrics.step_duration.observe(baked)
        case RolledBack(record=record, replayed=False):
            metrics.rollbacks.labels(reason=record.reason.value).inc()
        case _:
            pass


async def post_event(kube: Kube, body: Mapping[str, Any], event: Event) -> None:
    """A core/v1 Event about an object, as `kubectl describe` shows them.

    With a `key`, the Event's name is derived from the object's uid, the reason and the
    key, so the same decision posted twice (a replay after a crash) is one Event. A
    failure to post is logged, never raised: the decision is already in status.

    `lastTimestamp` has whole seconds, and two decisions often fall in the same second (the
    last step promoted, then the release Promoted); `eventTime` keeps microseconds so the
    order stays readable (`kubectl get events --sort-by=.eventTime`). The API server
    requires `action` and `reportingInstance` on an Event that has an `eventTime`.
    """
    await post_event_on(
        kube, body, event.reason, event.message, warning=event.warning, key=event.key
    )


async def post_event_on(
    kube: Kube,
    body: Mapping[str, Any],
    reason: EventReason,
    message: str,
    *,
    warning: bool = False,
    key: str | None = None,
) -> None:
    """`post_event` for an Event that is not a transition (EvalReport validation); without
    a `key`, the API server names it, so each call posts one."""
    meta = body.get("metadata") or {}
    namespace = meta.get("namespace") or kube.default_namespace
    moment = datetime.now(UTC)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if key is None:
        naming = {"generateName": f"{meta.get('name')}."}
    else:
        digest = hashlib.sha256(f"{meta.get('uid')}/{reason}/{key}".encode()).hexdigest()[:16]
        naming = {"name": f"{meta.get('name')}.{digest}"}
    manifest = {
        "metadata": {**naming, "namespace": namespace},
        "involvedObject": {
            "apiVersion": body.get("apiVersion"),
            "kind": body.get("kind"),
            "name": meta.get("name"),
            "namespace": namespace,
            "uid": meta.get("uid"),
        },
        "reason": reason.value,
        "message": message[:MESSAGE_LIMIT],
        "type": "Warning" if warning else "Normal",
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": socket.gethostname()[:128],
        "action": reason.value,
        "eventTime": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
    try:
        await kube.create(EVENTS, namespace, manifest)
    except AlreadyExists:
        pass  # told before a crash: once is enough
    except ApiError as error:
        logger(object=meta.get("name")).warning("event not posted", error=str(error))
