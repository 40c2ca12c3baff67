"""The local stack behaves like a real cluster: what the operator relies on, checked as a user.

The first test starts a second, private stack from nothing and stops it again; the others
share the session stack (``stack`` fixture). The Rollout tests drive Argo Rollouts exactly as
the operator will: merge patches on the status subresource.
"""

from __future__ import annotations

import json
import math
import ssl
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent_sim.behaviour import ANNOTATION as BEHAVIOUR
from agent_sim.behaviour import parse_behaviour
from agent_sim.presets import annotation
from localstack import ports, procs
from localstack.builds import KUBERNETES, pinned_version
from localstack.clients import Kubectl, KubectlError, Prometheus
from localstack.components import KWOK_NODE_COUNT
from localstack.stack import Stack, StackInfo
from localstack.waiting import Pending, wait_for

pytestmark = pytest.mark.e2e


def test_stack_comes_up_from_nothing_and_down_leaves_nothing(tmp_path: Path) -> None:
    private = Stack(tmp_path / "stack")
    info = private.up()

    statuses = private.status()
    assert statuses is not None
    assert [s.name for s in statuses if not s.healthy] == []
    env = (tmp_path / "stack" / "env").read_text()
    assert f"export KUBECONFIG={info.kubeconfig}" in env
    assert f"export PROMETHEUS_URL={info.prometheus_url}" in env
    kubectl = Kubectl(info.kubectl, info.kubeconfig)
    nodes = kubectl.json("get", "nodes")["items"]
    assert len(nodes) == KWOK_NODE_COUNT
    state = json.loads((tmp_path / "stack" / "state.json").read_text())

    assert private.up() == info, "up on a healthy stack is a no-op returning the same stack"

    stopped = private.down()
    assert {r.pid for r in stopped} == {p["pid"] for p in state["processes"].values()}
    assert [r.pid for r in stopped if procs.is_running(r)] == []
    assert [port for port in state["ports"].values() if not ports.is_free(port)] == []
    assert private.status() is None
    assert (tmp_path / "stack" / "logs" / "kube-apiserver.log").exists(), "logs are kept"


def test_api_server_reports_the_pinned_release(kubectl: Kubectl) -> None:
    version = json.loads(kubectl.run("version", "-o", "json"))
    pinned = pinned_version(KUBERNETES)
    assert version["serverVersion"]["gitVersion"] == pinned
    assert version["clientVersion"]["gitVersion"] == pinned


WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.e2e.agentrelease.dev"},
    "spec": {
        "group": "e2e.agentrelease.dev",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["minReplicas", "maxReplicas"],
                                "properties": {
                                    "minReplicas": {"type": "integer", "minimum": 0},
                                    "maxReplicas": {"type": "integer"},
                                },
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "self.minReplicas <= self.maxReplicas",
                                        "message": "minReplicas must not exceed maxReplicas",
                                    }
                                ],
                            }
                        },
                    }
                },
            }
        ],
    },
}


def _widget(namespace: str, name: str, low: int, high: int) -> dict[str, Any]:
    return {
        "apiVersion": "e2e.agentrelease.dev/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"minReplicas": low, "maxReplicas": high},
    }


def test_crd_schema_and_cel_rule_reject_invalid_objects(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply([WIDGET_CRD])
    try:
        kubectl.run(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/widgets.e2e.agentrelease.dev",
        )

        # Discovery of a new CRD can lag its Established condition by a moment.
        def accepted() -> str:
            try:
                return kubectl.apply([_widget(namespace, "good", 1, 3)])
            except KubectlError as error:
                raise Pending(error.stderr) from error

        wait_for(accepted, 30, "a valid Widget accepted")

        with pytest.raises(KubectlError) as cel:
            kubectl.apply([_widget(namespace, "inverted", 5, 2)])
        assert "minReplicas must not exceed maxReplicas" in cel.value.stderr
        assert "Invalid value" in cel.value.stderr

        with pytest.raises(KubectlError) as schema:
            kubectl.apply([_widget(namespace, "negative", -1, 2)])
        assert "spec.minReplicas" in schema.value.stderr
        assert "should be greater than or equal to 0" in schema.value.stderr
    finally:
        kubectl.run("delete", "crd", "widgets.e2e.agentrelease.dev", "--wait=false")


def test_rbac_denies_an_unprivileged_service_account(
    stack: StackInfo, kubectl: Kubectl, namespace: str
) -> None:
    kubectl.run("create", "serviceaccount", "nobody", "-n", namespace)
    token = kubectl.run("create", "token", "nobody", "-n", namespace).strip()  # TokenRequest API
    tls = ssl.create_default_context(cafile=str(stack.ca_file))
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=stack.api_server_url, verify=tls, headers=headers) as api:
        review = api.post(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
        assert review.status_code == 201, review.text
        username = review.json()["status"]["userInfo"]["username"]
        assert username == f"system:serviceaccount:{namespace}:nobody"

        denied = api.get(f"/api/v1/namespaces/{namespace}/secrets")
        assert denied.status_code == 403
        assert denied.json()["reason"] == "Forbidden"
        assert f'User "{username}" cannot list resource "secrets"' in denied.json()["message"]


# -- Argo Rollouts ---------------------------------------------------------------------------


def rollout(
    namespace: str,
    name: str,
    replicas: int,
    steps: list[dict[str, Any]],
    behaviour: str,
) -> dict[str, Any]:
    """A Rollout of simulated agent pods (the simulator reads the behaviour annotation)."""
    labels = {"app": name, "agentrelease.dev/agent": f"{namespace}-{name}"}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"canary": {"steps": steps}},
            "template": {
                "metadata": {"labels": labels, "annotations": {BEHAVIOUR: behaviour}},
                "spec": {"containers": [{"name": "agent", "image": "agent.invalid/agent:1"}]},
            },
        },
    }


def set_behaviour(kubectl: Kubectl, namespace: str, name: str, behaviour: str) -> None:
    """A template change: a new pod-template hash, hence a canary."""
    patch = {"spec": {"template": {"metadata": {"annotations": {BEHAVIOUR: behaviour}}}}}
    kubectl.run("patch", "rollout", name, "-n", namespace, "--type=merge", "-p", json.dumps(patch))


def patch_status(kubectl: Kubectl, namespace: str, name: str, status: Mapping[str, Any]) -> None:
    """What the operator does: a merge patch on the Rollout's status subresource."""
    body = json.dumps({"status": status})
    kubectl.run(
        "patch",
        "rollout",
        name,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        body,
    )


def ready_pods(kubectl: Kubectl, namespace: str, name: str) -> dict[str, int]:
    """Ready, not terminating pods of the Rollout by pod-template hash."""
    pods = kubectl.json("get", "pods", "-n", namespace, "-l", f"app={name}")["items"]
    counts: dict[str, int] = {}
    for pod in pods:
        conditions = pod.get("status", {}).get("conditions", [])
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
        if ready and "deletionTimestamp" not in pod["metadata"]:
            revision = pod["metadata"]["labels"]["rollouts-pod-template-hash"]
            counts[revision] = counts.get(revision, 0) + 1
    return counts


def wait_rollout(
    kubectl: Kubectl,
    namespace: str,
    name: str,
    what: str,
    *,
    phase: str,
    step: int | None,
    canary: int,
    stable: int,
    timeout: float = 120,
) -> dict[str, Any]:
    """Wait until the Rollout is in ``phase`` at ``step`` with exactly these Ready pods.

    ``canary`` counts pods of ``status.currentPodHash``, ``stable`` those of
    ``status.stableRS``; on the first deploy both are the same hash and ``canary`` is 0.
    ``step`` None skips the step check. Returns the Rollout's status.
    """

    def check() -> dict[str, Any]:
        status: dict[str, Any] = kubectl.json("get", "rollout", name, "-n", namespace).get(
            "status", {}
        )
        pods = ready_pods(kubectl, namespace, name)
        current, stable_hash = status.get("currentPodHash", ""), status.get("stableRS", "")
        seen = {
            "phase": status.get("phase"),
            "step": status.get("currentStepIndex") if step is not None else None,
            "canary": pods.get(current, 0) if current != stable_hash else 0,
            "stable": pods.get(stable_hash, 0),
            "revisions": len(pods),
        }
        wanted = {"phase": phase, "step": step, "canary": canary, "stable": stable}
        wanted["revisions"] = (canary > 0) + (stable > 0)
        if seen != wanted:
            raise Pending(f"{seen} (message: {status.get('message')!r})")
        return status

    return wait_for(check, timeout, f"rollout {namespace}/{name} {what}")


def test_argo_rollout_canary_pauses_promotes_one_step_and_aborts(
    kubectl: Kubectl, namespace: str
) -> None:
    steps: list[dict[str, Any]] = [
        {"setWeight": 5},
        {"pause": {}},
        {"setWeight": 20},
        {"pause": {}},
    ]
    kubectl.apply([rollout(namespace, "agent", 20, steps, annotation("healthy"))])
    first = wait_rollout(
        kubectl, namespace, "agent", "first deploy", phase="Healthy", step=4, canary=0, stable=20
    )
    assert first["stableRS"] == first["currentPodHash"]

    set_behaviour(kubectl, namespace, "agent", annotation("regressed-intervention"))
    paused = wait_rollout(
        kubectl, namespace, "agent", "paused at step 1", phase="Paused", step=1, canary=1, stable=19
    )
    assert paused["pauseConditions"][0]["reason"] == "CanaryPauseStep"
    assert paused["stableRS"] == first["stableRS"] != paused["currentPodHash"]

    started = time.monotonic()
    patch_status(kubectl, namespace, "agent", {"pauseConditions": None})
    wait_rollout(
        kubectl,
        namespace,
        "agent",
        "promoted one step",
        phase="Paused",
        step=3,
        canary=4,
        stable=16,
    )
    print(
        f"5% -> 20% step: status patch to 4 canary pods Ready in {time.monotonic() - started:.1f}s"
    )

    patch_status(kubectl, namespace, "agent", {"abort": True})
    aborted = wait_rollout(
        kubectl, namespace, "agent", "aborted", phase="Degraded", step=None, canary=0, stable=20
    )
    assert aborted["abort"] is True
    assert "RolloutAborted" in aborted["message"]


# -- the simulator through Prometheus --------------------------------------------------------

STABLE_BEHAVIOUR = annotation("healthy", requestsPerSecond=4.0)
CANARY_BEHAVIOUR = annotation(
    "healthy", requestsPerSecond=4.0, successRate=0.7, interventionRate=0.1
)
WINDOW_SECONDS = 40


def increases(
    prometheus: Prometheus, selector: str, since: float, at: float
) -> list[tuple[dict[str, str], float, float]]:
    """Each counter series matching ``selector``: (labels, increase, seconds) between its
    first and its last scrape in (``since``, ``at``].

    Raw samples (a range selector) rather than ``increase()``: no extrapolation, and the
    samples' own timestamps give the exact elapsed time. Every series of the simulator is
    scraped at the same instants, so all share one window.
    """
    result = prometheus.query(f"{selector}[{math.ceil(at - since)}s]", at=at)
    windows = []
    for series in result:
        samples = [(float(t), float(v)) for t, v in series["values"] if float(t) > since]
        if len(samples) < 2:
            raise Pending(f"{len(samples)} samples of {series['metric']}")
        (first_t, first_v), (last_t, last_v) = samples[0], samples[-1]
        windows.append((series["metric"], last_v - first_v, last_t - first_t))
    return windows


def by_revision(
    windows: list[tuple[dict[str, str], float, float]], **match: str
) -> dict[str, float]:
    """Sum of the increases per revision, over the series whose labels include ``match``."""
    totals: dict[str, float] = {}
    for labels, increase, _ in windows:
        if match.items() <= labels.items():
            totals[labels["revision"]] = totals.get(labels["revision"], 0.0) + increase
    return totals


def test_prometheus_sees_both_revisions_at_the_annotated_rates(
    kubectl: Kubectl, namespace: str, prometheus: Prometheus
) -> None:
    steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {}}]
    kubectl.apply([rollout(namespace, "sim", 10, steps, STABLE_BEHAVIOUR)])
    wait_rollout(
        kubectl, namespace, "sim", "first deploy", phase="Healthy", step=2, canary=0, stable=10
    )
    set_behaviour(kubectl, namespace, "sim", CANARY_BEHAVIOUR)
    status = wait_rollout(
        kubectl, namespace, "sim", "paused at 50%", phase="Paused", step=1, canary=5, stable=5
    )
    steady_since = time.time()  # from here on, 5 Ready pods per revision
    expected = {
        status["stableRS"]: parse_behaviour(STABLE_BEHAVIOUR),
        status["currentPodHash"]: parse_behaviour(CANARY_BEHAVIOUR),
    }
    agent = f'agent="{namespace}-sim"'

    def window() -> tuple[float, list[tuple[dict[str, str], float, float]]]:
        at = time.time()
        tasks = increases(prometheus, f"agent_tasks_total{{{agent}}}", steady_since, at)
        seconds = min((span for _, _, span in tasks), default=0.0)
        revisions = set(by_revision(tasks))
        if seconds < WINDOW_SECONDS or revisions != set(expected):
            raise Pending(f"{seconds:.0f}s of samples for revisions {sorted(revisions)}")
        return at, tasks

    at, tasks = wait_for(window, WINDOW_SECONDS + 60, "simulator samples of both revisions", 2)
    seconds = tasks[0][2]
    total = by_revision(tasks)
    success = by_revision(tasks, outcome="success")
    interventions = by_revision(
        increases(prometheus, f"agent_human_interventions_total{{{agent}}}", steady_since, at)
    )
    cost = by_revision(
        increases(prometheus, f"agent_task_cost_usd_total{{{agent}}}", steady_since, at)
    )
    p95 = {
        series["metric"]["revision"]: float(series["value"][1])
        for series in prometheus.query(
            "histogram_quantile(0.95, sum by (le, revision) "
            f"(increase(agent_task_duration_seconds_bucket{{{agent}}}[{seconds:.0f}s])))",
            at=at,
        )
    }

    for revision, behaviour in expected.items():
        n = total[revision]
        # Poisson arrivals: the count's standard deviation is the square root of its mean.
        mean = behaviour.requests_per_second * 5 * seconds
        assert abs(n - mean) < 4.5 * math.sqrt(mean), (revision, n, mean)
        # Binomial outcomes given n tasks: standard error sqrt(p(1-p)/n).
        for name, observed, p in (
            ("success", success[revision], behaviour.success_rate),
            ("intervention", interventions[revision], behaviour.intervention_rate),
        ):
            assert abs(observed / n - p) < 4.5 * math.sqrt(p * (1 - p) / n), (
                name,
                revision,
                observed,
                n,
            )
        # Cost per task: mean of n lognormal-shaped costs, coefficient of variation below.
        cv = math.sqrt(math.exp(behaviour.log_sigma**2) - 1)
        assert abs(cost[revision] / n / behaviour.cost_per_task_usd - 1) < 4.5 * cv / math.sqrt(n)
        # p95 from buckets: ~6 % sampling error at this n, plus interpolation within a bucket.
        assert abs(p95[revision] / behaviour.latency_p95 - 1) < 0.25, (revision, p95[revision])
