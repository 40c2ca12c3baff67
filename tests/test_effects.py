"""Every effect under every answer the API server may give (controller/effects.py).

The table below is the contract of `effects.apply`: what each effect does when its
write is refused. Changing how an effect takes an answer fails this test on purpose.
On `httpx.MockTransport`; the end-to-end tests do the same against the real stack.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import httpx
import kopf
import pytest

from agent_release.adapters.kube import ApiError
from agent_release.api.names import ROLLOUTS
from agent_release.api.release import AgentRelease
from agent_release.controller import effects, rollouts
from agent_release.controller.leadership import NotLeader
from agent_release.controller.plan import (
    AbortRollout,
    AnnotateRollout,
    CreateRollout,
    Effect,
    PromoteStep,
    UpdateRollout,
)
from agent_release.controller.runtime import Config, Runtime
from builders import wire
from builders.objects import release
from builders.wire import Script, status_error
from builders.worlds import canary_status

COLLECTION = ROLLOUTS.path("agents")
ROLLOUT = wire.rollout_path()
STATUS = wire.rollout_path(sub="status")

# effect -> (method, path) of the write whose answer varies
WRITES: dict[str, tuple[Effect, str, str]] = {
    "create": (CreateRollout(), "POST", COLLECTION),
    "update": (UpdateRollout(), "PATCH", ROLLOUT),
    "promote": (PromoteStep(expected_index=1), "PATCH", STATUS),
    "abort": (AbortRollout(), "PATCH", STATUS),
    "annotate": (AnnotateRollout({"agentrelease.dev/eval-run-ids": "a,b"}), "PATCH", ROLLOUT),
}

REFUSALS: dict[str, wire.Answer] = {
    "404": status_error(404, "NotFound"),
    "409": status_error(409, "Conflict"),
    "410": status_error(410, "Gone"),
    "422": status_error(422, "Invalid", "the test operation failed"),
    "500": status_error(500, "InternalError"),
    "timeout": wire.timeout,
}

# what comes of each refusal: "skip" (logged, nothing raised), "take over" (the create
# found a Rollout and hands it over instead), or the ApiError raised and whether the
# next reconcile may succeed by itself
SKIP, TAKE_OVER = "skip", "take over"
RETRY, FIX = "raise: retriable", "raise: needs a change"
CONTRACT = {
    "create": {
        "404": SKIP,
        "409": TAKE_OVER,
        "410": FIX,
        "422": FIX,
        "500": RETRY,
        "timeout": RETRY,
    },
    "update": {"404": SKIP, "409": RETRY, "410": FIX, "422": FIX, "500": RETRY, "timeout": RETRY},
    "promote": {"404": SKIP, "409": SKIP, "410": FIX, "422": FIX, "500": RETRY, "timeout": RETRY},
    "abort": {"404": SKIP, "409": RETRY, "410": FIX, "422": FIX, "500": RETRY, "timeout": RETRY},
    "annotate": {"404": SKIP, "409": RETRY, "410": FIX, "422": FIX, "500": RETRY, "timeout": RETRY},
}


def script_for(effect: str, answer: wire.Answer) -> Script:
    _, method, path = WRITES[effect]
    conflict = isinstance(answer, httpx.Response) and answer.status_code == 409
    if effect == "create" and conflict:
        answer = status_error(409, "AlreadyExists")  # what a 409 on a create is
    script = Script().on(method, path, answer)
    script.on("GET", ROLLOUT, wire.ok(wire.rollout_body(index=1, paused=True)))
    script.on("PATCH", ROLLOUT, wire.ok())  # the take-over after AlreadyExists
    return script


def runtime(script: Script, relogin: Callable[[], kopf.ConnectionInfo] | None = None) -> Runtime:
    return Runtime(kube=wire.kube(script, relogin), prometheus=None, config=Config())


def baking() -> AgentRelease:
    return release(**canary_status())


@pytest.mark.parametrize("refusal", list(REFUSALS))
@pytest.mark.parametrize("effect", list(WRITES))
async def test_each_effect_takes_each_refusal_as_its_contract_says(
    effect: str, refusal: str
) -> None:
    script = script_for(effect, REFUSALS[refusal])
    rt = runtime(script)
    expected = CONTRACT[effect][refusal]
    try:
        await effects.apply(rt, baking(), WRITES[effect][0])
    except ApiError as error:
        outcome = RETRY if error.retriable else FIX
    else:
        taken_over = effect == "create" and script.sent("PATCH", ROLLOUT)
        outcome = TAKE_OVER if taken_over else SKIP
    assert outcome == expected
    await rt.kube.close()


@pytest.mark.parametrize("effect", list(WRITES))
async def test_each_effect_logs_in_again_on_401_and_is_applied(effect: str) -> None:
    _, method, path = WRITES[effect]

    def by_token(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] != "Bearer token-2":
            return status_error(401, "Unauthorized")
        return wire.ok(wire.rollout_body(index=1, paused=True))

    script = Script().on(method, path, by_token)
    script.on("GET", ROLLOUT, by_token)
    rt = runtime(script, relogin=lambda: wire.connection("token-2"))
    await effects.apply(rt, baking(), WRITES[effect][0])
    writes = script.sent(method, path)
    assert [r.headers["Authorization"] for r in writes][-1] == "Bearer token-2"
    # every effect but a create reads the Rollout first: the 401 and the re-login come there
    assert len(writes) == (2 if effect == "create" else 1)
    await rt.kube.close()


async def test_a_step_is_promoted_only_from_the_pause_status_names() -> None:
    """A replayed promotion finds the Rollout further on and sends nothing."""
    script = Script().on("GET", ROLLOUT, wire.ok(wire.rollout_body(index=3, paused=True)))
    rt = runtime(script)
    await effects.apply(rt, baking(), PromoteStep(expected_index=1))
    assert script.sent("PATCH", STATUS) == []
    # at the expected pause: one patch, conditional on the resourceVersion it was read at
    script = Script().on("GET", ROLLOUT, wire.ok(wire.rollout_body(index=1, resource_version="77")))
    script.on("PATCH", STATUS, wire.ok())
    rt = runtime(script)
    await effects.apply(rt, baking(), PromoteStep(expected_index=1))
    [patch] = script.sent("PATCH", STATUS)
    assert wire.body_of(patch) == {
        "status": {"pauseConditions": None},
        "metadata": {"resourceVersion": "77"},
    }
    assert patch.headers["Content-Type"] == "application/merge-patch+json"


async def test_a_step_is_never_promoted_while_a_person_holds_the_rollout_paused() -> None:
    """`kubectl argo rollouts pause` sets spec.paused: clearing the step's pause then would
    undo nothing of theirs, but Argo would put it back and the operator would fight on."""
    held = wire.rollout_body(index=1, paused=True, held=True)
    script = Script().on("GET", ROLLOUT, wire.ok(held))
    rt = runtime(script)
    await effects.apply(rt, baking(), PromoteStep(expected_index=1))
    assert script.sent("PATCH", STATUS) == []
    await rt.kube.close()


async def test_the_fault_hook_exits_before_the_named_effect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exits: list[int] = []

    def exit_(code: int) -> None:
        exits.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(os, "_exit", exit_)
    script = Script()
    rt = Runtime(wire.kube(script), None, Config(crash_before="PromoteStep"))
    with pytest.raises(SystemExit):
        await effects.apply(rt, baking(), PromoteStep(expected_index=1))
    assert exits == [effects.CRASH_EXIT_CODE]
    assert script.requests == []  # status was written; the Rollout was not touched


@pytest.mark.parametrize("effect", ["abort", "annotate"])
async def test_rollout_patches_are_conditional_on_what_was_read(effect: str) -> None:
    """A fenced leader's patch cannot land on a Rollout changed since: the resourceVersion
    travels with it, and a conflict is read again (Argo writes the Rollout often)."""
    _, method, path = WRITES[effect]
    versions = iter(["41", "42", "43"])
    answers = iter([status_error(409, "Conflict"), wire.ok()])
    script = Script().on(method, path, lambda _: next(answers))
    script.on("GET", ROLLOUT, lambda _: wire.ok(wire.rollout_body(resource_version=next(versions))))
    rt = runtime(script)
    await effects.apply(rt, baking(), WRITES[effect][0])
    sent = [wire.body_of(r)["metadata"]["resourceVersion"] for r in script.sent(method, path)]
    assert sent == ["41", "42"]


async def test_a_replica_that_is_not_the_leader_touches_nothing() -> None:
    class Standby:
        me = "standby-1"

        def is_leader(self) -> bool:
            return False

    script = Script()
    rt = Runtime(wire.kube(script), None, Config(), leadership=Standby())  # type: ignore[arg-type]
    for effect, _, _ in WRITES.values():
        with pytest.raises(NotLeader):
            await effects.apply(rt, baking(), effect)
    assert script.requests == []


async def test_effects_are_sent_on_the_rollout_as_the_decision_read_it() -> None:
    """A rollback's abort and annotation, each at the resourceVersion the last answer
    gave, with no read between: at two hundred simultaneous breaches that is two round
    trips fewer each before the canary stops serving."""
    seen = rollouts.view(wire.rollout_body(index=1, paused=True, resource_version="77"))
    script = Script()
    script.on("PATCH", STATUS, wire.ok(wire.rollout_body(index=1, resource_version="78")))
    script.on("PATCH", ROLLOUT, wire.ok(wire.rollout_body(index=1, resource_version="79")))
    rt = runtime(script)
    after = await effects.apply(rt, baking(), AbortRollout(), seen)
    last = await effects.apply(rt, baking(), AnnotateRollout({"a": "b"}), after)
    assert script.sent("GET", ROLLOUT) == []
    [abort] = script.sent("PATCH", STATUS)
    [annotate] = script.sent("PATCH", ROLLOUT)
    assert wire.body_of(abort)["metadata"] == {"resourceVersion": "77"}
    assert wire.body_of(annotate)["metadata"] == {
        "annotations": {"a": "b"},
        "resourceVersion": "78",
    }
    assert last is not None
    assert last.resource_version == "79"
    # a promotion decided on a Rollout that is not at that pause sends nothing at all
    beyond = rollouts.view(wire.rollout_body(index=3, paused=True))
    script.requests.clear()
    await effects.apply(rt, baking(), PromoteStep(expected_index=1), beyond)
    assert script.requests == []
    await rt.kube.close()


async def test_an_effect_on_a_rollout_changed_since_it_was_read_reads_it_again() -> None:
    seen = rollouts.view(wire.rollout_body(index=1, paused=True, resource_version="77"))
    answers = iter([status_error(409, "Conflict"), wire.ok()])
    script = Script().on("PATCH", STATUS, lambda _: next(answers))
    script.on("GET", ROLLOUT, wire.ok(wire.rollout_body(index=1, resource_version="80")))
    rt = runtime(script)
    await effects.apply(rt, baking(), AbortRollout(), seen)
    sent = [wire.body_of(r)["metadata"]["resourceVersion"] for r in script.sent("PATCH", STATUS)]
    assert sent == ["77", "80"]
    # a promotion on a changed Rollout is skipped (the next reconcile sees where it is)
    script = Script().on("PATCH", STATUS, status_error(409, "Conflict"))
    rt2 = runtime(script)
    assert await effects.apply(rt2, baking(), PromoteStep(expected_index=1), seen) is None
    assert len(script.sent("PATCH", STATUS)) == 1
    assert script.sent("GET", ROLLOUT) == []
    await rt.kube.close()
    await rt2.kube.close()
