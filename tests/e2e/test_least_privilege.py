"""Least privilege, verified on the real API server and on the operator's process.

RBAC: every resource and subresource the API server serves (its discovery documents,
what `kubectl api-resources` lists, plus subresources such as pods/exec), every verb,
asked of the authorizer for the chart's ServiceAccount in every kind of namespace. What
it is allowed beyond what any ServiceAccount is allowed must equal what the code calls
(tests/test_packaging.py derives that from the operator's source and kopf's registry).

The process: the operator runs as the chart runs it (demo/sandbox.py), and this reads
its credentials and mounts from /proc and probes its filesystem with its own identity.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from demo import operator, sandbox
from localstack.clients import Kubectl
from localstack.stack import StackInfo
from tests.test_packaging import namespace_grants, needed_grants

pytestmark = pytest.mark.e2e

Grant = tuple[str, str, str]  # API group, resource (or resource/subresource), verb
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
# Verbs RBAC checks on particular resources only: a grant of any of them is a way up.
SPECIAL = {
    ("rbac.authorization.k8s.io", "roles"): ("bind", "escalate"),
    ("rbac.authorization.k8s.io", "clusterroles"): ("bind", "escalate"),
    ("", "serviceaccounts"): ("impersonate",),
    ("", "users"): ("impersonate",),
    ("", "groups"): ("impersonate",),
    ("authentication.k8s.io", "uids"): ("impersonate",),
    ("authentication.k8s.io", "userextras"): ("impersonate",),
    ("certificates.k8s.io", "certificatesigningrequests/approval"): ("approve",),
    ("certificates.k8s.io", "signers"): ("approve", "sign"),
}
REVIEWS = "authorization.k8s.io/v1/subjectaccessreviews"
OPERATOR = f"system:serviceaccount:{operator.NAMESPACE}:{operator.ACCOUNT}"


# -- the API server's own answers ---------------------------------------------------------


class Authorizer:
    """SubjectAccessReviews as cluster admin: what `kubectl auth can-i --as` asks."""

    def __init__(self, stack: StackInfo) -> None:
        config = yaml.safe_load(stack.kubeconfig.read_text())
        user = config["users"][0]["user"]
        tls = ssl.create_default_context(cafile=str(stack.ca_file))
        tls.load_cert_chain(user["client-certificate"], user["client-key"])
        self.client = httpx.Client(base_url=stack.api_server_url, verify=tls, timeout=30)

    def get(self, path: str) -> Any:
        response = self.client.get(path)
        response.raise_for_status()
        return response.json()

    def allowed(self, account: str, namespace: str, grant: Grant) -> bool:
        group, resource, verb = grant
        plural, _, sub = resource.partition("/")
        account_ns = account.split(":")[2]
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": account,
                # the groups the API server gives every ServiceAccount token
                "groups": [
                    "system:serviceaccounts",
                    f"system:serviceaccounts:{account_ns}",
                    "system:authenticated",
                ],
                "resourceAttributes": {
                    "group": group,
                    "resource": plural,
                    "subresource": sub,
                    "verb": verb,
                    "namespace": namespace,
                },
            },
        }
        response = self.client.post(f"/apis/{REVIEWS}", json=review)
        response.raise_for_status()
        return bool(response.json()["status"].get("allowed"))


def served(api: Authorizer) -> dict[tuple[str, str], bool]:
    """(group, resource or resource/subresource) -> namespaced, for everything served.

    The preferred version of every group, as `kubectl api-resources` lists them, plus
    the subresources the same discovery documents name (pods/exec, rollouts/status...).
    """
    lists = [("", api.get("/api/v1"))]
    for group in api.get("/apis")["groups"]:
        version = group["preferredVersion"]["groupVersion"]
        lists.append((group["name"], api.get(f"/apis/{version}")))
    return {
        (group, resource["name"]): resource["namespaced"]
        for group, body in lists
        for resource in body["resources"]
    }


@pytest.fixture(scope="module")
def api(stack: StackInfo, running_operator: operator.OperatorInfo) -> Iterator[Authorizer]:
    """The authorizer, once the operator's CRDs and the chart's RBAC are installed."""
    authorizer = Authorizer(stack)
    yield authorizer
    authorizer.client.close()


@pytest.fixture
def nobody(kubectl: Kubectl, namespace: str) -> str:
    """A ServiceAccount bound to nothing: what every identity may do anyway."""
    kubectl.run("create", "serviceaccount", "nobody", "-n", namespace)
    return f"system:serviceaccount:{namespace}:nobody"


def _questions(resources: dict[tuple[str, str], bool]) -> list[Grant]:
    grants = [(g, r, verb) for (g, r) in resources for verb in VERBS]
    grants += [(g, r, verb) for (g, r), verbs in SPECIAL.items() for verb in verbs]
    return grants


def test_the_service_account_can_do_exactly_what_the_code_calls(
    api: Authorizer, kubectl: Kubectl, namespace: str, nobody: str
) -> None:
    """In every namespace (the operator's own, a tenant's, kube-system) and cluster-wide:
    granted beyond what any ServiceAccount gets == what the code calls, nothing else
    (in its own namespace, also its Lease)."""
    resources = served(api)
    needed = needed_grants()
    assert {(g, r) for g, r, _ in needed} <= set(resources), "the code calls what is served"
    for must in ("secrets", "configmaps", "pods/exec", "pods/attach", "serviceaccounts/token"):
        assert ("", must) in resources
    asked = 0
    for where in ("", operator.NAMESPACE, namespace, "kube-system"):
        questions = [q for q in _questions(resources) if where == "" or resources.get(q[:2], True)]
        extra = {
            q
            for q in questions
            if api.allowed(OPERATOR, where, q) and not api.allowed(nobody, where, q)
        }
        asked += len(questions)
        expected = {q for q in needed if where == "" or resources[q[:2]]}
        if where == operator.NAMESPACE:  # and its Lease, by the Role there
            expected |= namespace_grants()
        scope = f"namespace {where}" if where else "cluster-wide"
        assert extra - expected == set(), f"{scope}: granted but never called"
        assert expected - extra == set(), f"{scope}: called but not granted"
    assert asked > 2500  # every resource, subresource and verb, in four scopes


@pytest.mark.parametrize(
    ("verb", "resource"),
    [
        ("get", "secrets"),
        ("list", "secrets"),
        ("watch", "secrets"),
        ("get", "configmaps"),
        ("create", "pods/exec"),
        ("create", "pods"),
        ("create", "serviceaccounts/token"),
        ("create", "leases.coordination.k8s.io"),
        ("update", "agentreleases.agentrelease.dev"),
        ("patch", "agentreleases.agentrelease.dev"),
        ("delete", "rollouts.argoproj.io"),
        ("get", "deployments.apps"),
        ("create", "customresourcedefinitions.apiextensions.k8s.io"),
        ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
        ("bind", "clusterroles.rbac.authorization.k8s.io"),
        ("escalate", "roles.rbac.authorization.k8s.io"),
        ("impersonate", "serviceaccounts"),
        ("get", "nodes/proxy"),
        ("get", "pods/log"),
    ],
)
def test_kubectl_auth_can_i_refuses(
    running_operator: operator.OperatorInfo, kubectl: Kubectl, verb: str, resource: str
) -> None:
    """What a person types to check, as the operator's identity, in every namespace."""
    done = subprocess.run(
        [
            str(kubectl.binary),
            f"--kubeconfig={kubectl.kubeconfig}",
            "auth",
            "can-i",
            verb,
            resource,
            f"--as={OPERATOR}",
            "--all-namespaces",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (1, "no"), done.stderr


def _listed(kubectl: Kubectl, account: str, namespace: str) -> set[Grant]:
    """`kubectl auth can-i --list --as=<account> -n <namespace>`, as grants.

    Rows are `resource.group[/sub]  [non-resource URLs]  [resource names]  [verbs]`;
    a grant limited to resource names would show them (the chart has none).
    """
    table = kubectl.run("auth", "can-i", "--list", f"--as={account}", "-n", namespace)
    grants: set[Grant] = set()
    for line in table.splitlines()[1:]:
        row = re.fullmatch(r"(\S+)\s+\[(.*?)\]\s+\[(.*?)\]\s+\[(.*?)\]\s*", line)
        if row is None:
            continue  # a non-resource URL (/healthz, /version...): no resource column
        name, _, names, verbs = row.groups()
        assert names == "", f"{account}: a grant by resource name: {line}"
        kind, _, sub = name.partition("/")
        plural, _, group = kind.partition(".")
        grants |= {(group, f"{plural}/{sub}" if sub else plural, v) for v in verbs.split()}
    return grants


def test_kubectl_auth_can_i_list_shows_the_derived_rules(
    running_operator: operator.OperatorInfo, kubectl: Kubectl, namespace: str, nobody: str
) -> None:
    listed = _listed(kubectl, OPERATOR, namespace) - _listed(kubectl, nobody, namespace)
    assert listed == needed_grants()


# -- the operator's process ---------------------------------------------------------------


def _status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


@pytest.fixture
def current(stack: StackInfo, running_operator: operator.OperatorInfo) -> operator.OperatorInfo:
    """The operator now running (the crash tests of the session restart it)."""
    info = operator.running(stack.stack_dir)
    assert info is not None, "the operator is not running"
    return info


def test_the_operator_runs_unprivileged_on_a_read_only_tree(
    current: operator.OperatorInfo, stack: StackInfo
) -> None:
    pid = current.pid
    status = _status(pid)
    # real, effective, saved and filesystem ids
    assert status["Uid"].split() == [str(sandbox.UID)] * 4
    assert status["Gid"].split() == [str(sandbox.GID)] * 4
    assert status["Groups"] == ""
    for caps in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[caps], 16) == 0, caps
    assert status["NoNewPrivs"] == "1"
    # every filesystem that stores files is read-only to it, but the emptyDir at /tmp
    # (of the mounts stacked on one point, the last one is the one seen)
    seen: dict[str, tuple[str, list[str]]] = {}
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields, _, rest = line.partition(" - ")
        seen[fields.split()[4]] = (rest.split()[0], fields.split()[5].split(","))
    writable = [
        (point, fstype)
        for point, (fstype, options) in seen.items()
        if "rw" in options and fstype not in sandbox.INTERFACES
    ]
    assert writable == [("/tmp", "tmpfs")]
    # it writes no file: what it holds open for writing is its log, sockets and pipes
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        flags = int(Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text().split()[3], 8)
        if flags & (os.O_WRONLY | os.O_RDWR) and target.startswith("/"):
            assert target in (str(current.log), "/dev/null"), target
    # its secrets are its own: 0400 in a 0500 folder, owned by its uid
    secrets = operator.run_dir(stack.stack_dir) / "secrets"
    modes = {secrets: 0o500, secrets / "kubeconfig": 0o400, secrets / "ca.crt": 0o400}
    for path, mode in modes.items():
        info = path.stat()
        owner = (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode))
        assert owner == (sandbox.UID, sandbox.GID, mode), path


PROBE = textwrap.dedent(
    """
    import json, os, sys
    out = {}
    for path in sys.argv[1:]:
        mode, _, path = path.partition(":")
        try:
            if mode == "w":
                with open(path, "x") as f:
                    f.write("x")
                os.unlink(path)
            else:
                open(path, "rb").read(1)
            out[path] = "ok"
        except OSError as error:
            out[path] = error.strerror
    print(json.dumps(out))
    """
)


def test_with_its_identity_in_its_mounts_only_tmp_is_writable(
    current: operator.OperatorInfo, stack: StackInfo
) -> None:
    """A probe enters the operator's mount namespace with the operator's uid, groups and
    capabilities: it may read its own secrets and write /tmp, nothing else; the stack's
    private keys and other kubeconfigs are out of its sight."""
    repo = Path(operator.REPO)
    secrets = operator.run_dir(stack.stack_dir) / "secrets"
    venv = Path(sys.prefix)
    checks = {
        "r:" + str(secrets / "kubeconfig"): "ok",
        "r:" + str(secrets / "ca.crt"): "ok",
        "w:/tmp/probe": "ok",
        "w:" + str(repo / "probe"): "Read-only file system",
        "w:" + str(repo / "operator" / "agent_release" / "probe.py"): "Read-only file system",
        "w:" + str(venv / "probe"): "Read-only file system",
        "w:" + str(venv / "bin" / "probe"): "Read-only file system",
        "w:" + str(Path(sys.base_prefix) / "probe"): "Read-only file system",
        "w:" + str(secrets / "probe"): "Read-only file system",
        "w:/probe": "Read-only file system",
        "w:/dev/shm/probe": "Read-only file system",
        "w:" + str(Path.home() / "probe"): "Read-only file system",
        "r:" + str(stack.stack_dir / "pki" / "admin.key"): "No such file or directory",
        "r:" + str(stack.kubeconfig): "No such file or directory",
    }
    done = subprocess.run(
        [
            "nsenter",
            f"--target={current.pid}",
            "--mount",
            "--",
            "setpriv",
            f"--reuid={sandbox.UID}",
            f"--regid={sandbox.GID}",
            "--clear-groups",
            "--no-new-privs",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
            sys.executable,
            "-I",
            "-c",
            PROBE,
            *checks,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout) == {k.partition(":")[2]: v for k, v in checks.items()}


def test_the_tree_is_not_writable_by_that_uid_even_without_the_mounts() -> None:
    """File modes alone keep uid 65532 out of the repository and the venv."""
    offenders = []
    for root in (Path(operator.REPO), Path(sys.prefix)):
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d != ".git"]
            for name in [*dirs, *files]:
                info = os.lstat(os.path.join(folder, name))
                if stat.S_ISLNK(info.st_mode):
                    continue
                mode = info.st_mode
                if (
                    info.st_uid == sandbox.UID
                    or mode & stat.S_IWOTH
                    or (info.st_gid == sandbox.GID and mode & stat.S_IWGRP)
                ):
                    offenders.append(os.path.join(folder, name))
    assert offenders == []
