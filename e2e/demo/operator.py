"""The operator as a background process of the local stack.

Like the stack's components it runs in its own session, is found again through a
state file (pid and start time) and is stopped by process group. It talks to the API
server with the token of the `agent-release-operator` ServiceAccount bound to the
chart's ClusterRole, so the local stack exercises the same least-privilege RBAC as a
cluster install, and to Prometheus over TLS verified with the stack CA.

It runs as the chart runs it (`sandbox.py`): uid/gid 65532, no groups, no
capabilities, no_new_privs, a read-only tree and a tmpfs at /tmp, the only place it
can write; its environment is the image's (HOME=/tmp, LOGNAME, no bytecode writes).
What it reads that is secret, its kubeconfig with the token and its CA file, is in
`<stack>/operator/secrets/`, owned by that uid and readable by it alone (0400 in a
0500 folder).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from localstack import ports, procs
from localstack.clients import Kubectl
from localstack.stack import StackInfo
from localstack.waiting import Pending

from . import sandbox

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "crds"
POLICIES = REPO / "policies"
CHART = REPO / "charts" / "agent-release-operator"
NAMESPACE = "agent-release-system"
ACCOUNT = "agent-release-operator"


DEFAULT = "operator"  # the one instance most tests and the demo run; HA tests add others


@dataclass(frozen=True)
class OperatorInfo:
    pid: int
    start_ticks: int
    metrics_url: str
    log: Path
    health_url: str = ""
    instance: str = DEFAULT

    @property
    def record(self) -> procs.ProcessRecord:
        return procs.ProcessRecord(self.pid, self.start_ticks)

    def health(self) -> dict[str, Any]:
        """What its /healthz says: role (leader or standby), identity, the Lease's holder."""
        import urllib.request  # noqa: PLC0415

        with urllib.request.urlopen(self.health_url, timeout=3) as response:
            state: dict[str, Any] = json.loads(response.read())
            return state


def _state_file(stack_dir: Path, instance: str = DEFAULT) -> Path:
    return stack_dir / f"{instance}.json"


def log_file(stack_dir: Path, instance: str = DEFAULT) -> Path:
    return stack_dir / "logs" / f"{instance}.log"


def install(kubectl: Kubectl) -> None:
    """CRDs and the shipped policies, applied server-side (idempotent)."""
    kubectl.run("apply", "--server-side", "--force-conflicts", "-f", str(CRDS))
    kubectl.run("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    kubectl.run("apply", "--server-side", "--force-conflicts", "-f", str(POLICIES))


def _rbac_objects(stack: StackInfo) -> list[dict[str, Any]]:
    """The chart's ServiceAccount, ClusterRole and binding, rendered by Helm: the
    operator on the local stack has exactly the permissions the chart grants."""
    templates = ("serviceaccount", "clusterrole", "clusterrolebinding", "role", "rolebinding")
    command = [str(stack.helm), "template", ACCOUNT, str(CHART), "--namespace", NAMESPACE]
    for name in templates:
        command += ["--show-only", f"templates/{name}.yaml"]
    rendered = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def run_dir(stack_dir: Path) -> Path:
    """The operator's own files: `secrets/`, its uid's only."""
    return stack_dir / "operator"


def _private(path: Path, content: str) -> Path:
    """Write `content` readable by the operator's uid alone (0400), atomically."""
    fresh = path.with_name(f".{path.name}.new")
    fresh.write_text(content)
    os.chown(fresh, sandbox.UID, sandbox.GID)
    fresh.chmod(0o400)
    fresh.replace(path)
    return path


def _secrets(stack_dir: Path) -> Path:
    folder = run_dir(stack_dir) / "secrets"
    folder.mkdir(parents=True, exist_ok=True)
    os.chown(folder, sandbox.UID, sandbox.GID)
    folder.chmod(0o500)
    return folder


def kubeconfig(stack: StackInfo, kubectl: Kubectl) -> Path:
    """A kubeconfig for the operator's ServiceAccount (a fresh 24 h token), and the CA
    file it names, both in the operator's secrets folder."""
    kubectl.apply(
        [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
            *_rbac_objects(stack),
        ]
    )
    token = kubectl.run("create", "token", ACCOUNT, "-n", NAMESPACE, "--duration=24h").strip()
    secrets = _secrets(stack.stack_dir)
    ca_file = _private(secrets / "ca.crt", stack.ca_file.read_text())
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {
                    "server": stack.api_server_url,
                    "certificate-authority": str(ca_file),
                },
            }
        ],
        "users": [{"name": ACCOUNT, "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "local", "user": ACCOUNT}}],
        "current-context": "operator",
    }
    return _private(secrets / "kubeconfig", yaml.safe_dump(config))


def running(stack_dir: Path, instance: str = DEFAULT) -> OperatorInfo | None:
    state = _state_file(stack_dir, instance)
    if not state.exists():
        return None
    data = json.loads(state.read_text())
    record = procs.ProcessRecord(data["pid"], data["start_ticks"])
    if not procs.is_running(record):
        return None
    return _info(data, stack_dir, instance)


def _info(data: dict[str, Any], stack_dir: Path, instance: str) -> OperatorInfo:
    return OperatorInfo(
        data["pid"],
        data["start_ticks"],
        data["metrics_url"],
        log_file(stack_dir, instance),
        data.get("health_url", ""),
        instance,
    )


# Leader election on the local stack: a standby takes over within 6 s of the leader's last
# renewal (in production: 15 s, client-go's default), so failover tests stay short.
LEASE = {
    "AGENT_RELEASE_LEASE_SECONDS": "6",
    "AGENT_RELEASE_RENEW_DEADLINE_SECONDS": "4",
    "AGENT_RELEASE_RETRY_SECONDS": "1",
}


def start(stack: StackInfo, kubectl: Kubectl, instance: str = DEFAULT, **env: str) -> OperatorInfo:
    """Start an operator replica unless it runs already; `env` overrides its settings."""
    current = running(stack.stack_dir, instance)
    if current is not None:
        return current
    install(kubectl)
    allocated = ports.allocate([f"{instance}-metrics", f"{instance}-health"])
    port, health = allocated[f"{instance}-metrics"], allocated[f"{instance}-health"]
    config = kubeconfig(stack, kubectl)
    venv = runtime_venv()
    settings = {
        # the image's environment (Dockerfile), not the caller's
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": str(sandbox.TMP),
        "TMPDIR": str(sandbox.TMP),
        "LOGNAME": "agent-release",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        **{k: v for k, v in os.environ.items() if k.startswith("AGENT_RELEASE_")},
        "KUBECONFIG": str(config),
        "PROMETHEUS_URL": stack.prometheus_url,
        "PROMETHEUS_CA_FILE": str(config.with_name("ca.crt")),
        "POD_NAME": instance,
        "POD_NAMESPACE": NAMESPACE,
        "AGENT_RELEASE_METRICS_ADDRESS": "127.0.0.1",
        "AGENT_RELEASE_METRICS_PORT": str(port),
        "AGENT_RELEASE_HEALTH_PORT": str(health),
        "AGENT_RELEASE_RECONCILE_SECONDS": "2",
        "AGENT_RELEASE_TICK_SECONDS": "1",
        **LEASE,
        **env,
    }
    command = _sandboxed(stack.stack_dir, [str(venv / "bin" / "agent-release"), "operator"])
    record = procs.start(command, log_file(stack.stack_dir, instance), env=settings)
    data = {
        "pid": record.pid,
        "start_ticks": record.start_ticks,
        "metrics_url": f"http://127.0.0.1:{port}/metrics",
        "health_url": f"http://127.0.0.1:{health}/healthz",
    }
    info = _info(data, stack.stack_dir, instance)
    _state_file(stack.stack_dir, instance).write_text(json.dumps(data))
    _wait_ready(info)
    return info


def runtime_venv() -> Path:
    """The environment the operator runs from: the image's packages only (`make install`
    builds it and names it in AGENT_RELEASE_OPERATOR_VENV), else the caller's own."""
    named = os.environ.get("AGENT_RELEASE_OPERATOR_VENV")
    if named and (Path(named) / "bin" / "agent-release").exists():
        return Path(named)
    return Path(sys.prefix)


def _sandboxed(stack_dir: Path, command: list[str]) -> list[str]:
    """`command` as `sandbox.py` runs it: unprivileged, on a read-only tree."""
    if os.geteuid() != 0:
        raise RuntimeError("the operator's sandbox starts as root, to drop to uid 65532")
    exposed = [Path(sys.prefix), runtime_venv(), Path(sys.base_prefix), REPO, _secrets(stack_dir)]
    return [
        sys.executable,
        "-I",  # the launcher needs nothing but the standard library
        sandbox.__file__,
        "--home",
        str(Path.home()),
        *(f"--expose={path}" for path in exposed),
        "--",
        *command,
    ]


def _wait_ready(info: OperatorInfo, timeout: float = 60.0) -> None:
    """Up when its log says the operator started and its metrics endpoint answers."""
    import urllib.request  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(info.metrics_url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if (
            not procs.is_running(procs.ProcessRecord(info.pid, 0))
            and not Path(f"/proc/{info.pid}").exists()
        ):
            break
        time.sleep(0.5)
    tail = "\n".join(info.log.read_text(errors="replace").splitlines()[-30:])
    raise RuntimeError(f"the operator did not come up; last log lines:\n{tail}")


def stop(stack_dir: Path, instance: str = DEFAULT) -> bool:
    """Stop the operator replica if it runs; True if there was one."""
    state = _state_file(stack_dir, instance)
    if not state.exists():
        return False
    data = json.loads(state.read_text())
    procs.stop([procs.ProcessRecord(data["pid"], data["start_ticks"])])
    state.unlink()
    return True


def leader(replicas: Mapping[str, OperatorInfo | None]) -> str:
    """The one replica whose /healthz says it leads; :class:`Pending` unless exactly one."""
    leading = []
    for name, info in replicas.items():
        try:
            if info is not None and info.health()["role"] == "leader":
                leading.append(name)
        except OSError:
            continue
    if len(leading) != 1:
        raise Pending(f"leaders: {leading}")
    return leading[0]


def effects(log: Path, since: float = 0.0) -> list[dict[str, Any]]:
    """The effects a replica logged in `log` (its structured `"effect"` lines, each with
    the `replica` that sent it), at or after `since`."""
    out = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"effect"' not in line:
            continue
        entry = json.loads(line)
        if entry.get("event") == "effect" and log_time(entry) >= since:
            out.append(entry)
    return out


def log_time(entry: Mapping[str, Any]) -> float:
    """When a structured log line was written, in seconds since the epoch."""
    stamp: str = entry["timestamp"]
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def kill(stack_dir: Path, instance: str = DEFAULT) -> None:
    """SIGKILL, as a crash would: no cleanup handlers run."""
    state = _state_file(stack_dir, instance)
    data = json.loads(state.read_text())
    os.killpg(data["pid"], 9)
    record = procs.ProcessRecord(data["pid"], data["start_ticks"])
    while procs.is_running(record):
        time.sleep(0.05)
    state.unlink()
