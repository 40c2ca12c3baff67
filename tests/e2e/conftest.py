"""Fixtures for end-to-end tests on the local stack of real components (``e2e/README.md``).

Use them from any test marked ``e2e``:

``stack`` (session)
    A :class:`localstack.stack.StackInfo` for a healthy stack: ``kubeconfig``,
    ``api_server_url``, ``prometheus_url``, ``ca_file`` (verifies every TLS listener of the
    stack, Prometheus included), ``stack_dir`` and ``kubectl`` (the binary). A healthy stack
    that is already running in ``AGENT_RELEASE_STACK_DIR`` is reused and left running;
    otherwise the fixture starts one and stops it at the end of the session (set
    ``AGENT_RELEASE_KEEP_STACK=1`` to keep it for debugging).
``kubectl``
    A :class:`localstack.clients.Kubectl` acting as cluster admin.
``namespace``
    A fresh namespace, deleted (without waiting) after the test.
``prometheus``
    A :class:`localstack.clients.Prometheus` query client for the stack's Prometheus.
``running_operator`` (session)
    The operator, started once for the session as the chart runs it (unprivileged, on a
    read-only tree: ``demo/sandbox.py``), with the chart's ServiceAccount; the crash
    tests restart it.
``agent``, ``test_policy``
    A fresh agent name, and a ReleasePolicy of its own (``builders.stack.policy``).

Waiting: ``from localstack.waiting import Pending, wait_for`` — checks raise ``Pending``
with what they saw until the condition holds; ``wait_for`` fails with that text at its
deadline. Never sleep to assert.

The Go components are built before the first test runs (see
:func:`pytest_collection_finish`), outside the per-test timeout: a cold Kubernetes build
takes longer than any single test may.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from builders.stack import policy
from demo import operator
from localstack.builds import build_all
from localstack.clients import Kubectl, Prometheus
from localstack.stack import Stack, StackError, StackInfo


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build missing Go components when e2e tests are selected, with output shown."""
    if not any(item.get_closest_marker("e2e") for item in session.items):
        return
    capture = session.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        build_all(Stack().cache)


@pytest.fixture(scope="session")
def stack() -> Iterator[StackInfo]:
    """The local stack, started on demand (see the module docstring)."""
    instance = Stack()
    statuses = instance.status()
    was_running = statuses is not None and all(s.healthy for s in statuses)
    try:
        info = instance.up()
    except StackError as error:
        instance.down()  # logs stay in <stack>/logs
        pytest.fail(f"the local stack did not come up:\n{error}", pytrace=False)
    yield info
    if not was_running and os.environ.get("AGENT_RELEASE_KEEP_STACK") != "1":
        instance.down()


@pytest.fixture
def kubectl(stack: StackInfo) -> Kubectl:
    return Kubectl(stack.kubectl, stack.kubeconfig)


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "namespace", name)
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false")


@pytest.fixture
def prometheus(stack: StackInfo) -> Iterator[Prometheus]:
    client = Prometheus(stack.prometheus_url, stack.ca_file)
    yield client
    client.close()


@pytest.fixture(scope="session")
def helm() -> Path:
    """The Helm binary of the stack's builds (built before the tests run)."""
    from localstack.builds import HELM, ensure_built  # noqa: PLC0415

    return ensure_built(Stack().cache, HELM) / "helm"


# -- the operator and its test subjects (tests/e2e/test_operator.py, test_ha.py) ----------


@pytest.fixture(scope="session")
def running_operator(stack: StackInfo) -> Iterator[operator.OperatorInfo]:
    """The operator, started once for the session (restarted by the crash tests)."""
    kubectl = Kubectl(stack.kubectl, stack.kubeconfig)
    operator.stop(stack.stack_dir)
    info = operator.start(stack, kubectl)
    yield info
    operator.stop(stack.stack_dir)


@pytest.fixture
def agent() -> str:
    return f"agent-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def test_policy(kubectl: Kubectl, agent: str) -> Iterator[str]:
    name = f"e2e-{agent}"
    kubectl.apply([policy(name)])
    yield name
    kubectl.run("delete", "releasepolicy", name, "--wait=false")
