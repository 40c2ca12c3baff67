"""The Helm chart rendered by a real Helm and checked by the real API server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from localstack.clients import Kubectl

from ..test_packaging import CHART, DASHBOARD, REPO, _cluster_role, _granted, _yaml_docs

pytestmark = pytest.mark.e2e

VALUES = [
    "--set",
    "prometheus.url=https://prometheus.monitoring:9090",
    "--set",
    "prometheus.caConfigMap.name=kube-root-ca.crt",
    "--set",
    "metrics.serviceMonitor.enabled=true",
]


def render(helm: Path, *args: str, namespace: str = "agent-release") -> list[dict[str, Any]]:
    done = subprocess.run(
        [str(helm), "template", "ar", str(CHART), "--namespace", namespace, *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def test_helm_lints_the_chart(helm: Path) -> None:
    done = subprocess.run(
        [str(helm), "lint", "--strict", str(CHART), *VALUES],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_helm_renders_the_chart(helm: Path) -> None:
    docs = render(helm, "--include-crds", *VALUES)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    crds = sorted(d["metadata"]["name"] for d in by_kind["CustomResourceDefinition"])
    assert crds == sorted(
        d["metadata"]["name"] for p in (REPO / "crds").glob("*.yaml") for d in _yaml_docs(p)
    )
    policies = {d["metadata"]["name"]: d for d in by_kind["ReleasePolicy"]}
    assert policies == {
        d["metadata"]["name"]: d for p in (REPO / "policies").glob("*.yaml") for d in _yaml_docs(p)
    }
    (deployment,) = by_kind["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e.get("value") or e["valueFrom"] for e in container["env"]}
    assert env["PROMETHEUS_CA_FILE"] == "/etc/agent-release/prometheus-ca/ca.crt"
    # each replica's name in the Lease, and the Lease's namespace, from the downward API
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert {"ClusterRole", "Role", "RoleBinding"} <= set(by_kind)  # leases: its namespace only
    role = next(
        r for r in by_kind["ClusterRole"] if r["metadata"]["name"] == "ar-agent-release-operator"
    )
    assert _granted(role["rules"]) == _granted(_cluster_role()["rules"])
    dashboard = next(
        c for c in by_kind["ConfigMap"] if c["metadata"]["name"].endswith("-dashboard")
    )
    assert json.loads(dashboard["data"]["agent-release.json"]) == json.loads(DASHBOARD.read_text())
    assert {"ServiceAccount", "ClusterRoleBinding", "Service", "ServiceMonitor"} <= set(by_kind)


def test_the_api_server_accepts_every_rendered_object(
    helm: Path, kubectl: Kubectl, namespace: str
) -> None:
    """A server-side dry run: schemas and all. The stack has no Prometheus Operator, so
    the ServiceMonitor is left out, and its shipped policies are installed already."""
    rendered = render(helm, *VALUES, "--set", "installPolicies=false", namespace=namespace)
    docs = [d for d in rendered if d["kind"] != "ServiceMonitor"]
    out = kubectl.run(
        "create", "--dry-run=server", "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all(docs)
    )
    assert out.count("(server dry run)") == len(docs)
