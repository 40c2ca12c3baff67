"""Which canaries the analysis loop looks at, and when: one batch per interval."""

from __future__ import annotations

import asyncio
import math
import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx

from agent_release.api.names import AGENTRELEASES, EVENTS, ROLLOUTS
from agent_release.canary.analyzer import Verdict
from agent_release.controller import analysis
from agent_release.controller.analysis import check_between, due, look_at
from agent_release.controller.cache import Cache, release_entries
from agent_release.controller.registry import Baking, Key, Tracked, track
from agent_release.controller.rollouts import rollout_name_of
from agent_release.controller.runtime import Config, Runtime
from builders import wire
from builders.objects import machine_policy as policy
from builders.objects import release
from builders.worlds import canary_status

EVERY_15S = policy(analysisInterval="15s").spec.canary.wire()


def body(name: str, started: float, **status: Any) -> dict[str, Any]:
    """A release whose canary began baking at `started`: its evidence begins with the
    next whole interval (as the machine sets it)."""
    when = datetime.fromtimestamp(started, UTC)
    began = datetime.fromtimestamp(math.ceil(started / 15) * 15, UTC)
    evidence = {"beganAt": began.isoformat()}
    return release(
        name, **canary_status(started=when, canary=EVERY_15S, evidence=evidence, **status)
    ).wire()


def baking(item: dict[str, Any]) -> Baking | None:
    return track(item).baking


def test_canaries_started_at_different_times_share_one_look() -> None:
    # the test policy looks every 15 s: grid points are multiples of 15 s, and so are the
    # beginnings of the canaries' evidence (1_000_005 for r0, r1; 1_000_020 for the others)
    items = [baking(body(f"r{i}", 1_000_000.0 + 3 * i)) for i in range(5)]
    assert all(item is not None for item in items)
    ready = [item for item in items if item is not None]
    groups = due(ready, now=1_000_030.5, attempts={})
    assert list(groups) == [(15.0, 1_000_020.0)]  # one batch, at the grid point
    assert sorted(i.key[1] for i in groups[(15.0, 1_000_020.0)]) == ["r0", "r1"]
    # the others have not had a whole interval yet; fifteen seconds later all are due
    later = due(ready, now=1_000_035.0, attempts={})
    assert [len(g) for g in later.values()] == [5]


def test_a_canary_is_looked_at_once_per_grid_point() -> None:
    item = baking(body("r", 1_000_000.0))
    assert item is not None
    attempts = {item.key: 1_000_020.0 - 5.0}
    assert due([item], now=1_000_021.0, attempts=attempts) != {}
    attempts[item.key] = 1_000_020.0
    assert due([item], now=1_000_034.0, attempts=attempts) == {}
    assert due([item], now=1_000_035.0, attempts=attempts) != {}


def test_the_registry_keeps_what_looks_need_not_the_object() -> None:
    entry = track(body("r", 1_000_000.0))
    assert entry.phase == "Canary"
    assert not entry.final
    assert entry.baking is not None
    assert entry.baking.evidence.looks == 0  # no look yet
    promoted = body("p", 1_000_000.0)
    promoted["status"]["phase"] = "Promoted"
    assert track(promoted).final
    assert track(promoted).baking is None
    assert track({"metadata": {"name": "new"}}).phase == "Pending"


# -- one batched look across many releases (on httpx.MockTransport) ---------------------


def _answering(bad: str | None) -> wire.Answer:
    """Prometheus' answer to each batched query: every agent healthy but `bad`, whose
    canary committed a hard policy violation."""

    def answer(request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        query = form["query"][0]
        agents = re.search(r'agent=~"([^"]+)"', query)
        assert agents is not None, query
        start, end = float(form["start"][0]), float(form["end"][0])
        stamps = [start + 15 * k for k in range(int((end - start) // 15) + 1)]
        series = []
        for agent in agents.group(1).split("|"):
            for revision, tasks in (("bbb", "30"), ("aaa", "600")):
                if "agent_policy_violations_total" in query:
                    violated = agent == bad and revision == "bbb"
                    labels = {"agent": agent, "revision": revision, "part": "numerator"}
                    series.append((labels, [(t, "1" if violated else "0") for t in stamps]))
                elif "label_replace" not in query and "_bucket" not in query:  # traffic
                    series.append(
                        ({"agent": agent, "revision": revision}, [(t, tasks) for t in stamps])
                    )
        return httpx.Response(200, json=wire.matrix(*series))

    return answer


_answer = _answering("agent-0")


async def test_one_look_is_one_query_per_guardrail_for_all_releases() -> None:
    bodies = []
    for i in range(12):
        item = body(f"r{i}", 1_000_000.0)
        item["spec"]["agent"] = f"agent-{i}"
        bodies.append(item)
    group = [b for b in (baking(item) for item in bodies) if b is not None]
    assert len(group) == 12
    script = wire.Script().on("POST", "/api/v1/query_range", _answer)
    rt = Runtime(kube=wire.kube(wire.Script()), prometheus=wire.prometheus(script), config=Config())
    outcomes = await look_at(rt, group, now=1_000_065.0)
    guardrails = len(group[0].settings.guardrails)
    assert len(script.requests) == guardrails + 1  # whatever the number of releases
    assert set(outcomes) == {item.key for item in group}
    verdicts = {key[1]: o.decision.verdict for key, o in outcomes.items() if o.decision}
    assert verdicts.pop("r0") is Verdict.ROLLBACK
    assert set(verdicts.values()) == {Verdict.CONTINUE}
    for request in script.requests:
        assert parse_qs(request.content.decode())["step"] == ["15s"]


async def test_prometheus_down_is_an_outcome_for_every_release_not_a_breach() -> None:
    group = [b for b in (baking(body(f"r{i}", 1_000_000.0)) for i in range(3)) if b is not None]
    script = wire.Script().on("POST", "/api/v1/query_range", wire.timeout)
    rt = Runtime(kube=wire.kube(wire.Script()), prometheus=wire.prometheus(script), config=Config())
    outcomes = await look_at(rt, group, now=1_000_060.0)
    assert len(script.requests) == 1  # the first failure ends the look
    assert {o.decision for o in outcomes.values()} == {None}
    assert all("ReadTimeout" in (o.error or "") for o in outcomes.values())
    assert rt.metrics.registry.get_sample_value("agentrelease_prometheus_query_errors_total") == 1


async def test_a_look_adds_only_new_intervals_and_a_restart_reaches_back_to_the_beginning() -> None:
    item = baking(body("r0", 1_000_000.0))  # evidence begins at 1_000_005
    assert item is not None
    item = Baking(
        **{**{f: getattr(item, f) for f in item.__dataclass_fields__}, "agent": "agent-1"}
    )
    script = wire.Script().on("POST", "/api/v1/query_range", _answer)
    rt = Runtime(kube=wire.kube(wire.Script()), prometheus=wire.prometheus(script), config=Config())

    def starts() -> set[float]:
        found = {float(parse_qs(r.content.decode())["start"][0]) for r in script.requests}
        script.requests.clear()
        return found

    await look_at(rt, [item], now=1_000_065.0)
    assert starts() == {1_000_020.0}  # the canary's first four intervals
    await look_at(rt, [item], now=1_000_080.0)
    assert starts() == {1_000_080.0}  # only the new one
    assert rt.analyzers[item.key].analyzer.canary_tasks == 5 * 30  # each interval once
    rt.analyzers.clear()  # what a restart loses
    await look_at(rt, [item], now=1_000_095.0)
    assert starts() == {1_000_020.0}
    assert rt.analyzers[item.key].analyzer.canary_tasks == 6 * 30


# -- hard violations between looks -------------------------------------------------------


def _vector(request: httpx.Request) -> httpx.Response:
    """An instant query's answer: `agent-3`'s canary committed one hard violation."""
    form = parse_qs(request.content.decode())
    agents = re.search(r'agent=~"([^"]+)"', form["query"][0])
    assert agents is not None
    result = [
        {"metric": {"agent": a, "revision": "bbb"}, "value": [float(form["time"][0]), v]}
        for a in agents.group(1).split("|")
        for v in ("1" if a == "agent-3" else "0",)
    ]
    return httpx.Response(
        200, json={"status": "success", "data": {"resultType": "vector", "result": result}}
    )


async def test_between_looks_one_instant_query_finds_hard_violations_since_the_last_one() -> None:
    bodies = []
    for i in range(12):
        item = body(f"r{i}", 1_000_000.0)
        item["spec"]["agent"] = f"agent-{i}"
        bodies.append(item)
    group = [b for b in (baking(item) for item in bodies) if b is not None]
    script = (
        wire.Script()
        .on("POST", "/api/v1/query_range", _answer)
        .on("POST", "/api/v1/query", _vector)
    )
    rt = Runtime(kube=wire.kube(wire.Script()), prometheus=wire.prometheus(script), config=Config())
    await look_at(rt, group[1:], now=1_000_065.0)  # all but r0 have their sums to 1_000_065
    script.requests.clear()
    outcomes = await check_between(rt, group, now=1_000_072.5)
    # r0 (no look yet) reaches back to its beginning; the others share the last look's end
    offsets = sorted(
        re.findall(r"offset (\d+)ms", parse_qs(r.content.decode())["query"][0])[0]
        for r in script.requests
    )
    assert offsets == ["67500", "7500"]
    assert all(r.url.path == "/api/v1/query" for r in script.requests)
    assert list(outcomes) == [group[3].key]
    decision = outcomes[group[3].key].decision
    assert decision is not None
    assert decision.verdict is Verdict.ROLLBACK
    assert outcomes[group[3].key].analysis is not None
    assert rt.metrics.registry.get_sample_value("agentrelease_prometheus_hard_checks_total") == 2
    looks = len(group[0].settings.guardrails) + 1  # the look's; the checks count apart
    assert rt.metrics.registry.get_sample_value("agentrelease_prometheus_queries_total") == looks


async def test_between_looks_a_failed_query_is_no_outcome() -> None:
    group = [b for b in (baking(body(f"r{i}", 1_000_000.0)) for i in range(3)) if b is not None]
    script = wire.Script().on("POST", "/api/v1/query", wire.timeout)
    rt = Runtime(kube=wire.kube(wire.Script()), prometheus=wire.prometheus(script), config=Config())
    assert await check_between(rt, group, now=1_000_070.0) == {}
    assert rt.metrics.registry.get_sample_value("agentrelease_prometheus_query_errors_total") == 1


# -- the loop: looks and checks do not wait for the reconciles they start ----------------


async def test_the_loop_checks_hard_violations_while_its_looks_reconciles_queue() -> None:
    """Twelve looks' status writes queue for the only reconcile slot; the next pass's
    hard check still runs, and its rollback reaches the Rollout ahead of the queue."""
    started = time.time() - 100.0
    bodies = []
    for i in range(12):
        item = body(f"r{i}", started)
        item["spec"]["agent"] = f"agent-{i}"
        bodies.append(item)
    entries = [track(item) for item in bodies]
    releases: dict[Any, list[Tracked]] = {}
    for entry in entries:
        for key, value in release_entries(entry).items():
            releases.setdefault(key, []).append(value)
    prometheus = (
        wire.Script()
        .on("POST", "/api/v1/query_range", _answering(None))
        .on("POST", "/api/v1/query", _vector)
    )
    r3 = AGENTRELEASES.path("agents", "r3")
    rollout = ROLLOUTS.path("agents", rollout_name_of("agent-3"))
    kube = (
        wire.Script()
        .on("GET", r3, wire.ok(bodies[3]))
        .on("GET", rollout, wire.ok(wire.rollout_body(release="r3", index=1, paused=True)))
        .on("PATCH", r3 + "/status", wire.ok())
        .on("PATCH", rollout + "/status", wire.ok())
        .on("PATCH", rollout, wire.ok())
        .on("POST", EVENTS.path("agents"), wire.ok())
    )
    rt = Runtime(
        kube=wire.kube(kube),
        prometheus=wire.prometheus(prometheus),
        config=Config(concurrent_reconciles=1),
        cache=Cache(releases=releases),
    )
    await rt.reconciling.acquire()  # the only slot, busy
    attempts: dict[Key, float] = {}
    reconciled: dict[Key, float] = {}
    await asyncio.wait_for(analysis.tick(rt, attempts, reconciled, {"hard": time.time()}), 5)
    assert len(attempts) == 12  # all looked at, none of their reconciles done
    assert set(rt.settling) == {entry.key for entry in entries}
    assert not any(s.urgent for s in rt.settling.values())
    queued = [s.task for s in rt.settling.values()]
    await asyncio.wait_for(analysis.tick(rt, attempts, reconciled, {}), 5)
    assert rt.settling[("agents", "r3")].urgent
    await asyncio.wait_for(rt.settling[("agents", "r3")].task, 5)
    [abort] = kube.sent("PATCH", rollout + "/status")
    assert wire.body_of(abort)["status"] == {"abort": True}
    # only r3 was read: the others' reconciles still wait for the slot
    assert {r.url.path for r in kube.requests} == {
        r3,
        r3 + "/status",
        rollout,
        rollout + "/status",
        EVENTS.path("agents"),
    }
    assert set(rt.settling) == {entry.key for entry in entries} - {("agents", "r3")}
    assert not any(task.done() for task in queued)
    for task in queued:
        task.cancel()
    await asyncio.gather(*queued, return_exceptions=True)
    rt.reconciling.release()
    await rt.kube.close()
    assert rt.prometheus is not None
    await rt.prometheus.close()
