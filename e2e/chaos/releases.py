"""The releases of the campaign: lanes of agents, each a baseline then candidates.

A lane releases one agent at a time in a namespace of its own: the first release (Argo
deploys it at once), then up to three candidates, each good or bad at random, one after
the other (each waits for the previous one to finish, so none supersedes another). The
test builders' reports make each generation better than the one before on every eval,
for four generations; the lane then starts a new agent. Several lanes run at once.

A bad candidate's pods behave so that a guardrail regresses (`agent_sim/behaviour.py`):
`violating` commits hard policy violations (a `PolicyViolation` rollback), `failing`
succeeds at 60 % of tasks instead of 92 % (a gross regression: `GuardrailBreached`).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent_release.api.release import Phase
from builders.stack import HEALTHY, release, reports
from localstack.clients import Kubectl, KubectlError

ARELS = "agentreleases.agentrelease.dev"
GENERATIONS = 4
"""How many releases of one agent the builders' reports can make (each better)."""

BEHAVIOURS: dict[str, dict[str, Any]] = {
    "good": HEALTHY,
    "violating": {**HEALTHY, "policyViolationRate": 0.05},
    "failing": {**HEALTHY, "successRate": 0.60},
}
EXPECTED: dict[str, str] = {
    "good": "Promoted",
    "violating": "PolicyViolation",
    "failing": "GuardrailBreached",
}
"""What each kind of release must end as: promoted, or rolled back for this reason."""

FINAL = {phase.value for phase in Phase if phase.final}


@dataclass
class ReleaseRun:
    namespace: str
    agent: str
    name: str
    kind: str
    """`good`, `violating` or `failing` (a first release is always good)."""
    first: bool
    created: float
    finished: float | None = None
    phase: str | None = None
    reason: str | None = None
    """What the operator's status says at the end (compared with Argo's record)."""


class Lane:
    """One lane of releases, in its own thread; `plan` fixes the candidates' kinds
    (the short campaign), else they are drawn until `stopping()`."""

    def __init__(
        self,
        number: int,
        kubectl: Kubectl,
        *,
        policy: str,
        rng: random.Random,
        deadline: Callable[[str], float],
        stopping: Callable[[], bool],
        plan: list[str] | None = None,
        bad_share: float = 0.4,
    ) -> None:
        self.number = number
        self._kubectl = kubectl
        self._policy = policy
        self._rng = rng
        self._deadline = deadline
        self._stopping = stopping
        self._plan = plan
        self._bad_share = bad_share
        self.runs: list[ReleaseRun] = []
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"lane {number}", daemon=True)

    def start(self) -> Lane:
        self._thread.start()
        return self

    def join(self) -> None:
        self._thread.join()

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def _kind(self) -> str:
        if self._rng.random() >= self._bad_share:
            return "good"
        return self._rng.choice(["violating", "failing"])

    def _run(self) -> None:
        try:
            if self._plan is not None:
                self._agent(list(self._plan))
                return
            while not self._stopping():
                self._agent(None)
        except BaseException as error:  # the campaign reports it and fails
            self.error = error

    def _agent(self, plan: list[str] | None) -> None:
        """One agent: its first release, then candidates until the plan, the generations
        or the campaign ends, or one of them does not finish (the lane moves on)."""
        agent = f"chaos-{uuid.uuid4().hex[:6]}"  # unique in Prometheus across runs
        namespace = agent
        _retrying(lambda: self._kubectl.run("create", "namespace", namespace))
        try:
            if not self._release(namespace, agent, 1, "good"):
                return
            for generation in range(2, GENERATIONS + 1):
                if plan is not None and not plan:
                    return
                if plan is None and self._stopping():
                    return
                kind = plan.pop(0) if plan is not None else self._kind()
                if not self._release(namespace, agent, generation, kind):
                    return
        finally:
            # the agent is done (its history is in the watch): its 20 pods go, so that the
            # simulator's load stays that of the lanes, not of every agent released so far
            _retrying(lambda: self._kubectl.run("delete", "namespace", namespace, "--wait=false"))

    def _release(self, namespace: str, agent: str, generation: int, kind: str) -> bool:
        """Ship one release and wait until it is final; False if it never was."""
        version = f"v{generation}"
        objects = [
            *reports(agent, version, generation),
            release(agent, version, self._policy, BEHAVIOURS[kind]),
        ]
        run = ReleaseRun(namespace, agent, f"{agent}-{version}", kind, generation == 1, time.time())
        _retrying(lambda: self._kubectl.apply(objects, "-n", namespace))
        self.runs.append(run)
        print(f"chaos: lane {self.number}: {run.name} ({kind}) shipped", flush=True)
        deadline = run.created + self._deadline("first" if run.first else kind)
        status: dict[str, Any] = {}
        while time.time() < deadline:
            try:
                body = self._kubectl.json("get", ARELS, run.name, "-n", namespace)
            except KubectlError:  # the API server restarts
                time.sleep(1)
                continue
            status = body.get("status") or {}
            if status.get("phase") in FINAL:
                run.finished, run.phase = time.time(), status["phase"]
                run.reason = (status.get("rollback") or {}).get("reason") or status.get("reason")
                print(
                    f"chaos: lane {self.number}: {run.name} ({kind}) {run.phase} "
                    f"{run.reason} after {run.finished - run.created:.0f} s",
                    flush=True,
                )
                return True
            time.sleep(1)
        seen = f"{status.get('phase')} {status.get('reason')}"
        print(f"chaos: lane {self.number}: {run.name} ({kind}) STUCK at {seen}", flush=True)
        return False


def _retrying(action: Callable[[], object], timeout: float = 120) -> None:
    """Run a kubectl action, again while the API server is away (a fault)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            action()
            return
        except KubectlError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
