"""Leader election on a Kubernetes Lease, with fencing: exactly one replica acts.

Every replica watches and keeps its registry warm; only the holder of the Lease
`agent-release-operator` (in the operator's namespace) reconciles, looks at canaries,
writes status or touches a Rollout. This is client-go's leader election, in the same
terms (`leaseDurationSeconds`, renew deadline, retry period):

- A candidate takes the Lease when it is free, or when the record it last *observed*
  has not changed for a whole `lease_duration` of its own clock (so clock skew between
  nodes does not matter: only durations on one clock are compared).
- The leader renews every `retry_period`. It is the leader until `renew_deadline` after
  the start of its last successful renewal, measured on its monotonic clock, and checks
  that before each write (`is_leader`). A process that was stopped (SIGSTOP, a long GC
  pause, a partition) finds its deadline passed when it resumes and stops acting before
  it sends anything: `renew_deadline` < `lease_duration`, so it gives up before any other
  replica may take over.
- What could still be in flight from a fenced leader cannot land: every status write is
  conditional on the resourceVersion its decision read, and every Rollout patch on the
  Rollout's (`effects`), so a write based on a world the new leader has since changed is
  refused with a 409.

Every write of the Lease itself is conditional on its resourceVersion, so two candidates
never both win.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..adapters.kube import AlreadyExists, ApiError, Conflict, Kube
from ..api.names import COMPONENT, LEASES
from .observability import logger

LEASE_NAME = COMPONENT


@dataclass(frozen=True, slots=True)
class Timing:
    """client-go's defaults: 15 s lease, 10 s renew deadline, 2 s between attempts."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "leader election needs 0 < retry period < renew deadline < lease duration, "
                f"got {self.retry_period}, {self.renew_deadline}, {self.lease_duration}"
            )


def identity() -> str:
    """This replica's name in the Lease: its pod (hostname) and process."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{os.getpid()}"


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # metav1.MicroTime


@dataclass
class Leadership:
    kube: Kube
    namespace: str
    me: str = field(default_factory=identity)
    timing: Timing = field(default_factory=Timing)
    clock: Callable[[], float] = time.monotonic
    # what this replica last saw of the Lease, and when (on its own clock)
    _seen: tuple[str | None, str | None] = (None, None)  # (holder, renewTime)
    _seen_at: float = 0.0
    _valid_until: float = 0.0  # leader until then (monotonic); 0: not the leader
    _transitions: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # set on gaining or losing

    def is_leader(self) -> bool:
        """True while this replica may act: checked before every write."""
        return self.clock() < self._valid_until

    @property
    def term(self) -> int:
        """How many times this replica became the leader (0: never). A new term starts
        with a look at everything: the last one may have ended between a status write
        and its effect (`analysis.tick`)."""
        return self._transitions

    @property
    def holder(self) -> str | None:
        return self._seen[0]

    async def run(self) -> None:
        """Try to acquire, then renew, until cancelled; never raises on API errors."""
        while True:
            was = self.is_leader()
            try:
                await self.attempt()
            except ApiError as error:
                logger(identity=self.me).warning("lease attempt failed", error=str(error))
            if self.is_leader() != was:
                self.changed.set()
            await asyncio.sleep(self.timing.retry_period)

    async def attempt(self) -> bool:
        """One round: renew if leading, else acquire if the Lease is free or expired."""
        started = self.clock()
        body = await self.kube.get(LEASES, self.namespace, LEASE_NAME)
        if body is None:
            return await self._write(None, started)
        spec = body.get("spec") or {}
        record = (spec.get("holderIdentity"), spec.get("renewTime"))
        if record != self._seen:
            self._seen, self._seen_at = record, started
        if record[0] == self.me:
            return await self._write(body, started)
        expired = started - self._seen_at >= self.timing.lease_duration
        if record[0] and not expired:
            self._lose("the Lease is held by " + record[0])
            return False
        return await self._write(body, started)

    async def _write(self, current: dict[str, Any] | None, started: float) -> bool:
        now = datetime.now(UTC)
        spec: dict[str, Any] = dict((current or {}).get("spec") or {})
        mine = spec.get("holderIdentity") == self.me
        if not mine:
            spec["acquireTime"] = _stamp(now)
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (
                1 if spec.get("holderIdentity") else 0
            )
        spec |= {
            "holderIdentity": self.me,
            "leaseDurationSeconds": round(self.timing.lease_duration),
            "renewTime": _stamp(now),
        }
        try:
            if current is None:
                body = {
                    "apiVersion": f"{LEASES.group}/{LEASES.version}",
                    "kind": "Lease",
                    "metadata": {"name": LEASE_NAME, "namespace": self.namespace},
                    "spec": spec,
                }
                written = await self.kube.create(LEASES, self.namespace, body)
            else:
                meta = current["metadata"]
                body = {**current, "metadata": {**meta}, "spec": spec}
                written = await self.kube.replace(LEASES, self.namespace, LEASE_NAME, body)
        except (Conflict, AlreadyExists):
            self._lose("another replica wrote the Lease first")
            return False
        written_spec = written.get("spec") or {}
        self._seen = (written_spec.get("holderIdentity"), written_spec.get("renewTime"))
        self._seen_at = started
        gained = not self.is_leader()
        self._valid_until = started + self.timing.renew_deadline
        if gained:
            self._transitions += 1
            logger(identity=self.me).info("became the leader", lease=LEASE_NAME)
        return True

    def _lose(self, why: str) -> None:
        if self._valid_until > 0 and self.is_leader():
            logger(identity=self.me).warning("no longer the leader", why=why)
        self._valid_until = 0.0

    async def release(self) -> None:
        """On a clean shutdown: give the Lease up, so a standby takes over at once."""
        if not self.is_leader():
            return
        self._valid_until = 0.0
        body = await self.kube.get(LEASES, self.namespace, LEASE_NAME)
        if body is None or (body.get("spec") or {}).get("holderIdentity") != self.me:
            return
        spec = {**body["spec"], "holderIdentity": None, "leaseDurationSeconds": 1}
        try:
            await self.kube.replace(LEASES, self.namespace, LEASE_NAME, {**body, "spec": spec})
        except ApiError as error:
            logger(identity=self.me).warning("could not release the Lease", error=str(error))


class NotLeader(ApiError):
    """This replica is not (or no longer) the leader: it must not write. Retriable: the
    leader does the work."""

    def __init__(self, me: str) -> None:
        super().__init__(0, "NotLeader", f"{me} is not the leader")
