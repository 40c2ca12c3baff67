"""Bringing the stack up and down, and reporting on it.

``up`` is idempotent: on a healthy stack it only re-checks health and returns. A stack that
is partly down (a process died, the machine rebooted) is stopped and started again from
scratch: the stack is a throwaway test bed, and a clean start takes seconds, whereas a repair
in place would have to reason about which certificates, ports and cluster objects of the old
instance still hold. ``down`` stops every process by pid (process group), waits until it has
exited and removes the cluster's state (certificates, etcd and Prometheus data); it keeps the
logs for a post-mortem and the caches (Go builds) for the next ``up``.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import ports as port_alloc
from . import procs
from .builds import (
    ALL_BUILDS,
    ARGO_ROLLOUTS,
    ARGO_ROLLOUTS_PLUGIN,
    KWOK,
    BuildError,
    ensure_built,
    module_source,
)
from .clients import Kubectl, KubectlError
from .components import COMPONENTS, CONTROL_PLANE, Component, Context, kwok_nodes
from .paths import CacheLayout, StackLayout, default_stack_dir
from .pki import (
    API_SERVER_SANS,
    LOOPBACK_SANS,
    CertificateAuthority,
    CertSpec,
    write_kubeconfig,
    write_service_account_keys,
)
from .waiting import Pending, wait_for

LOG_TAIL_LINES = 40

CERTS = (
    CertSpec("etcd-serving", "etcd", sans=LOOPBACK_SANS, server=True, client=True),
    CertSpec("apiserver-etcd-client", "kube-apiserver-etcd-client", client=True),
    CertSpec("apiserver-serving", "kube-apiserver", sans=API_SERVER_SANS, server=True),
    CertSpec("apiserver-kubelet-client", "kube-apiserver-kubelet-client", client=True),
    CertSpec("admin", "kubernetes-admin", organizations=("system:masters",), client=True),
    CertSpec("kube-controller-manager", "system:kube-controller-manager", client=True),
    CertSpec(
        "controller-manager-serving", "kube-controller-manager", sans=LOOPBACK_SANS, server=True
    ),
    CertSpec("kube-scheduler", "system:kube-scheduler", client=True),
    CertSpec("scheduler-serving", "kube-scheduler", sans=LOOPBACK_SANS, server=True),
    CertSpec("kwok", "kwok-controller", client=True),
    CertSpec("kwok-serving", "kwok-controller", sans=LOOPBACK_SANS, server=True),
    CertSpec("argo-rollouts", "argo-rollouts", client=True),
    CertSpec("agent-sim", "agent-sim", client=True),
    CertSpec("agent-sim-serving", "agent-sim", sans=LOOPBACK_SANS, server=True),
    CertSpec("prometheus-serving", "prometheus", sans=LOOPBACK_SANS, server=True),
)
"""Client certificates are named after the kubeconfig user they authenticate."""

KUBECONFIG_USERS = {
    "admin": "default",
    "kube-controller-manager": "kube-system",
    "kube-scheduler": "kube-system",
    "kwok": "kube-system",
    # Argo Rollouts reads its config maps from its kubeconfig's namespace.
    "argo-rollouts": "argo-rollouts",
    "agent-sim": "default",
}


class StackError(RuntimeError):
    """The stack could not be brought to the requested state; the message says which part."""


@dataclass(frozen=True)
class StackInfo:
    """How to reach a running stack: what a test, a person or the operator needs."""

    stack_dir: Path
    kubeconfig: Path
    api_server_url: str
    prometheus_url: str
    ca_file: Path
    """The stack CA: verifies the API server, Prometheus and every other listener."""
    kubectl: Path
    helm: Path
    """Helm, built like the other programs: the tests render the chart with it."""
    argo_plugin: Path
    """``kubectl-argo-rollouts``, Argo's kubectl plugin from the controller's pin: on the
    env file's PATH beside kubectl, so ``kubectl argo rollouts ...`` works."""

    def env(self) -> dict[str, str]:
        """Variables written to ``<stack>/env`` (``KUBECONFIG``, ``PROMETHEUS_URL``, ...)."""
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "PROMETHEUS_URL": self.prometheus_url,
            "PROMETHEUS_CA_FILE": str(self.ca_file),
        }


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    running: bool
    healthy: bool
    detail: str
    endpoint: str
    rss_bytes: int


def _log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class Stack:
    """One stack instance, identified by its state directory."""

    def __init__(self, stack_dir: Path | None = None, cache: CacheLayout | None = None) -> None:
        self.cache = cache or CacheLayout.from_env()
        self.layout = StackLayout(stack_dir or default_stack_dir(self.cache))
        self._contexts: dict[tuple[tuple[tuple[str, int], ...], int], Context] = {}
        """Contexts already built by this instance: finding the binaries takes each
        build's lock, which a build in another checkout may hold for minutes, and a
        component restarted mid-run must not wait for that."""

    # -- state ---------------------------------------------------------------------------
    def _load_state(self) -> dict[str, Any] | None:
        try:
            state: dict[str, Any] = json.loads(self.layout.state_file.read_text())
        except FileNotFoundError:
            return None
        return state

    def _save_state(self, state: dict[str, Any]) -> None:
        tmp = self.layout.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.layout.state_file)

    def _records(self, state: dict[str, Any]) -> dict[str, procs.ProcessRecord]:
        return {
            name: procs.ProcessRecord(entry["pid"], entry["start_ticks"])
            for name, entry in state.get("processes", {}).items()
        }

    def _context(self, ports: dict[str, int], seed: int) -> Context:
        key = (tuple(sorted(ports.items())), seed)
        if key not in self._contexts:
            self._contexts[key] = self._new_context(ports, seed)
        return self._contexts[key]

    def _new_context(self, ports: dict[str, int], seed: int) -> Context:
        prometheus = shutil.which("prometheus")
        if prometheus is None:
            raise StackError(
                "prometheus is not installed: run `apt-get install -y prometheus` (Debian's "
                "package; the stack runs its own instance, not the system service)"
            )
        try:
            bin_dirs = {build.name: ensure_built(self.cache, build) for build in ALL_BUILDS}
            kwok_source = module_source(self.cache, KWOK)
            rollouts_source = module_source(self.cache, ARGO_ROLLOUTS)
        except BuildError as error:
            raise StackError(f"build: {error}") from error
        return Context(
            layout=self.layout,
            ports=ports,
            bin_dirs=bin_dirs,
            kwok_source=kwok_source,
            rollouts_source=rollouts_source,
            prometheus=Path(prometheus),
            sim_seed=seed,
        )

    def info(self, ctx: Context) -> StackInfo:
        return StackInfo(
            stack_dir=self.layout.root,
            kubeconfig=self.layout.kubeconfig("admin"),
            api_server_url=ctx.api_server_url,
            prometheus_url=ctx.prometheus_url,
            ca_file=self.layout.ca_cert,
            kubectl=ctx.kubectl,
            helm=ctx.bin_dirs["helm"] / "helm",
            argo_plugin=ctx.bin_dirs[ARGO_ROLLOUTS_PLUGIN.name] / "kubectl-argo-rollouts",
        )

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Serialise ``up`` and ``down`` on one state directory (a test run and a person)."""
        self.layout.root.mkdir(parents=True, exist_ok=True)
        with open(self.layout.root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    # -- up ------------------------------------------------------------------------------
    def up(self, seed: int | None = None) -> StackInfo:
        """Bring the stack up (or confirm it is up) and return how to reach it."""
        with self._exclusive():
            return self._up(seed)

    def _up(self, seed: int | None) -> StackInfo:
        if seed is None:
            seed = int(os.environ.get("AGENT_RELEASE_SIM_SEED", "1"))
        state = self._load_state()
        if state is not None:
            ctx = self._context(state["ports"], state["seed"])
            broken = [s for s in self._statuses(ctx, state) if not s.healthy]
            if not broken:
                info = self.info(ctx)
                self._write_env(info)  # current with this checkout's builds (PATH)
                return info
            names = ", ".join(f"{s.name} ({s.detail})" for s in broken)
            print(f"localstack: stack in {self.layout.root} is partly down: {names}", flush=True)
            if not {s.name for s in broken} & set(CONTROL_PLANE):
                return self._repair(ctx, state, {s.name for s in broken})
            print("localstack: the control plane is down: starting afresh", flush=True)
            self._down()
        return self._start(seed)

    # -- one component at a time (the chaos campaign's faults) ----------------------------
    def stop_component(self, name: str, grace: float = 30.0) -> None:
        """Stop one component of a running stack (SIGTERM to its process group, SIGKILL
        after `grace` seconds) and wait until it has exited; the rest keep running, and
        the cluster's state, ports and certificates stay, so :meth:`start_component` brings
        it back as it was. Nothing else is stopped: clients of a stopped API server retry
        on their own. (The API server's graceful stop waits about 30 s for its clients'
        watches: a short `grace` makes it a crash.)
        """
        with self._exclusive():
            state = self._running_state()
            component = _component(name)
            record = self._records(state).get(component.name)
            if record is not None and procs.stop([record], timeout=grace):
                raise StackError(f"{name} (pid {record.pid}) survived SIGKILL")

    def start_component(self, name: str) -> None:
        """Start one stopped component of a running stack on its own ports and wait until
        it is healthy (as ``up`` does); a component that runs already is only checked."""
        with self._exclusive():
            state = self._running_state()
            component = _component(name)
            ctx = self._context(state["ports"], state["seed"])
            record = self._records(state).get(component.name)
            if record is None or not procs.is_running(record):
                self._launch(component, ctx, state)
            self._wait_healthy(component, ctx, state)

    def _running_state(self) -> dict[str, Any]:
        state = self._load_state()
        if state is None:
            raise StackError(f"no stack in {self.layout.root} (run `make stack-up`)")
        return state

    def _repair(self, ctx: Context, state: dict[str, Any], names: set[str]) -> StackInfo:
        """Restart only the broken clients of a healthy control plane, on their ports:
        the cluster's objects survive (a test that stops Prometheus gets it back)."""
        records = self._records(state)
        procs.stop([records[name] for name in names if name in records])
        broken = [component for component in COMPONENTS if component.name in names]
        for component in broken:
            self._launch(component, ctx, state)
        for component in broken:
            self._wait_healthy(component, ctx, state)
        print(f"localstack: restarted {', '.join(sorted(names))}", flush=True)
        return self.info(ctx)

    def _start(self, seed: int) -> StackInfo:
        names = [port for component in COMPONENTS for port in component.ports]
        ctx = self._context(port_alloc.allocate(names), seed)
        started = time.monotonic()
        for folder in (self.layout.root, self.layout.logs, self.layout.data):
            folder.mkdir(parents=True, exist_ok=True)
        for component in COMPONENTS:  # one generation back, for a post-mortem of the last run
            log = self.layout.log(component.name)
            if log.exists():
                log.replace(log.with_suffix(".previous.log"))
        state: dict[str, Any] = {"ports": dict(ctx.ports), "seed": seed, "processes": {}}
        self._save_state(state)
        self._write_pki(ctx)

        by_name = {component.name: component for component in COMPONENTS}
        for name in CONTROL_PLANE:
            self._launch(by_name[name], ctx, state)
            self._wait_healthy(by_name[name], ctx, state)
        self._bootstrap(ctx)
        rest = [component for component in COMPONENTS if component.name not in CONTROL_PLANE]
        for component in rest:
            self._launch(component, ctx, state)
        for component in rest:
            self._wait_healthy(component, ctx, state)

        info = self.info(ctx)
        self._write_env(info)
        print(f"localstack: stack up in {time.monotonic() - started:.1f}s", flush=True)
        return info

    def _write_pki(self, ctx: Context) -> None:
        ca = CertificateAuthority(self.layout)
        for spec in CERTS:
            ca.issue(spec)
        front_proxy = CertificateAuthority(self.layout, "front-proxy-ca")
        front_proxy.issue(CertSpec("front-proxy-client", "front-proxy-client", client=True))
        write_service_account_keys(self.layout)
        for user, namespace in KUBECONFIG_USERS.items():
            write_kubeconfig(self.layout, user, ctx.api_server_url, namespace)

    def _launch(self, component: Component, ctx: Context, state: dict[str, Any]) -> None:
        component.prepare(ctx)
        record = procs.start(
            component.argv(ctx), self.layout.log(component.name), env=component.env(ctx)
        )
        state["processes"][component.name] = {
            "pid": record.pid,
            "start_ticks": record.start_ticks,
        }
        self._save_state(state)

    def _wait_healthy(self, component: Component, ctx: Context, state: dict[str, Any]) -> None:
        record = self._records(state)[component.name]

        def healthy() -> None:
            if not procs.is_running(record):
                raise self._failure(component, "exited during startup")
            component.probe(ctx)

        try:
            wait_for(healthy, component.startup_timeout, f"{component.name} healthy")
        except TimeoutError as timeout:
            raise self._failure(component, str(timeout)) from None

    def _failure(self, component: Component, what: str) -> StackError:
        log = self.layout.log(component.name)
        tail = _log_tail(log)
        retry = (
            "a port was taken meanwhile: `make stack-up` again picks new ports"
            if "address already in use" in tail
            else "`make stack-up` again stops what is left and starts afresh; if it fails the "
            "same way, the log above says why"
        )
        return StackError(
            f"{component.name} {what}.\n--- last lines of {log} ---\n{tail}\n---\n{retry}"
        )

    def _bootstrap(self, ctx: Context) -> None:
        """Objects the controllers need before they start: RBAC, Argo CRDs, kwok nodes.

        Upstream manifests (kwok's ClusterRole, Argo Rollouts' ClusterRole and CRDs) are
        applied server-side straight from the module cache; the bindings to our client-cert
        users, the namespace and the nodes are generated here.
        """
        crds = sorted((ctx.rollouts_source / "manifests" / "crds").glob("*-crd.yaml"))
        upstream = [
            ctx.kwok_source / "kustomize" / "rbac" / "role.yaml",
            ctx.rollouts_source / "manifests" / "role" / "argo-rollouts-clusterrole.yaml",
            *crds,
        ]
        kubectl = Kubectl(ctx.kubectl, self.layout.kubeconfig("admin"))
        files = [arg for path in upstream for arg in ("-f", str(path))]
        generated: list[dict[str, Any]] = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argo-rollouts"}},
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": "agent-sim"},
                "rules": [
                    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
                ],
            },
            *(
                _cluster_role_binding(role, user)
                for role, user in (
                    ("kwok-controller", "kwok-controller"),
                    ("argo-rollouts", "argo-rollouts"),
                    ("agent-sim", "agent-sim"),
                )
            ),
            *kwok_nodes(),
        ]
        names = [f"crd/{yaml.safe_load(path.read_text())['metadata']['name']}" for path in crds]
        try:
            kubectl.run("apply", "--server-side", "--field-manager=localstack", *files)
            kubectl.apply(generated)
            kubectl.run("wait", "--for=condition=Established", "--timeout=60s", *names)
        except KubectlError as error:
            raise StackError(f"bootstrap of the cluster objects: {error}") from error

    def _write_env(self, info: StackInfo) -> None:
        lines = [f"export {key}={value}" for key, value in info.env().items()]
        lines.append(f"export PATH={info.kubectl.parent}:{info.argo_plugin.parent}:$PATH")
        self.layout.env_file.write_text("\n".join(lines) + "\n")

    # -- down ----------------------------------------------------------------------------
    def down(self) -> list[procs.ProcessRecord]:
        """Stop every process of the stack and remove its state; return what was stopped.

        Clients of the API server go first (together), then the API server, then etcd, each
        tier after the previous one has exited: signalled at once, etcd's graceful stop waits
        for the API server's watch streams and the API server for its clients' requests,
        which takes 10-30 s instead of about one.
        """
        with self._exclusive():
            return self._down()

    def _down(self) -> list[procs.ProcessRecord]:
        state = self._load_state()
        if state is None:
            return []
        records = self._records(state)
        clients = [c.name for c in COMPONENTS if c.name not in CONTROL_PLANE]
        tiers = [clients, *([name] for name in reversed(CONTROL_PLANE))]
        ordered, survivors = [], []
        for tier in tiers:
            stopping = [records[name] for name in tier if name in records]
            ordered += stopping
            survivors += procs.stop(stopping)
        if survivors:
            pids = ", ".join(str(r.pid) for r in survivors)
            raise StackError(f"processes {pids} survived SIGKILL; state kept in {self.layout.root}")
        for folder in (self.layout.data, self.layout.pki, self.layout.kubeconfigs):
            shutil.rmtree(folder, ignore_errors=True)
        self.layout.env_file.unlink(missing_ok=True)
        self.layout.state_file.unlink(missing_ok=True)
        return ordered

    # -- status and logs -----------------------------------------------------------------
    def _statuses(self, ctx: Context, state: dict[str, Any]) -> list[ComponentStatus]:
        records = self._records(state)
        result = []
        for component in COMPONENTS:
            record = records.get(component.name)
            running = record is not None and procs.is_running(record)
            healthy, detail = False, "not running"
            if running:
                try:
                    component.probe(ctx)
                    healthy, detail = True, "healthy"
                except Pending as not_ready:
                    detail = str(not_ready)
            result.append(
                ComponentStatus(
                    name=component.name,
                    pid=record.pid if record else None,
                    running=running,
                    healthy=healthy,
                    detail=detail,
                    endpoint=component.endpoint(ctx),
                    rss_bytes=procs.rss_bytes(record) if record else 0,
                )
            )
        return result

    def status(self) -> list[ComponentStatus] | None:
        """Per-component state, or None when no stack was started in this directory."""
        state = self._load_state()
        if state is None:
            return None
        return self._statuses(self._context(state["ports"], state["seed"]), state)

    def log_files(self, components: Iterable[str] = ()) -> list[Path]:
        wanted = list(components) or [c.name for c in COMPONENTS]
        unknown = set(wanted) - {c.name for c in COMPONENTS}
        if unknown:
            raise StackError(f"no component named {', '.join(sorted(unknown))}")
        return [self.layout.log(name) for name in wanted if self.layout.log(name).exists()]


def _component(name: str) -> Component:
    for component in COMPONENTS:
        if component.name == name:
            return component
    raise StackError(f"no component named {name}")


def _cluster_role_binding(role: str, user: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"localstack:{role}"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
