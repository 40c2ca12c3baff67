"""Two operator replicas, one Lease: failover and fencing on the real API server.

The session's operator (`operator`) and a second replica (`operator-b`) run side by
side with the local stack's lease timing (`demo.operator.LEASE`: 6 s lease, 4 s renew
deadline, 1 s retry). Effects are logged by the replica that sent them (`"effect"`,
with `replica`), so what each replica did is read from its own log.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from demo import operator
from localstack.clients import Kubectl
from localstack.stack import StackInfo
from localstack.waiting import Pending, wait_for

from .test_operator import ARELS, canary, status, wait_phase

pytestmark = pytest.mark.e2e

LEASE_SECONDS = float(operator.LEASE["AGENT_RELEASE_LEASE_SECONDS"])
LEASE = "agent-release-operator"
INTERVAL = 10.0  # the e2e policy's analysisInterval


@pytest.fixture
def replicas(
    running_operator: operator.OperatorInfo, stack: StackInfo, kubectl: Kubectl
) -> Iterator[dict[str, operator.OperatorInfo]]:
    """Two replicas; afterwards the session's operator alone again, as the other tests
    expect it."""
    # the session's replica as it runs now (an earlier test may have restarted it)
    first = operator.running(stack.stack_dir) or operator.start(stack, kubectl)
    second = operator.start(stack, kubectl, "operator-b")
    try:
        yield {"operator": first, "operator-b": second}
    finally:
        for instance in ("operator-b", operator.DEFAULT):
            info = operator.running(stack.stack_dir, instance)
            if info is not None:
                os.kill(info.pid, signal.SIGCONT)
        operator.stop(stack.stack_dir, "operator-b")
        if operator.running(stack.stack_dir) is None:
            operator.start(stack, kubectl)
        wait_for(
            lambda: operator.leader({"operator": operator.running(stack.stack_dir)}), 30, "a leader"
        )


def test_the_standby_takes_over_when_the_leader_dies(
    replicas: dict[str, operator.OperatorInfo],
    stack: StackInfo,
    kubectl: Kubectl,
    namespace: str,
    agent: str,
    test_policy: str,
) -> None:
    began = time.time()  # replicas' logs outlive a test: read what came after
    leader = wait_for(lambda: operator.leader(dict(replicas)), 30, "one leader")
    standby = next(name for name in replicas if name != leader)
    lease = kubectl.json("get", "lease", LEASE, "-n", operator.NAMESPACE)
    assert lease["spec"]["holderIdentity"].rsplit("_", 1)[0] == leader  # what a person sees
    baking = canary(kubectl, namespace, agent, test_policy)
    looks = baking.get("analysis", {}).get("look", 0)
    # only the leader acted on the canary so far
    assert operator.effects(replicas[leader].log, since=began)
    assert operator.effects(replicas[standby].log, since=began) == []
    died = time.time()
    operator.kill(stack.stack_dir, leader)
    took_over = wait_for(
        lambda: operator.leader({standby: replicas[standby]}), 30, "the standby leads"
    )
    assert took_over == standby
    led_after = time.time() - died

    def acted() -> dict[str, Any]:
        current = status(kubectl, namespace, f"{agent}-v2")
        if (current.get("analysis") or {}).get("look", 0) <= looks:
            raise Pending("no look by the new leader yet")
        return current

    wait_for(acted, 60, "a look by the new leader")
    acted_after = time.time() - died
    print(f"failover: leader after {led_after:.1f} s, first look after {acted_after:.1f} s")
    assert acted_after < LEASE_SECONDS + INTERVAL + 5
    done = wait_phase(kubectl, namespace, f"{agent}-v2", "Promoted")
    assert done["progress"] == "3/3 100%"
    assert replicas[standby].health()["role"] == "leader"
    # the new leader finished the canary
    assert operator.effects(replicas[standby].log, since=died)
    table = kubectl.run("get", ARELS, f"{agent}-v2", "-n", namespace)
    assert "Promoted" in table


def test_a_leader_stopped_past_its_lease_is_fenced_and_writes_nothing(
    replicas: dict[str, operator.OperatorInfo],
    stack: StackInfo,
    kubectl: Kubectl,
    namespace: str,
    agent: str,
    test_policy: str,
) -> None:
    """SIGSTOP (a hung or partitioned process) for longer than the lease, then SIGCONT:
    the standby leads meanwhile, and the old leader, resumed, sends nothing."""
    leader = wait_for(lambda: operator.leader(dict(replicas)), 30, "one leader")
    standby = next(name for name in replicas if name != leader)
    canary(kubectl, namespace, agent, test_policy)
    os.kill(replicas[leader].pid, signal.SIGSTOP)
    stopped = time.time()
    wait_for(lambda: operator.leader({standby: replicas[standby]}), 30, "the standby leads")
    time.sleep(LEASE_SECONDS)  # well past the lease, with the new leader acting
    resumed = time.time()
    os.kill(replicas[leader].pid, signal.SIGCONT)
    done = wait_phase(kubectl, namespace, f"{agent}-v2", "Promoted")
    assert done["progress"] == "3/3 100%"
    time.sleep(2)  # the resumed replica had every chance to act
    assert replicas[leader].health()["role"] == "standby"
    assert operator.effects(replicas[leader].log, since=resumed - 1) == [], "a fenced replica acted"
    # the new leader finished the canary
    assert operator.effects(replicas[standby].log, since=stopped)
