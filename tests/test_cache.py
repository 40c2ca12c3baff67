"""The cache of what the watches delivered, and the reads it saves (on httpx.MockTransport).

The indices are kopf's in the operator; here they are plain mappings of the same shape
(key → the entries of the objects that have it), filled by the same index functions.
"""

from __future__ import annotations

from typing import Any

from agent_release.api.names import AGENTRELEASES, EVALREPORTS, EVENTS, ROLLOUTS
from agent_release.controller import reconcile
from agent_release.controller.analysis import _every
from agent_release.controller.cache import (
    Cache,
    policy_entry,
    release_entries,
    report_ref,
)
from agent_release.controller.registry import track
from agent_release.controller.runtime import Config, Runtime
from builders import wire
from builders.objects import AGENT, machine_policy, release_manifest, stage_report
from builders.wire import Script
from builders.worlds import NOW, canary_status


def _report(name: str, stage: str, created: str, model: str | None = None) -> dict[str, Any]:
    body = (stage_report(stage, model=model) if model else stage_report(stage)).wire()
    body["metadata"].update(name=name, creationTimestamp=created)
    return body


def _cache(releases: list[dict[str, Any]], reports: list[dict[str, Any]]) -> Cache:
    by_release: dict[Any, list[Any]] = {}
    for body in releases:
        for key, entry in release_entries(track(body)).items():
            by_release.setdefault(key, []).append(entry)
    by_agent: dict[Any, list[Any]] = {}
    for body in reports:
        found = report_ref(body)
        assert found is not None
        by_agent.setdefault(found[0], []).append(found[1])
    policy = machine_policy().wire()
    return Cache(
        releases=by_release,
        reports=by_agent,
        policies={"prod": [policy_entry(policy)]},
    )


async def test_a_gate_reads_only_the_reports_it_gates_on_and_lists_nothing() -> None:
    reports = [
        _report("offline-old", "offline", "2026-11-30T08:00:00Z"),
        _report("offline-new", "offline", "2026-12-01T08:00:00Z"),
        _report("offline-other-model", "offline", "2026-12-02T08:00:00Z", model="other"),
        _report("prerelease-1", "prerelease", "2026-12-01T09:00:00Z"),
        _report("base-offline", "offline", "2026-11-01T08:00:00Z", model="older"),
    ]
    promoted = release_manifest(
        "rel-1",
        phase="Promoted",
        promotedAt="2026-11-02T08:00:00Z",
        evalReports={"offline": "base-offline"},
    )
    pending = release_manifest("rel-2")
    bodies = {r["metadata"]["name"]: r for r in reports}
    script = (
        Script()
        .on("GET", AGENTRELEASES.path("agents", "rel-2"), wire.ok(pending))
        .on(
            "GET",
            EVALREPORTS.path("agents") + "/[^/]+",
            lambda request: wire.ok(bodies[request.url.path.rsplit("/", 1)[1]]),
        )
        .on("GET", ROLLOUTS.path("agents") + "/[^/]+", wire.status_error(404, "NotFound"))
        .on("PATCH", AGENTRELEASES.path("agents", "rel-2", "status"), wire.ok())
        .on("POST", ROLLOUTS.path("agents"), wire.ok({"metadata": {"name": AGENT}}))
        .on("POST", EVENTS.path("agents"), wire.ok())
    )
    rt = Runtime(
        kube=wire.kube(script),
        prometheus=None,
        config=Config(),
        clock=lambda: NOW,
        cache=_cache([promoted, pending], reports),
    )
    await reconcile.reconcile(rt, "agents", "rel-2")
    gets = [
        r.url.path.rsplit("/", 1)[1] for r in script.sent("GET", EVALREPORTS.path("agents") + "/.+")
    ]
    # the newest report of this very candidate for each stage, and the baseline's own
    assert sorted(gets) == ["base-offline", "offline-new", "prerelease-1"]
    collections = {AGENTRELEASES.path("agents"), EVALREPORTS.path("agents")}
    assert not [r for r in script.requests if r.method == "GET" and r.url.path in collections]
    [written] = [
        wire.body_of(r)
        for r in script.sent("PATCH", AGENTRELEASES.path("agents", "rel-2", "status"))
    ]
    assert written["status"]["evalReports"] == {
        "offline": "offline-new",
        "prerelease": "prerelease-1",
    }
    await rt.kube.close()


async def test_a_canary_reconcile_reads_the_release_and_its_rollout_only() -> None:
    body = release_manifest(**canary_status())
    script = (
        Script()
        .on("GET", AGENTRELEASES.path("agents", "rel-2"), wire.ok(body))
        .on("GET", wire.rollout_path(), wire.ok(wire.rollout_body(index=1, paused=True)))
        .on("PATCH", AGENTRELEASES.path("agents", "rel-2", "status"), wire.ok())
        .on("POST", EVENTS.path("agents"), wire.ok())
    )
    rt = Runtime(
        kube=wire.kube(script),
        prometheus=None,
        config=Config(),
        clock=lambda: NOW,
        cache=_cache([body], []),
    )
    await reconcile.reconcile(rt, "agents", "rel-2")
    assert [r.method for r in script.requests if r.method == "GET"] == ["GET", "GET"]
    await rt.kube.close()


def test_the_registry_is_the_release_index_by_name() -> None:
    bodies = [release_manifest("rel-1", phase="Promoted"), release_manifest("rel-2")]
    cache = _cache(bodies, [])
    assert dict(cache.registry) == {
        ("agents", "rel-1"): track(bodies[0]),
        ("agents", "rel-2"): track(bodies[1]),
    }
    assert [e.key for e in cache.releases_of("agents", AGENT)] == [
        ("agents", "rel-1"),
        ("agents", "rel-2"),
    ]
    assert cache.release(("agents", "nope")) is None


def test_only_a_release_that_moves_by_itself_is_polled() -> None:
    rt = Runtime(kube=wire.kube(Script()), prometheus=None, config=Config())
    config = rt.config

    def every(**status: Any) -> float:
        return _every(rt, track(release_manifest(**status)))

    assert every() == config.reconcile_seconds  # Pending: about to gate
    assert every(phase="Gating") == config.resync_seconds  # waits for its reports
    assert every(phase="Blocked") == config.resync_seconds
    assert every(**canary_status()) == config.resync_seconds  # its looks reconcile it
    assert every(**canary_status(started=None)) == config.reconcile_seconds  # on its way
    assert every(phase="Promoted") == float("inf")
