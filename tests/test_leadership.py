"""Leader election on a Lease (controller/leadership.py), on a clock the test moves.

The Lease is held by a small in-memory API (one object, resourceVersions, 409 on a
stale write), so two candidates can be interleaved at will; the end-to-end tests run
two real operator processes against the real API server.
"""

from __future__ import annotations

import json
import random
from typing import Any

import httpx
import pytest

from agent_release.api.names import LEASES
from agent_release.controller.leadership import LEASE_NAME, Leadership, Timing
from builders import wire
from builders.wire import Script, status_error

PATH = LEASES.path("ops", LEASE_NAME)
TIMING = Timing(lease_duration=15, renew_deadline=10, retry_period=2)


class LeaseStore:
    """The API server's part: one Lease, written only at its current resourceVersion."""

    def __init__(self) -> None:
        self.body: dict[str, Any] | None = None
        self.version = 0
        self.down = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            return status_error(503, "ServiceUnavailable")
        if request.method == "GET":
            return wire.ok(self.body) if self.body else status_error(404, "NotFound")
        sent = json.loads(request.content)
        if request.method == "POST" and self.body is not None:
            return status_error(409, "AlreadyExists")
        if request.method == "PUT" and sent["metadata"].get("resourceVersion") != str(self.version):
            return status_error(409, "Conflict", "the object has been modified")
        self.version += 1
        self.body = {**sent, "metadata": {**sent["metadata"], "resourceVersion": str(self.version)}}
        return wire.ok(self.body)

    @property
    def holder(self) -> str | None:
        return None if self.body is None else self.body["spec"].get("holderIdentity")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def candidate(store: LeaseStore, clock: Clock, me: str) -> Leadership:
    script = Script().on("GET", PATH, store).on("PUT", PATH, store)
    script.on("POST", LEASES.path("ops"), store)
    return Leadership(wire.kube(script), "ops", me=me, timing=TIMING, clock=clock)


async def test_the_first_candidate_takes_a_free_lease_and_renews_it() -> None:
    store, clock = LeaseStore(), Clock()
    a = candidate(store, clock, "a")
    assert await a.attempt()
    assert a.is_leader()
    assert store.holder == "a"
    assert store.body is not None
    assert store.body["spec"]["leaseDurationSeconds"] == 15
    clock.now += 2
    assert await a.attempt()  # renewed, at the version it read
    assert store.version == 2
    clock.now += 9.9
    assert a.is_leader()  # 9.9 s after the last renewal began
    clock.now += 0.2
    assert not a.is_leader()  # past the renew deadline without a renewal: fenced


async def test_a_standby_waits_a_whole_lease_after_the_last_renewal_it_saw() -> None:
    store, clock = LeaseStore(), Clock()
    a, b = candidate(store, clock, "a"), candidate(store, clock, "b")
    assert await a.attempt()
    assert not await b.attempt()
    assert b.holder == "a"
    clock.now += 14  # a died right after taking the Lease
    assert not await b.attempt()
    assert not b.is_leader()
    clock.now += 1  # 15 s without a change seen: the Lease has expired
    assert await b.attempt()
    assert store.holder == "b"
    assert store.body is not None
    assert store.body["spec"]["leaseTransitions"] == 1


async def test_a_paused_leader_stops_acting_before_anyone_can_take_over() -> None:
    """SIGSTOP for longer than the lease: when it resumes, its deadline has passed, and a
    standby could only have taken over after the deadline."""
    store, clock = LeaseStore(), Clock()
    a, b = candidate(store, clock, "a"), candidate(store, clock, "b")
    assert await a.attempt()
    assert not await b.attempt()
    clock.now += TIMING.renew_deadline  # a is paused: no renewals
    assert not a.is_leader()  # stopped acting at its deadline...
    assert not await b.attempt()  # ...while b still waits for the lease to expire
    clock.now += TIMING.lease_duration - TIMING.renew_deadline
    assert await b.attempt()
    assert b.is_leader()
    assert not a.is_leader()
    assert not await a.attempt()  # resumed, it sees the Lease is b's and stays standby
    assert not a.is_leader()


async def test_two_leaders_never_overlap_whatever_the_schedule() -> None:
    """Three candidates, random pauses (each skips its attempts for up to 30 s) and
    random request timing over an hour: at no moment do two consider themselves leader."""
    rng = random.Random(7)
    store, clock = LeaseStore(), Clock()
    candidates = [candidate(store, clock, name) for name in "abc"]
    paused_until = {c.me: 0.0 for c in candidates}
    leaders_seen: set[str] = set()
    while clock.now < 1000.0 + 3600:
        clock.now += rng.uniform(0.1, 2.5)
        for c in rng.sample(candidates, len(candidates)):
            if rng.random() < 0.02:
                paused_until[c.me] = clock.now + rng.uniform(5, 30)
            if clock.now >= paused_until[c.me]:
                await c.attempt()
        leading = [c.me for c in candidates if c.is_leader()]
        assert len(leading) <= 1, f"at {clock.now:.1f}: {leading}"
        leaders_seen.update(leading)
    assert len(leaders_seen) >= 2  # the pauses did hand the Lease over


async def test_an_unreachable_api_server_fences_the_leader_at_its_deadline() -> None:
    store, clock = LeaseStore(), Clock()
    a = candidate(store, clock, "a")
    assert await a.attempt()
    store.down = True
    with pytest.raises(Exception, match="503"):
        await a.attempt()
    clock.now += TIMING.renew_deadline
    assert not a.is_leader()


def test_the_timing_must_leave_a_margin() -> None:
    with pytest.raises(ValueError, match="retry period < renew deadline < lease duration"):
        Timing(lease_duration=10, renew_deadline=10, retry_period=2)


async def test_each_time_a_replica_becomes_the_leader_is_a_new_term() -> None:
    """A term starts with a look at everything (`analysis.stale`): a renewal is not a new
    term, a leader that lapsed past its deadline and renewed again is."""
    store, clock = LeaseStore(), Clock()
    a = candidate(store, clock, "a")
    assert a.term == 0
    assert await a.attempt()
    assert a.term == 1
    clock.now += TIMING.retry_period
    assert await a.attempt()  # a renewal
    assert a.term == 1
    clock.now += TIMING.renew_deadline  # paused past its deadline, nobody took over
    assert not a.is_leader()
    assert await a.attempt()  # leads again: it may have lost a write in between
    assert a.term == 2
