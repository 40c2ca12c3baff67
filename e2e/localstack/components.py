"""The stack's processes: command lines, config files and health probes.

Each :class:`Component` knows how to start one upstream program against the stack's
certificates and ports, and how to tell that it is healthy the way a person would check it
(``/readyz``, ``/healthz``, etcd's ``/health``, Prometheus' ``/-/ready`` and its target list).
Flags follow what kubeadm and the upstream install manifests set, narrowed to loopback:
every listener binds 127.0.0.1 and serves TLS from the stack CA, except the Argo Rollouts
controller, whose metrics and healthz listeners are hard-coded upstream to ``0.0.0.0`` over
plain HTTP (``controller/controller.go``: ``listenAddr = "0.0.0.0:%d"``); they expose only
metrics and a health check.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml

from .paths import E2E_DIR, StackLayout
from .pki import SERVICE_CLUSTER_IP_RANGE
from .waiting import Pending

KWOK_NODE_COUNT = 3
KWOK_PODS_PER_NODE = 500  # 1,500 pods: 500 canaries of two pods, and their surges
KWOK_NODE_LABEL = "type=kwok"
KWOK_STAGES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)
SCRAPE_INTERVAL = "5s"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


@dataclass(frozen=True)
class Context:
    """What a component needs to build its command line: files, ports and binaries."""

    layout: StackLayout
    ports: Mapping[str, int]
    bin_dirs: Mapping[str, Path]
    """Go build name (``kubernetes``, ``etcd``...) to its binary folder."""
    kwok_source: Path
    rollouts_source: Path
    prometheus: Path
    sim_seed: int

    @property
    def api_server_url(self) -> str:
        return f"https://127.0.0.1:{self.ports['kube-apiserver']}"

    @property
    def prometheus_url(self) -> str:
        return f"https://127.0.0.1:{self.ports['prometheus']}"

    @property
    def kubectl(self) -> Path:
        return self.bin_dirs["kubernetes"] / "kubectl"

    def tls(self, client_cert: str | None = None) -> ssl.SSLContext:
        """A context that trusts the stack CA, optionally presenting ``pki/<client_cert>``."""
        context = ssl.create_default_context(cafile=str(self.layout.ca_cert))
        if client_cert is not None:
            context.load_cert_chain(self.layout.cert(client_cert), self.layout.key(client_cert))
        return context


def http_get(url: str, context: ssl.SSLContext | None = None, timeout: float = 5.0) -> bytes:
    """GET ``url``; any failure or non-2xx answer raises :class:`Pending` saying why."""
    try:
        with urllib.request.urlopen(url, context=context, timeout=timeout) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as error:
        detail = error.read()[:300].decode(errors="replace").strip()
        raise Pending(f"GET {url}: HTTP {error.code} {detail}") from error
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise Pending(f"GET {url}: {reason}") from error


def get_json(url: str, context: ssl.SSLContext | None = None) -> Any:
    return json.loads(http_get(url, context))


class Component:
    """One process of the stack. Subclasses set the class attributes and override methods."""

    name: ClassVar[str]
    ports: ClassVar[tuple[str, ...]]
    """Names of the ports it listens on; the first one is the port shown by ``status``."""
    startup_timeout: ClassVar[float] = 90.0

    def argv(self, ctx: Context) -> list[str]:
        raise NotImplementedError

    def env(self, ctx: Context) -> dict[str, str] | None:  # noqa: ARG002 - the interface
        """Environment for the process; None inherits ours."""
        return None

    def prepare(self, ctx: Context) -> None:
        """Write config files the command line refers to."""

    def probe(self, ctx: Context) -> None:
        """Return if healthy, else raise :class:`Pending`."""
        raise NotImplementedError

    def endpoint(self, ctx: Context) -> str:
        return f"https://127.0.0.1:{ctx.ports[self.ports[0]]}"

    def data_dir(self, ctx: Context) -> Path:
        return ctx.layout.data / self.name


class Etcd(Component):
    name = "etcd"
    ports = ("etcd-client", "etcd-peer")
    startup_timeout = 60.0

    def argv(self, ctx: Context) -> list[str]:
        client = f"https://127.0.0.1:{ctx.ports['etcd-client']}"
        peer = f"https://127.0.0.1:{ctx.ports['etcd-peer']}"
        pki = ctx.layout
        return [
            str(ctx.bin_dirs["etcd"] / "etcd"),
            "--name=local",
            f"--data-dir={self.data_dir(ctx)}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=local={peer}",
            "--initial-cluster-state=new",
            f"--cert-file={pki.cert('etcd-serving')}",
            f"--key-file={pki.key('etcd-serving')}",
            "--client-cert-auth=true",
            f"--trusted-ca-file={pki.ca_cert}",
            f"--peer-cert-file={pki.cert('etcd-serving')}",
            f"--peer-key-file={pki.key('etcd-serving')}",
            "--peer-client-cert-auth=true",
            f"--peer-trusted-ca-file={pki.ca_cert}",
            # A throwaway single-member cluster: skipping fsync spares the disk and CPU the
            # test suite needs, at the cost of data that a crash may lose (nothing to keep).
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ]

    def probe(self, ctx: Context) -> None:
        url = f"https://127.0.0.1:{ctx.ports['etcd-client']}/health"
        health = get_json(url, ctx.tls("apiserver-etcd-client"))
        if health.get("health") != "true":
            raise Pending(f"GET {url}: {health}")


class KubeApiServer(Component):
    name = "kube-apiserver"
    ports = ("kube-apiserver",)
    startup_timeout = 120.0

    def argv(self, ctx: Context) -> list[str]:
        pki = ctx.layout
        return [
            str(ctx.bin_dirs["kubernetes"] / "kube-apiserver"),
            "--bind-address=127.0.0.1",
            f"--secure-port={ctx.ports['kube-apiserver']}",
            "--advertise-address=127.0.0.1",
            # Endpoints may not hold loopback addresses, so the `kubernetes` Service gets none
            # (no pod here dials it: kwok's pods do not run).
            "--endpoint-reconciler-type=none",
            f"--etcd-servers=https://127.0.0.1:{ctx.ports['etcd-client']}",
            f"--etcd-cafile={pki.ca_cert}",
            f"--etcd-certfile={pki.cert('apiserver-etcd-client')}",
            f"--etcd-keyfile={pki.key('apiserver-etcd-client')}",
            f"--tls-cert-file={pki.cert('apiserver-serving')}",
            f"--tls-private-key-file={pki.key('apiserver-serving')}",
            f"--client-ca-file={pki.ca_cert}",
            "--authorization-mode=Node,RBAC",
            # The aggregation layer's front proxy, as kubeadm sets it up; delegated
            # authentication in the controller manager and scheduler reads these too.
            f"--requestheader-client-ca-file={pki.cert('front-proxy-ca')}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={pki.cert('front-proxy-client')}",
            f"--proxy-client-key-file={pki.key('front-proxy-client')}",
            "--enable-admission-plugins=NodeRestriction",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={pki.pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki.key('sa')}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            # The "kubelets" are kwok's server on loopback (see Kwok): verified TLS both ways.
            f"--kubelet-client-certificate={pki.cert('apiserver-kubelet-client')}",
            f"--kubelet-client-key={pki.key('apiserver-kubelet-client')}",
            f"--kubelet-certificate-authority={pki.ca_cert}",
            "--kubelet-preferred-address-types=InternalIP",
            "--profiling=false",
        ]

    def probe(self, ctx: Context) -> None:
        http_get(f"{ctx.api_server_url}/readyz", ctx.tls("admin"))


def _control_plane_client(ctx: Context, name: str, serving: str) -> list[str]:
    """The program and the flags kube-controller-manager and kube-scheduler share: TLS
    serving on a loopback port, and one kubeconfig to reach, authenticate and authorize
    against the API server."""
    pki = ctx.layout
    kubeconfig = pki.kubeconfig(name)
    return [
        str(ctx.bin_dirs["kubernetes"] / name),
        "--bind-address=127.0.0.1",
        f"--secure-port={ctx.ports[name]}",
        f"--tls-cert-file={pki.cert(serving)}",
        f"--tls-private-key-file={pki.key(serving)}",
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--client-ca-file={pki.ca_cert}",
    ]


class KubeControllerManager(Component):
    name = "kube-controller-manager"
    ports = ("kube-controller-manager",)

    def argv(self, ctx: Context) -> list[str]:
        pki = ctx.layout
        return [
            *_control_plane_client(ctx, self.name, "controller-manager-serving"),
            f"--root-ca-file={pki.ca_cert}",
            f"--service-account-private-key-file={pki.key('sa')}",
            "--use-service-account-credentials=true",
            f"--cluster-signing-cert-file={pki.ca_cert}",
            f"--cluster-signing-key-file={pki.key('ca')}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            # One instance per stack: no lease to wait for after a restart.
            "--leader-elect=false",
            "--profiling=false",
        ]

    def probe(self, ctx: Context) -> None:
        http_get(f"{self.endpoint(ctx)}/healthz", ctx.tls())


class KubeScheduler(Component):
    name = "kube-scheduler"
    ports = ("kube-scheduler",)

    def argv(self, ctx: Context) -> list[str]:
        return [
            *_control_plane_client(ctx, self.name, "scheduler-serving"),
            "--leader-elect=false",
            "--profiling=false",
        ]

    def probe(self, ctx: Context) -> None:
        http_get(f"{self.endpoint(ctx)}/healthz", ctx.tls())


def kwok_nodes() -> list[dict[str, Any]]:
    """Fake nodes kwok manages (selected by its annotation), untainted, 500 pods each."""
    resources = {"cpu": "32", "memory": "256Gi", "pods": str(KWOK_PODS_PER_NODE)}
    label_key, label_value = KWOK_NODE_LABEL.split("=")
    return [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": f"kwok-node-{index}",
                "annotations": {"kwok.x-k8s.io/node": "fake"},
                "labels": {
                    label_key: label_value,
                    "kubernetes.io/hostname": f"kwok-node-{index}",
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                },
            },
            # Nodes may carry status on create; kwok's node-initialize stage keeps these.
            "status": {"allocatable": resources, "capacity": resources},
        }
        for index in range(KWOK_NODE_COUNT)
    ]


class Kwok(Component):
    """kwok plays the kubelets: nodes get heartbeats and leases, pods go Running and Ready.

    Stages come straight from the module cache. ``--node-ip=127.0.0.1`` with ``--node-port``
    on kwok's own TLS server makes the API server's node connections (``kubectl logs``) stay
    on loopback; pod IPs come from ``--cidr`` and are never dialled by anything.
    """

    name = "kwok"
    ports = ("kwok",)

    def argv(self, ctx: Context) -> list[str]:
        pki = ctx.layout
        port = ctx.ports["kwok"]
        stages = [f"--config={ctx.kwok_source / stage}" for stage in KWOK_STAGES]
        return [
            str(ctx.bin_dirs["kwok"] / "kwok"),
            f"--kubeconfig={pki.kubeconfig('kwok')}",
            *stages,
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--node-ip=127.0.0.1",
            f"--node-port={port}",
            f"--server-address=127.0.0.1:{port}",
            f"--tls-cert-file={pki.cert('kwok-serving')}",
            f"--tls-private-key-file={pki.key('kwok-serving')}",
            "--cidr=10.244.0.0/16",
            "--node-lease-duration-seconds=40",
        ]

    def env(self, ctx: Context) -> dict[str, str]:
        # kwok also reads ~/.kwok/kwok.yaml when it exists; a private HOME keeps it out.
        return {**os.environ, "HOME": str(self.data_dir(ctx))}

    def prepare(self, ctx: Context) -> None:
        self.data_dir(ctx).mkdir(parents=True, exist_ok=True)

    def probe(self, ctx: Context) -> None:
        http_get(f"{self.endpoint(ctx)}/healthz", ctx.tls())
        url = f"{ctx.api_server_url}/api/v1/nodes?labelSelector={KWOK_NODE_LABEL}"
        nodes = get_json(url, ctx.tls("admin"))["items"]
        ready = [
            node["metadata"]["name"]
            for node in nodes
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in node.get("status", {}).get("conditions", [])
            )
        ]
        if len(ready) < KWOK_NODE_COUNT:
            raise Pending(f"{len(ready)} of {KWOK_NODE_COUNT} kwok nodes Ready")


class RolloutsController(Component):
    name = "rollouts-controller"
    ports = ("rollouts-healthz", "rollouts-metrics")

    def argv(self, ctx: Context) -> list[str]:
        return [
            str(ctx.bin_dirs["argo-rollouts"] / "rollouts-controller"),
            f"--kubeconfig={ctx.layout.kubeconfig('argo-rollouts')}",
            "--loglevel=info",
            "--logformat=text",
            # One instance per stack: no lease to wait for after a restart.
            "--leader-elect=false",
            f"--healthzPort={ctx.ports['rollouts-healthz']}",
            f"--metricsPort={ctx.ports['rollouts-metrics']}",
        ]

    def env(self, ctx: Context) -> dict[str, str]:
        # The stack CA as the controller's trust store, as a cluster mounts its CA bundle
        # into the controller: Argo's Prometheus provider has no CA field (only
        # `insecure`), so AnalysisTemplates reach the stack's Prometheus verified.
        return {**os.environ, "SSL_CERT_FILE": str(ctx.layout.ca_cert)}

    def endpoint(self, ctx: Context) -> str:
        return f"http://127.0.0.1:{ctx.ports['rollouts-healthz']}"

    def probe(self, ctx: Context) -> None:
        http_get(f"{self.endpoint(ctx)}/healthz")


class AgentSim(Component):
    """The agent traffic simulator (``e2e/agent_sim``), run by the same Python as this tool."""

    name = "agent-sim"
    ports = ("agent-sim",)

    def argv(self, ctx: Context) -> list[str]:
        pki = ctx.layout
        return [
            sys.executable,
            "-m",
            "agent_sim",
            f"--kubeconfig={pki.kubeconfig('agent-sim')}",
            f"--port={ctx.ports['agent-sim']}",
            f"--tls-cert={pki.cert('agent-sim-serving')}",
            f"--tls-key={pki.key('agent-sim-serving')}",
            f"--seed={ctx.sim_seed}",
        ]

    def env(self, ctx: Context) -> dict[str, str]:  # noqa: ARG002 - the interface
        return {**os.environ, "PYTHONPATH": str(E2E_DIR), "PYTHONUNBUFFERED": "1"}

    def probe(self, ctx: Context) -> None:
        http_get(f"{self.endpoint(ctx)}/metrics", ctx.tls())


class Prometheus(Component):
    """Debian's Prometheus with our own config, port and data dir (never the system one)."""

    name = "prometheus"
    ports = ("prometheus",)

    def config_file(self, ctx: Context) -> Path:
        return self.data_dir(ctx) / "prometheus.yml"

    def web_config_file(self, ctx: Context) -> Path:
        return self.data_dir(ctx) / "web.yml"

    def query_log_file(self, ctx: Context) -> Path:
        """Every query Prometheus evaluates, one JSON line each (its own record of who
        asked what: the peer benchmark counts each side's queries from it)."""
        return self.data_dir(ctx) / "queries.log"

    def prepare(self, ctx: Context) -> None:
        self.data_dir(ctx).mkdir(parents=True, exist_ok=True)
        config = {
            "global": {
                "scrape_interval": SCRAPE_INTERVAL,
                "evaluation_interval": SCRAPE_INTERVAL,
                "scrape_timeout": "4s",
                "query_log_file": str(self.query_log_file(ctx)),
            },
            "scrape_configs": [
                {
                    "job_name": "agent-sim",
                    "scheme": "https",
                    "tls_config": {"ca_file": str(ctx.layout.ca_cert)},
                    "static_configs": [{"targets": [f"127.0.0.1:{ctx.ports['agent-sim']}"]}],
                },
                {
                    "job_name": "argo-rollouts",
                    "static_configs": [{"targets": [f"127.0.0.1:{ctx.ports['rollouts-metrics']}"]}],
                },
            ],
        }
        self.config_file(ctx).write_text(yaml.safe_dump(config, sort_keys=False))
        web = {
            "tls_server_config": {
                "cert_file": str(ctx.layout.cert("prometheus-serving")),
                "key_file": str(ctx.layout.key("prometheus-serving")),
            }
        }
        self.web_config_file(ctx).write_text(yaml.safe_dump(web, sort_keys=False))

    def argv(self, ctx: Context) -> list[str]:
        return [
            str(ctx.prometheus),
            f"--config.file={self.config_file(ctx)}",
            f"--web.config.file={self.web_config_file(ctx)}",
            f"--web.listen-address=127.0.0.1:{ctx.ports['prometheus']}",
            f"--storage.tsdb.path={self.data_dir(ctx) / 'tsdb'}",
            "--storage.tsdb.retention.time=2d",
        ]

    def probe(self, ctx: Context) -> None:
        context = ctx.tls()
        http_get(f"{ctx.prometheus_url}/-/ready", context)
        targets = get_json(f"{ctx.prometheus_url}/api/v1/targets?state=active", context)
        sim = [t for t in targets["data"]["activeTargets"] if t["labels"]["job"] == "agent-sim"]
        if not sim or sim[0]["health"] != "up":
            detail = sim[0].get("lastError") or sim[0]["health"] if sim else "no target"
            raise Pending(f"Prometheus target agent-sim is not up yet: {detail}")


COMPONENTS: tuple[Component, ...] = (
    Etcd(),
    KubeApiServer(),
    KubeControllerManager(),
    KubeScheduler(),
    Kwok(),
    RolloutsController(),
    AgentSim(),
    Prometheus(),
)
"""In start order; ``down`` stops them in reverse."""

CONTROL_PLANE = ("etcd", "kube-apiserver")
"""Started and waited for one by one; the rest start together once the API is bootstrapped."""
