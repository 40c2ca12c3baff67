"""What the API server and Prometheus answer, for unit tests of the I/O shell.

`Script` is an `httpx.MockTransport` handler that answers each request from a list of
routes (method and path, first match wins) and records every request it saw, so a
test states the answers it needs (a Rollout paused at step 1; a 409 on the status
write) and asserts what the operator sent. Unit tests only: the end-to-end tests run
against the real API server and Argo Rollouts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import kopf

from agent_release.adapters.kube import Kube
from agent_release.adapters.prometheus import Prometheus
from agent_release.api.names import ANNOTATION_RELEASE, FIELD_MANAGER, LABEL_AGENT, ROLLOUTS

Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]

SERVER = "https://kube.test"
PROMETHEUS = "https://prometheus.test"


def status_error(code: int, reason: str, message: str = "") -> httpx.Response:
    """An error as the API server words it: a metav1.Status."""
    body = {"kind": "Status", "status": "Failure", "reason": reason, "code": code}
    return httpx.Response(code, json={**body, "message": message or reason})


def ok(body: Any = None) -> httpx.Response:
    return httpx.Response(200, json=body if body is not None else {})


def timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


@dataclass
class Script:
    """Routes `(METHOD, path regex) -> answer`; an unrouted request is a 599, loudly."""

    routes: list[tuple[str, str, Answer]] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(self, method: str, path: str, answer: Answer) -> Script:
        self.routes.append((method, path, answer))
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for method, path, answer in self.routes:
            if request.method == method and re.fullmatch(path, request.url.path):
                return answer(request) if callable(answer) else answer
        return status_error(599, "Unrouted", f"{request.method} {request.url.path}")

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and re.fullmatch(path, r.url.path)]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def connection(token: str = "token-1") -> kopf.ConnectionInfo:
    return kopf.ConnectionInfo(server=SERVER, token=token, default_namespace="agents")


def kube(script: Script, relogin: Callable[[], kopf.ConnectionInfo] | None = None) -> Kube:
    return Kube(
        connection(),
        field_manager=FIELD_MANAGER,
        relogin=relogin or connection,
        transport=script.transport(),
    )


def prometheus(script: Script) -> Prometheus:
    return Prometheus(PROMETHEUS, transport=script.transport())


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content)


# -- objects as the API server returns them ----------------------------------------------


def rollout_path(namespace: str = "agents", name: str = "support-agent", sub: str = "") -> str:
    return ROLLOUTS.path(namespace, name, sub)


def rollout_body(
    *,
    release: str = "rel-2",
    index: int | None = 1,
    paused: bool = True,
    resource_version: str = "41",
    generation: int = 3,
    held: bool = False,
) -> dict[str, Any]:
    """A Rollout as Argo Rollouts leaves it: at `index`, paused or not, caught up;
    `held`: paused by a person too (`spec.paused`)."""
    status: dict[str, Any] = {
        "observedGeneration": str(generation),
        "currentStepIndex": index,
        "phase": "Paused" if paused else "Progressing",
        "stableRS": "aaa",
        "currentPodHash": "bbb",
    }
    if paused:
        status["pauseConditions"] = [
            {"reason": "CanaryPauseStep", "startTime": "2026-11-26T12:00:00Z"}
        ]
    return {
        "apiVersion": f"{ROLLOUTS.group}/{ROLLOUTS.version}",
        "kind": "Rollout",
        "metadata": {
            "name": "support-agent",
            "namespace": "agents",
            "resourceVersion": resource_version,
            "generation": generation,
            "labels": {LABEL_AGENT: "support-agent"},
            "annotations": {ANNOTATION_RELEASE: release},
        },
        "spec": {
            "template": {"metadata": {"annotations": {ANNOTATION_RELEASE: release}}},
            **({"paused": True} if held else {}),
        },
        "status": status,
    }


def managed(
    manager: str, time: str, fields: dict[str, Any], subresource: str | None = None
) -> dict[str, Any]:
    """One entry of metadata.managedFields as the API server writes it: `fields` is the
    fieldsV1 tree of what `manager` owns (`{"f:spec": {"f:paused": {}}}`)."""
    entry: dict[str, Any] = {
        "apiVersion": f"{ROLLOUTS.group}/{ROLLOUTS.version}",
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
        "manager": manager,
        "operation": "Update",
        "time": time,
    }
    if subresource:
        entry["subresource"] = subresource
    return entry


# -- Prometheus --------------------------------------------------------------------------


def matrix(*series: tuple[dict[str, str], list[tuple[float, str]]]) -> dict[str, Any]:
    """A `query_range` answer: (labels, [(time, value), ...]) per series."""
    return {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [{"metric": m, "values": [[t, v] for t, v in vs]} for m, vs in series],
        },
    }
