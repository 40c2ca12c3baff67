"""A short chaos campaign (`make chaos` runs the full one): two lanes of releases, good
and bad, with two operator replicas, and each kind of fault once at a random moment
(`e2e/chaos`). Every invariant is checked from Argo's record and the replicas' logs.
`AGENT_RELEASE_CHAOS_SEED` picks another campaign (default 1)."""

from __future__ import annotations

import contextlib
import os
import signal

import pytest

from chaos import campaign
from chaos.faults import Kind
from demo import operator
from localstack.clients import Kubectl
from localstack.stack import Stack, StackInfo
from localstack.waiting import wait_for

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(360)
def test_a_short_chaos_campaign_breaks_no_invariant(
    running_operator: operator.OperatorInfo, stack: StackInfo, kubectl: Kubectl
) -> None:
    seed = int(os.environ.get("AGENT_RELEASE_CHAOS_SEED", "1"))
    try:
        report = campaign.run(Stack(stack.stack_dir), stack, campaign.short(seed))
    finally:  # the session's operator alone again, as the other tests expect it
        for name in campaign.REPLICAS:
            info = operator.running(stack.stack_dir, name)
            if info is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(info.pid, signal.SIGCONT)
        operator.stop(stack.stack_dir, "operator-b")
        if operator.running(stack.stack_dir) is None:
            operator.start(stack, kubectl)
        only = {operator.DEFAULT: operator.running(stack.stack_dir)}
        wait_for(lambda: operator.leader(only), 30, "a leader")
    summary = "\n".join(report.lines())
    print(summary)
    assert {fault.kind for fault in report.faults} == set(Kind), summary
    kinds = sorted(run.kind for run in report.runs if not run.first)
    assert kinds == ["failing", "good", "good", "violating"], summary
    assert all(run.finished is not None for run in report.runs), summary
    assert report.ok, summary
