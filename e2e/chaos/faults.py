"""The faults the campaign injects, one at a time, at moments a seeded RNG draws.

- `kill-leader`: SIGKILL of the replica that leads (its /healthz says so), as a crash; it
  is started again after a short while (a new pid: a new identity in the Lease).
- `stop-leader`: SIGSTOP of the leader for longer than its lease, then SIGCONT: a hung
  or partitioned process that comes back believing it leads.
- `restart-prometheus`, `restart-kube-apiserver`, `restart-rollouts-controller`: the
  stack's component stopped (SIGTERM, SIGKILL 3 s later), kept down a while, started
  again on its own ports with its state (`localstack.stack.Stack.start_component`).

Each fault records when the thing it hit was out (`out_from`, `out_to`): the invariants
compare the Rollouts' history with those windows (no promotion while Prometheus is out).
"""

from __future__ import annotations

import enum
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from demo import operator
from localstack.clients import Kubectl
from localstack.stack import Stack, StackError, StackInfo
from localstack.waiting import wait_for


class Kind(enum.StrEnum):
    KILL_LEADER = "kill-leader"
    STOP_LEADER = "stop-leader"
    RESTART_PROMETHEUS = "restart-prometheus"
    RESTART_API_SERVER = "restart-kube-apiserver"
    RESTART_ROLLOUTS = "restart-rollouts-controller"


COMPONENT_OF = {
    Kind.RESTART_PROMETHEUS: "prometheus",
    Kind.RESTART_API_SERVER: "kube-apiserver",
    Kind.RESTART_ROLLOUTS: "rollouts-controller",
}

LEASE_SECONDS = float(operator.LEASE["AGENT_RELEASE_LEASE_SECONDS"])

DOWN_SECONDS: dict[Kind, tuple[float, float]] = {
    Kind.KILL_LEADER: (0.0, 3.0),  # dead before it is started again
    Kind.STOP_LEADER: (LEASE_SECONDS + 1, LEASE_SECONDS + 5),  # stopped past its lease
    Kind.RESTART_PROMETHEUS: (3.0, 20.0),
    Kind.RESTART_API_SERVER: (1.0, 5.0),
    Kind.RESTART_ROLLOUTS: (1.0, 8.0),
}
"""How long the target stays out, drawn uniformly from the range."""
STOP_GRACE = 3.0
"""Seconds from a component's SIGTERM to its SIGKILL: the API server's graceful stop
would wait about 30 s for its clients' watches."""


@dataclass(frozen=True)
class Fault:
    kind: Kind
    target: str
    """The replica (`operator`, `operator-b`) or the stack's component."""
    out_from: float
    out_to: float
    """Seconds since the epoch: from the signal or stop until the restart or SIGCONT."""
    recovered: float
    """When the target was healthy again (a replica leads, the component answers)."""


class Injector:
    """Injects `count` faults, one after another with random gaps, from its own thread."""

    def __init__(
        self,
        stack: Stack,
        info: StackInfo,
        kubectl: Kubectl,
        *,
        replicas: Sequence[str],
        rng: random.Random,
        count: int,
        gap: tuple[float, float],
        until: Callable[[], bool] = lambda: False,
    ) -> None:
        self._stack, self._info, self._kubectl = stack, info, kubectl
        self._replicas = list(replicas)
        self._rng = rng
        self._count = count
        self._gap = gap
        self._until = until
        self._stopping = threading.Event()
        self.faults: list[Fault] = []
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="faults", daemon=True)

    def start(self) -> Injector:
        self._thread.start()
        return self

    def join(self) -> None:
        self._thread.join()

    def stop(self) -> None:
        """Inject no further fault (the one in progress is finished and recovered)."""
        self._stopping.set()

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def plan(self) -> list[Kind]:
        """Every kind once first (in a random order), then kinds at random."""
        kinds = list(Kind)
        self._rng.shuffle(kinds)
        return (kinds + [self._rng.choice(list(Kind)) for _ in range(self._count)])[: self._count]

    def _run(self) -> None:
        try:
            for number, kind in enumerate(self.plan(), start=1):
                if self._stopping.wait(self._rng.uniform(*self._gap)) or self._until():
                    return
                fault = self._inject(kind, self._rng.uniform(*DOWN_SECONDS[kind]))
                self.faults.append(fault)
                print(
                    f"chaos: fault {number}/{self._count} {kind} on {fault.target}: out "
                    f"{fault.out_to - fault.out_from:.1f} s, healthy after "
                    f"{fault.recovered - fault.out_from:.1f} s",
                    flush=True,
                )
        except BaseException as error:  # the campaign reports it and fails
            self.error = error

    def _inject(self, kind: Kind, down: float) -> Fault:
        if kind in COMPONENT_OF:
            component = COMPONENT_OF[kind]
            out_from = time.time()
            self._stack.stop_component(component, grace=STOP_GRACE)
            time.sleep(down)
            out_to = time.time()
            try:
                self._stack.start_component(component)
            except StackError as error:  # not healthy in time: said, then repaired by `up`
                print(f"chaos: {component} did not come back in time: {error}", flush=True)
                self._stack.up()
            self._wait_leader()  # every fault ends with the operator in charge again
            return Fault(kind, component, out_from, out_to, time.time())
        target = self._wait_leader()
        stack_dir = self._info.stack_dir
        if kind is Kind.KILL_LEADER:
            out_from = time.time()
            operator.kill(stack_dir, target)
            time.sleep(down)
            out_to = time.time()
            operator.start(self._info, self._kubectl, target)
        else:
            info = operator.running(stack_dir, target)
            assert info is not None
            out_from = time.time()
            os.killpg(info.pid, signal.SIGSTOP)
            time.sleep(down)
            out_to = time.time()
            os.killpg(info.pid, signal.SIGCONT)
        self._wait_leader()
        return Fault(kind, target, out_from, out_to, time.time())

    def _wait_leader(self) -> str:
        stack_dir = self._info.stack_dir
        return wait_for(
            lambda: operator.leader(
                {name: operator.running(stack_dir, name) for name in self._replicas}
            ),
            120,
            "one leading replica",
        )
