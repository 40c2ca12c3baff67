"""The I/O shell around the state machine: reconcile, its conflicts, and the handlers.

On `httpx.MockTransport`: observation, the conditional status write, effects and
Events are the production code; the end-to-end tests run it on the real stack.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import kopf
import pytest
from structlog.testing import capture_logs

from agent_release.adapters.kube import ApiError
from agent_release.api.names import AGENTRELEASES, EVALREPORTS, EVENTS
from agent_release.api.outcomes import ReasonCode
from agent_release.canary.analyzer import Verdict
from agent_release.controller import analysis, handlers, reconcile, validation
from agent_release.controller.registry import Tracked, track
from agent_release.controller.runtime import Config, ConfigError, Runtime
from builders import wire
from builders.objects import release_manifest, stage_report
from builders.wire import Script, status_error
from builders.worlds import NOW, canary_status, outcome

RELEASE = AGENTRELEASES.path("agents", "rel-2")
RELEASE_STATUS = AGENTRELEASES.path("agents", "rel-2", "status")
EVENT_PATH = EVENTS.path("agents")


def runtime(script: Script) -> Runtime:
    return Runtime(kube=wire.kube(script), prometheus=None, config=Config(), clock=lambda: NOW)


async def one_busy_slot(script: Script) -> Runtime:
    """A runtime whose only reconcile slot is taken (release it with rt.reconciling)."""
    rt = Runtime(
        kube=wire.kube(script),
        prometheus=None,
        config=Config(concurrent_reconciles=1),
        clock=lambda: NOW,
    )
    await rt.reconciling.acquire()
    return rt


def baking_script(status_answer: wire.Answer) -> Script:
    """A release baking at step 1 on a Rollout paused there; status writes get `status_answer`."""
    body = release_manifest(**canary_status())
    return (
        Script()
        .on("GET", RELEASE, wire.ok(body))
        .on("GET", wire.rollout_path(), wire.ok(wire.rollout_body(index=1, paused=True)))
        .on("PATCH", RELEASE_STATUS, status_answer)
        .on("POST", EVENT_PATH, wire.ok())
    )


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoff waits between attempts, recorded instead of slept."""
    recorded: list[float] = []

    async def sleep(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    return recorded


async def test_a_conflict_storm_is_retried_with_backoff_then_reported(waits: list[float]) -> None:
    script = baking_script(status_error(409, "Conflict", "the object has been modified"))
    rt = runtime(script)
    with capture_logs() as logs, pytest.raises(reconcile.ConflictStorm) as raised:
        await reconcile.reconcile(rt, "agents", "rel-2")
    attempts = reconcile.CONFLICT_ATTEMPTS
    assert len(script.sent("PATCH", RELEASE_STATUS)) == attempts
    assert len(script.sent("GET", RELEASE)) == attempts  # each attempt decides on fresh data
    assert raised.value.retriable
    assert f"{attempts} attempts" in str(raised.value)
    # growing, jittered waits between attempts, each logged
    assert len(waits) == attempts - 1
    for k, wait in enumerate(waits):
        ceiling = reconcile.CONFLICT_BACKOFF * 2**k
        assert ceiling / 2 <= wait <= ceiling
    conflicts = [e for e in logs if e["event"].startswith("status write conflict")]
    assert [e["attempt"] for e in conflicts] == list(range(1, attempts))
    assert rt.metrics.registry.get_sample_value("agentrelease_status_conflicts_total") == attempts
    # no effect and no Event on a decision that was never written
    assert script.sent("POST", EVENT_PATH) == []
    await rt.kube.close()


async def test_a_reconcile_that_failed_is_logged_by_kind() -> None:
    with capture_logs() as logs:
        reconcile.report_failure(reconcile.ConflictStorm(409, "ConflictStorm", "x"))
        reconcile.report_failure(RuntimeError("a bug"))
    assert [(e["log_level"], e["event"]) for e in logs] == [
        ("warning", "reconcile failed, will retry"),
        ("error", "reconcile failed"),
    ]


async def test_one_conflict_then_the_fresh_decision_is_written(waits: list[float]) -> None:
    answers = iter([status_error(409, "Conflict"), wire.ok()])
    script = baking_script(lambda _: next(answers))
    rt = runtime(script)
    done = await reconcile.reconcile(rt, "agents", "rel-2")
    assert done is not None
    assert done.status is not None
    assert done.status.observed_generation == 1
    writes = script.sent("PATCH", RELEASE_STATUS)
    assert len(writes) == 2
    assert len(waits) == 1
    # the write is conditional on the resourceVersion the decision was read at
    assert wire.body_of(writes[-1])["metadata"] == {"resourceVersion": "1"}
    await rt.kube.close()


async def test_a_breach_writes_status_then_aborts_then_tells() -> None:
    """The order that makes a crash at any line harmless: status, Rollout, Events."""
    script = baking_script(wire.ok())
    script.on("PATCH", wire.rollout_path(sub="status"), wire.ok())
    script.on("PATCH", wire.rollout_path(), wire.ok())
    rt = runtime(script)
    look = outcome(Verdict.ROLLBACK, reason=ReasonCode.GUARDRAIL_BREACHED)
    done = await reconcile.reconcile(rt, "agents", "rel-2", look)
    assert done is not None
    assert done.status is not None
    assert done.status.phase.value == "RolledBack"
    writes = [(r.method, r.url.path) for r in script.requests if r.method != "GET"]
    assert writes == [
        ("PATCH", RELEASE_STATUS),
        ("PATCH", wire.rollout_path(sub="status")),  # abort
        ("PATCH", wire.rollout_path()),  # the rollback annotation
        ("POST", EVENT_PATH),  # GuardrailBreached
        ("POST", EVENT_PATH),  # RolledBack
    ]
    abort = script.sent("PATCH", wire.rollout_path(sub="status"))[0]
    # at the resourceVersion just read: a fenced leader's abort cannot land later
    assert wire.body_of(abort) == {"status": {"abort": True}, "metadata": {"resourceVersion": "41"}}
    events = [wire.body_of(r) for r in script.sent("POST", EVENT_PATH)]
    assert [e["reason"] for e in events] == ["GuardrailBreached", "RolledBack"]
    assert (
        rt.metrics.registry.get_sample_value(
            "agentrelease_rollbacks_total", {"reason": "GuardrailBreached"}
        )
        == 1
    )
    await rt.kube.close()


async def test_a_release_that_does_not_parse_is_marked_failed() -> None:
    broken = release_manifest()
    broken["spec"]["rollout"] = {"replicas": 0}
    script = Script().on("GET", RELEASE, wire.ok(broken)).on("PATCH", RELEASE_STATUS, wire.ok())
    rt = runtime(script)
    assert await reconcile.reconcile(rt, "agents", "rel-2") is None
    [patch] = script.sent("PATCH", RELEASE_STATUS)
    status = wire.body_of(patch)["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "Invalid")
    assert "spec.rollout" in status["message"]
    await rt.kube.close()


# -- handlers ----------------------------------------------------------------------------


def _report_body(**status: Any) -> dict[str, Any]:
    body = stage_report("offline").wire()
    body["metadata"]["generation"] = 1
    if status:
        body["status"] = status
    return body


async def test_a_valid_report_keeps_its_condition_transition_time() -> None:
    """One condition writer: re-validating an unchanged report keeps lastTransitionTime."""
    script = (
        Script()
        .on("GET", EVALREPORTS.path("agents"), wire.ok({"items": []}))
        .on("POST", EVENT_PATH, wire.ok())
    )
    rt = runtime(script)
    earlier = "2026-11-20T08:00:00Z"
    valid = {"type": "Valid", "status": "True", "reason": "Valid", "lastTransitionTime": earlier}
    status = await validation.report_status(rt, _report_body(conditions=[valid]))
    [condition] = status["conditions"]
    assert (condition["status"], condition["lastTransitionTime"]) == ("True", earlier)
    assert "swe: 60.0%" in condition["message"]
    # a report that turns invalid flips the condition, and its time moves
    bad = _report_body(conditions=[valid])
    bad["spec"]["slices"][0]["seeds"][0]["passed"] = 999
    [condition] = (await validation.report_status(rt, bad))["conditions"]
    assert (condition["status"], condition["reason"]) == ("False", "ReportInvalid")
    assert condition["lastTransitionTime"] == NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    events = [wire.body_of(r)["reason"] for r in script.sent("POST", EVENT_PATH)]
    assert events == ["ReportValid", "ReportInvalid"]
    await rt.kube.close()


def test_an_unknown_fault_is_refused_at_start_up() -> None:
    assert Config.from_env({"AGENT_RELEASE_FAULT": "crash-before:PromoteStep"}).crash_before == (
        "PromoteStep"
    )
    assert Config.from_env({}).crash_before is None
    with pytest.raises(ConfigError, match="one of AbortRollout, AnnotateRollout"):
        Config.from_env({"AGENT_RELEASE_FAULT": "crash-before:Promote"})
    with pytest.raises(ConfigError, match="invalid operator setting"):
        Config.from_env({"AGENT_RELEASE_TICK_SECONDS": "soon"})


def _merged(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch applied (RFC 7386): what the API server stores."""
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def _tracked(*phases: str) -> list[tuple[tuple[str, str], Tracked]]:
    out = []
    for index, phase in enumerate(phases):
        body = release_manifest(name=f"rel-{index}", phase=phase)
        out.append((("agents", f"rel-{index}"), track(body)))
    return out


def test_a_new_term_reconciles_every_release_once_final_ones_too() -> None:
    """A leader may have written RolledBack and lost its Lease before the abort: the next
    term cannot tell which release that was, so it looks at all of them once."""
    rt = runtime(Script())
    tracked = _tracked("RolledBack", "Promoted", "Blocked")
    keys = [key for key, _ in tracked]
    assert analysis.stale(rt, tracked, {}, 1000.0) == keys  # the first tick of the term
    reconciled = dict.fromkeys(keys, 1000.0)
    later = 1000.0 + rt.config.resync_seconds
    assert analysis.stale(rt, tracked, reconciled, later) == [keys[2]]  # the final ones wait


def test_a_final_release_whose_reconcile_failed_is_tried_again() -> None:
    rt = runtime(Script())
    tracked = _tracked("RolledBack")
    [key] = [key for key, _ in tracked]
    analysis.stale(rt, tracked, {}, 1000.0)  # the term's first look
    rt.unsettled.add(key)
    reconciled = {key: 1000.0}
    assert analysis.stale(rt, tracked, reconciled, 1001.0) == []
    assert analysis.stale(rt, tracked, reconciled, 1000.0 + rt.config.reconcile_seconds) == [key]


async def test_a_rollback_whose_abort_failed_is_applied_by_the_next_reconcile() -> None:
    """Status says RolledBack, the abort was refused (a 503, or a lost Lease): the release
    is unsettled, and its next reconcile sends the abort from status alone."""
    script = baking_script(wire.ok())
    script.on("PATCH", wire.rollout_path(sub="status"), status_error(503, "ServiceUnavailable"))
    rt = runtime(script)
    look = outcome(Verdict.ROLLBACK, reason=ReasonCode.GUARDRAIL_BREACHED)
    with pytest.raises(ApiError):
        await reconcile.reconcile(rt, "agents", "rel-2", look)
    assert rt.unsettled == {("agents", "rel-2")}
    written = wire.body_of(script.sent("PATCH", RELEASE_STATUS)[0])["status"]
    assert written["phase"] == "RolledBack"
    # the world as the next reconcile finds it: status written, the Rollout not aborted
    before = release_manifest(**canary_status())["status"]
    script = (
        Script()
        .on("GET", RELEASE, wire.ok(release_manifest(**_merged(before, written))))
        .on("GET", wire.rollout_path(), wire.ok(wire.rollout_body(index=1, paused=True)))
        .on("PATCH", RELEASE_STATUS, wire.ok())
        .on("PATCH", wire.rollout_path(sub="status"), wire.ok())
        .on("PATCH", wire.rollout_path(), wire.ok())
        .on("POST", EVENT_PATH, wire.ok())
    )
    await rt.kube.close()
    rt.kube = wire.kube(script)  # the same replica, its unsettled releases
    done = await reconcile.reconcile(rt, "agents", "rel-2")
    assert done is not None
    assert done.status is not None
    assert done.status.phase.value == "RolledBack"
    [abort] = script.sent("PATCH", wire.rollout_path(sub="status"))
    assert wire.body_of(abort)["status"] == {"abort": True}
    assert rt.unsettled == set()
    await rt.kube.close()


async def test_a_rollback_does_not_wait_behind_routine_reconciles() -> None:
    """Every slot taken (a look's hundreds of status writes): a routine reconcile queues,
    a rollback goes ahead and reaches the Rollout."""
    script = baking_script(wire.ok())
    script.on("PATCH", wire.rollout_path(sub="status"), wire.ok())
    script.on("PATCH", wire.rollout_path(), wire.ok())
    rt = await one_busy_slot(script)  # the only slot, busy
    routine = asyncio.create_task(reconcile.reconcile(rt, "agents", "rel-1"))
    look = outcome(Verdict.ROLLBACK, reason=ReasonCode.GUARDRAIL_BREACHED)
    done = await asyncio.wait_for(reconcile.reconcile(rt, "agents", "rel-2", look), 5)
    assert done is not None
    assert done.status is not None
    assert done.status.phase.value == "RolledBack"
    assert len(script.sent("PATCH", wire.rollout_path(sub="status"))) == 1  # the abort
    assert not routine.done()
    assert not any("rel-1" in r.url.path for r in script.requests)
    routine.cancel()
    rt.reconciling.release()
    await rt.kube.close()


async def test_a_looks_own_status_write_is_not_reconciled_again_when_it_comes_back() -> None:
    """A look that only records itself (same phase and step, nothing applied): its watch
    event is an echo, not a change; any other version of the release is reconciled."""
    body = release_manifest(**canary_status())
    script = baking_script(lambda _: wire.ok(_merged(body, {"metadata": {"resourceVersion": "2"}})))
    rt = runtime(script)
    done = await reconcile.reconcile(rt, "agents", "rel-2", outcome(Verdict.CONTINUE))
    assert done is not None
    assert len(script.sent("PATCH", RELEASE_STATUS)) == 1
    assert rt.echoes == {("agents", "rel-2"): "2"}
    memo = {"runtime": rt}
    echo = kopf.Body(cast(kopf.RawBody, _merged(body, {"metadata": {"resourceVersion": "2"}})))
    event = cast(Any, handlers.release_event)  # kopf's handler type wants every kwarg
    await event(event={"type": "MODIFIED", "object": {}}, body=echo, memo=memo)
    assert len(script.sent("GET", RELEASE)) == 1  # the look's own read only
    assert rt.echoes == {}
    # a person's change after it (or a second echo of the same version) is reconciled
    await event(event={"type": "MODIFIED", "object": {}}, body=echo, memo=memo)
    await asyncio.gather(*rt.background)
    assert len(script.sent("GET", RELEASE)) == 2
    await rt.kube.close()


async def test_a_look_that_promotes_is_reconciled_again_when_it_comes_back() -> None:
    script = baking_script(wire.ok({"metadata": {"resourceVersion": "2"}}))
    script.on("PATCH", wire.rollout_path(sub="status"), wire.ok())
    script.on("PATCH", wire.rollout_path(), wire.ok())
    rt = runtime(script)
    done = await reconcile.reconcile(rt, "agents", "rel-2", outcome(Verdict.PROMOTE))
    assert done is not None
    assert done.status is not None
    assert done.status.step == 2
    assert rt.echoes == {}
    await rt.kube.close()


async def test_events_for_a_release_waiting_its_turn_are_one_reconcile() -> None:
    """A handler returns at once (holding no body while the release waits for a slot);
    five events for a release already waiting add nothing: its reconcile reads the
    release as it is when its turn comes."""
    body = release_manifest(**canary_status())
    script = baking_script(wire.ok())
    rt = await one_busy_slot(script)  # the only slot, busy
    event = cast(Any, handlers.release_event)
    for _ in range(5):
        await asyncio.wait_for(
            event(
                event={"type": "MODIFIED", "object": {}},
                body=kopf.Body(cast(kopf.RawBody, body)),
                memo={"runtime": rt},
            ),
            1,
        )
    assert rt.waiting == {("agents", "rel-2")}
    assert len(rt.background) == 1
    assert script.requests == []
    rt.reconciling.release()
    await asyncio.gather(*rt.background)
    assert len(script.sent("GET", RELEASE)) == 1
    assert rt.waiting == set()
    await rt.kube.close()


async def test_a_burst_of_new_reports_is_validated_in_turn_from_fresh_reads() -> None:
    """Report events return at once; each report waiting for a slot is read again when
    its turn comes (its body is not held meanwhile), and validated once."""
    body = _report_body()
    path = EVALREPORTS.path("agents", body["metadata"]["name"])
    script = (
        Script()
        .on("GET", path, wire.ok(body))
        .on("GET", EVALREPORTS.path("agents"), wire.ok({"items": []}))
        .on("POST", EVENT_PATH, wire.ok())
        .on("PATCH", path + "/status", wire.ok())
    )
    rt = await one_busy_slot(script)
    for _ in range(3):
        validation.validate_soon(rt, EVALREPORTS.plural, body)
    assert len(rt.background) == 1
    assert script.requests == []
    rt.reconciling.release()
    await asyncio.gather(*rt.background)
    assert len(script.sent("GET", path)) == 1
    [written] = script.sent("PATCH", path + "/status")
    assert wire.body_of(written)["status"]["conditions"][0]["status"] == "True"
    await rt.kube.close()


async def test_a_look_waiting_for_its_reconcile_is_replaced_by_the_next() -> None:
    """Writes far behind the looks (every slot busy): the release has one look waiting,
    the latest, and one reconcile applies it."""
    script = baking_script(wire.ok())
    script.on("PATCH", wire.rollout_path(sub="status"), wire.ok())
    rt = await one_busy_slot(script)
    key = ("agents", "rel-2")
    first = analysis.settle(rt, key, {}, outcome(Verdict.CONTINUE))
    second = analysis.settle(rt, key, {}, outcome(Verdict.PROMOTE))
    assert first is second
    waiting = rt.looks[key].decision
    assert waiting is not None
    assert waiting.verdict is Verdict.PROMOTE
    rt.reconciling.release()
    await asyncio.wait_for(first, 5)
    assert len(script.sent("GET", RELEASE)) == 1
    [written] = script.sent("PATCH", RELEASE_STATUS)
    assert wire.body_of(written)["status"]["step"] == 2  # the later look's promotion
    assert rt.looks == {}
    assert rt.settling == {}
    await rt.kube.close()
