"""People acting through Argo's own tools beside the operator, end to end.

On call uses `kubectl argo rollouts promote | promote --full | abort | retry | pause |
undo` on a healthy canary baking at step 1. Here the real plugin, built from the same
pinned Argo Rollouts module as the controller and found on the stack env file's PATH,
acts on the real stack; each test checks what a person would: the release's phase, step,
reason and message, its Event, the field manager recorded for the action, and, from Argo's
own record (the Rollout and its Events), that the operator never reversed it.
(docs/operator.md, "People's actions".)
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from builders.stack import policy
from demo import operator
from localstack.clients import Kubectl
from localstack.stack import StackInfo
from localstack.waiting import Pending, wait_for

from .test_operator import (
    canary,
    cli,
    events,
    misbehave,
    reasons,
    rollout,
    status,
    wait_baking,
    wait_phase,
)

pytestmark = pytest.mark.e2e

PLUGIN = "kubectl-argo-rollouts"  # the field manager Argo's plugin writes with


def argo(stack: StackInfo, namespace: str, *args: str) -> str:
    """`kubectl argo rollouts ARGS` as a person types it after `source <stack>/env`."""
    env = dict(os.environ)
    for line in (stack.stack_dir / "env").read_text().splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value.replace("$PATH", env.get("PATH", ""))
    done = subprocess.run(
        ["kubectl", "argo", "rollouts", "-n", namespace, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"kubectl argo rollouts {' '.join(args)}: {done.stderr}"
    return done.stdout


def argo_events(kubectl: Kubectl, namespace: str, agent: str) -> list[str]:
    """What Argo's controller said about the Rollout, `reason: message`, once per time it
    said it (client-go folds a repeated Event into one object and counts it)."""
    listed = kubectl.json(
        "get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={agent}"
    )
    return [
        f"{e['reason']}: {e['message']}"
        for e in listed["items"]
        for _ in range(e.get("count") or 1)
    ]


def stays(check: Callable[[], None], seconds: float, what: str) -> None:
    """`check` holds at every look for `seconds`: the operator does not undo a person."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            check()
        except Pending as broken:
            pytest.fail(f"{what}: {broken}", pytrace=False)
        time.sleep(1)


def acted(release: dict[str, Any], action: str) -> dict[str, Any]:
    """The release's record of a person's action on the Rollout."""
    found = [a for a in release.get("rolloutActions") or [] if a["action"] == action]
    if not found:
        raise Pending(f"no {action} in {release.get('rolloutActions')}")
    return dict(found[-1])


def told(kubectl: Kubectl, namespace: str, name: str, start: str) -> dict[str, Any]:
    """The release's Event whose message starts with `start` (Events follow the status
    write that decided them, so this waits a little)."""

    def find() -> dict[str, Any]:
        for event in events(kubectl, namespace, name):
            if event["message"].startswith(start):
                return event
        raise Pending(f"no Event {start!r}: {reasons(kubectl, namespace, name)}")

    return wait_for(find, 15, f"the Event {start!r}", interval=0.5)


def timestamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def completed(kubectl: Kubectl, namespace: str, agent: str) -> list[str]:
    return [e for e in argo_events(kubectl, namespace, agent) if "RolloutStepCompleted" in e]


def test_promote_is_followed_and_the_step_it_reached_is_baked(
    running_operator: operator.OperatorInfo,
    stack: StackInfo,
    kubectl: Kubectl,
    namespace: str,
    agent: str,
    test_policy: str,
) -> None:
    name = f"{agent}-v2"
    canary(kubectl, namespace, agent, test_policy)
    assert argo(stack, namespace, "promote", agent).strip() == f"rollout '{agent}' promoted"
    baking = wait_baking(kubectl, namespace, name, 2)
    assert (baking["phase"], baking["progress"]) == ("Canary", "2/3 50%")
    record = acted(baking, "promote")
    # clearing a pause owns no field: managedFields cannot say who, and status says so
    assert (record.get("by"), record["step"], record["toStep"]) == (None, 1, 2)
    event = told(kubectl, namespace, name, "promote of the Rollout by an unknown client")
    assert event["reason"] == "ManualAction"
    assert "step 1/3 (5%) → 2/3 (50%)" in event["message"]
    body = rollout(kubectl, namespace, agent)["status"]
    assert (body["currentStepIndex"], body["phase"]) == (3, "Paused")
    # the skipped step is baked: the operator promotes step 2 itself, after its bake
    done = wait_phase(kubectl, namespace, name, "Promoted")
    assert done["reason"] == "Promoted"
    [step2] = [
        e for e in events(kubectl, namespace, name) if e["reason"] == "StepPromoted"
    ]  # the person promoted step 1, not the operator
    assert step2["message"].startswith("step 2/3 (50%) → 3/3 (100%)")
    baked = timestamp(step2["eventTime"]) - timestamp(record["time"])
    assert baked >= 40, f"step 2 promoted {baked:.1f}s after the follow: its bake is 40s"
    steps = completed(kubectl, namespace, agent)
    assert len(steps) == len(set(steps)), f"a step completed twice: {steps}"


def test_promote_full_ends_promoted_with_a_note(
    running_operator: operator.OperatorInfo,
    stack: StackInfo,
    kubectl: Kubectl,
    namespace: str,
    agent: str,
    test_policy: str,
) -> None:
    name = f"{agent}-v2"
    baking = canary(kubectl, namespace, agent, test_policy)
    out = argo(stack, namespace, "promote", agent, "--full")
    assert out.strip() == f"rollout '{agent}' fully promoted"
    done = wait_phase(kubectl, namespace, name, "Promoted", timeout=60)
    assert (done["reason"], done["progress"]) == ("ManualFullPromote", "3/3 100%")
    assert done["message"].endswith(
        f"; promoted in full by {PLUGIN} at step 1/3: "
        "the canary analysis did not decide steps 1 to 2"
    )
    record = acted(done, "promote-full")
    assert (record["by"], record["step"], record["toStep"]) == (PLUGIN, 1, 3)
    assert told(kubectl, namespace, name, f"promote-full of the Rollout by {PLUGIN}")
    assert told(kubectl, namespace, name, f"{agent} runs ")["reason"] == "Promoted"
    assert "StepPromoted" not in reasons(kubectl, namespace, name)
    body = rollout(kubectl, namespace, agent)
    assert body["status"]["phase"] == "Healthy"
    assert body["status"]["stableRS"] == baking["rollout"]["canaryRevision"]
    assert not body["status"].get("abort")


def test_abort_is_a_manual_abort_naming_the_plugin(
    running_operator: operator.OperatorInfo,
    stack: StackInfo,
    kubectl: Kubectl,
    namespace: str,
    agent: str,
    test_policy: str,
) -> None:
    name = f"{agent}-v2"
    canary(kubectl, namespace, agent, test_policy)
    assert argo(stack, namespace, "abort", agent).strip() == f"rollout '{agent}' aborted"
    rolled = wait_phase(kubectl, namespace, name, "RolledBack", timeout=30)
    assert rolled["reason"] == "ManualAbort"
    assert rolled["message"].startswith(f"the Rollout was aborted by {PLUGIN} at ")
    assert (rolled["rollback"]["step"], rolled["rollback"]["weight"]) == (1, 5)
    assert acted(rolled, "abort")["by"] == PLUGIN
    assert told(kubectl, namespace, name, f"abort of the Rollout by {PLUGIN}")["reason"] == (
        "ManualAction"
    )
    assert told(kubectl, namespace, name, "ManualAbort: the Rollout was aborted by")["type"] == (
        "Warning"
    )  # the RolledBack Event
    body = rollout(kubectl, namespace, agent)
    assert body["status"]["abort"] is True


def test_retry_after_an_abort_is_adopted_as_a_new_attempt(
    running_operator: operator.OperatorInfo,
    stack: StackInfo,
    kubectl: Kubectl,
    namespace: str,
    agent: str,
    test_policy: str,
) -> None:
    name = f"{agent}-v2"
    canary(kubectl, namespace, agent, test_policy)
    argo(stack, namespace, "abort", agent)
    wait_phase(kubectl, namespace, name, "RolledBack", timeout=30)
    assert argo(stack, namespace, "retry", "rollout", agent).strip() == (
        f"rollout '{agent}' retried"
    )

    def second_attempt_baking() -> dict[str, Any]:
        current = status(kubectl, namespace, name)
        if current.get("attempt") != 2 or not current.get("stepStartedAt"):
            raise Pending(f"{current.get('phase')} attempt {current.get('attempt')}")
        return current

    again = wait_for(second_attempt_baking, 60, "attempt 2 baking step 1")
    assert (again["phase"], again["step"], "rollback" in again) == ("Canary", 1, False)
    retry = acted(again, "retry")
    assert (retry["by"], retry["attempt"]) == (PLUGIN, 2)
    assert told(kubectl, namespace, name, f"retry of the Rollout by {PLUGIN}: adopted")
    rolled_back = next(c for c in again["conditions"] if c["type"] == "RolledBack")
    assert (rolled_back["status"], rolled_back["reason"]) == ("False", "ManualRetry")
    annotations = rollout(kubectl, namespace, agent)["metadata"].get("annotations") or {}
    assert "agentrelease.dev/rollback" not in annotations  # the old record went

    def aborted_once() -> None:
        aborts = [e for e in argo_events(kubectl, namespace, agent) if "RolloutAborted" in e]
        if len(aborts) != 1 or rollout(kubectl, namespace, agent)["status"].get("abort"):
            raise Pending(f"the Rollout was aborted again: {aborts}")

    stays(aborted_once, 10, "the retry stands")
    # the new attempt goes all the way, judged as any canary
    done = wait_phase(kubectl, namespace, name, "Promoted")
    assert done["attempt"] == 2
    aborted_once()


def test_retry_of_a_canary_shown_to_harm_is_refused_out_loud(
    running_operator: operator.OperatorInfo,
    stack: StackInfo,
    kubectl: Kubectl,
    namespace: str,
    agent: str,
) -> None:
    name, policy_name = f"{agent}-v2", f"e2e-{agent}"
    kubectl.apply([policy(policy_name, bake="5m")])
    baking = canary(kubectl, namespace, agent, policy_name)
    misbehave(kubectl, namespace, baking["rollout"]["canaryRevision"], interventionRate=0.9)
    wait_phase(kubectl, namespace, name, "RolledBack", timeout=60)
    argo(stack, namespace, "retry", "rollout", agent)
    refused = told(kubectl, namespace, name, f"retry of the Rollout by {PLUGIN}: refused")
    assert (refused["reason"], refused["type"]) == ("RetryRefused", "Warning")
    assert "create a new AgentRelease" in refused["message"]
    current = status(kubectl, namespace, name)
    assert (current["phase"], current["reason"]) == ("RolledBack", "GuardrailBreached")
    assert acted(current, "retry")["by"] == PLUGIN

    def aborted_again() -> None:
        # The retry cleared `abort` and the operator set it again. Argo's controller says
        # so with a second RolloutAborted only if it synced the Rollout in between (a busy
        # controller sees the retry and the abort as one state), so what is checked is
        # the Rollout's own record: aborted, and Argo calling it aborted.
        current = rollout(kubectl, namespace, agent)["status"]
        said = str(current.get("message", ""))
        if not current.get("abort") or not said.startswith("RolloutAborted"):
            raise Pending(f"abort {current.get('abort')}, Argo says {said!r}")

    wait_for(aborted_again, 30, "the Rollout aborted again")
    stays(aborted_again, 10, "the refusal stands")


def test_pause_is_held_never_cleared_and_the_canary_goes_on_when_resumed(
    running_operator: operator.OperatorInfo,
    stack: StackInfo,
    kubectl: Kubectl,
    namespace: str,
    agent: str,
    test_policy: str,
) -> None:
    name = f"{agent}-v2"
    canary(kubectl, namespace, agent, test_policy)
    assert argo(stack, namespace, "pause", agent).strip() == f"rollout '{agent}' paused"

    def held_and_ready() -> dict[str, Any]:
        current = status(kubectl, namespace, name)
        if current.get("reason") != "ManualPause" or "ready to promote" not in current.get(
            "message", ""
        ):
            raise Pending(f"{current.get('reason')}: {current.get('message')}")
        return current

    # past its 40 s bake the step would have promoted: held, and the message says so
    held = wait_for(held_and_ready, 120, "held with step 1 ready to promote")
    assert (held["phase"], held["step"]) == ("Canary", 1)
    assert held["message"].startswith(f"held at step 1/3 (5%): the Rollout is paused by {PLUGIN}")
    assert acted(held, "pause")["by"] == PLUGIN
    assert told(kubectl, namespace, name, f"pause of the Rollout by {PLUGIN}: held")
    assert "StepPromoted" not in reasons(kubectl, namespace, name)

    def still_paused() -> None:
        body = rollout(kubectl, namespace, agent)
        spec, state = body["spec"], body["status"]
        if spec.get("paused") is not True or not state.get("pauseConditions"):
            raise Pending(f"spec.paused {spec.get('paused')}, {state.get('pauseConditions')}")
        if state.get("currentStepIndex") != 1:
            raise Pending(f"moved to index {state.get('currentStepIndex')}")

    stays(still_paused, 12, "the person's pause stands")
    assert completed(kubectl, namespace, agent) == [
        "RolloutStepCompleted: Rollout step 1/4 completed (setWeight: 5)"
    ]
    shown = cli(stack, "status", name, "-n", namespace)
    assert f"pause by {PLUGIN}: held" in shown.stdout
    # resumed with the plugin: recorded, and the canary goes on to Promoted
    argo(stack, namespace, "promote", agent)
    done = wait_phase(kubectl, namespace, name, "Promoted")
    assert [a["action"] for a in done["rolloutActions"]][:2] == ["pause", "resume"]
    assert acted(done, "resume")["by"] == PLUGIN


def test_undo_ends_rolled_back_and_the_template_stays_undone(
    running_operator: operator.OperatorInfo,
    stack: StackInfo,
    kubectl: Kubectl,
    namespace: str,
    agent: str,
    test_policy: str,
) -> None:
    name = f"{agent}-v2"
    baking = canary(kubectl, namespace, agent, test_policy)
    assert argo(stack, namespace, "undo", agent).strip() == f"rollout '{agent}' undo"
    rolled = wait_phase(kubectl, namespace, name, "RolledBack", timeout=30)
    assert rolled["reason"] == "ManualUndo"
    assert rolled["message"].startswith(
        f"the Rollout was rolled back to the template of {agent}-v1 by {PLUGIN} at "
    )
    assert rolled["rollback"]["reason"] == "ManualUndo"
    assert acted(rolled, "undo")["by"] == PLUGIN
    assert told(kubectl, namespace, name, f"undo of the Rollout by {PLUGIN}")
    stable = baking["rollout"]["stableRevision"]

    def undone() -> None:
        body = kubectl.json(
            "get", "rollouts.argoproj.io", agent, "-n", namespace, "--show-managed-fields"
        )
        template = body["spec"]["template"]["metadata"]["annotations"]
        if template["agentrelease.dev/release"] != f"{agent}-v1":
            raise Pending(f"the template is {template['agentrelease.dev/release']}'s again")
        owners = [
            m["manager"]
            for m in body["metadata"]["managedFields"]
            if "f:agentrelease.dev/release"
            in (
                m["fieldsV1"]
                .get("f:spec", {})
                .get("f:template", {})
                .get("f:metadata", {})
                .get("f:annotations", {})
            )
        ]
        if owners != [PLUGIN]:
            raise Pending(f"the template's release was written by {owners}")
        state = body["status"]
        if (state.get("phase"), state.get("currentPodHash"), state.get("stableRS")) != (
            "Healthy",
            stable,
            stable,
        ):
            raise Pending(f"{state.get('phase')} on {state.get('currentPodHash')}")

    wait_for(undone, 30, "Argo back on the stable revision")
    stays(undone, 10, "the undo stands")
    assert not any("revision 4" in e for e in argo_events(kubectl, namespace, agent))
    shown = cli(stack, "status", name, "-n", namespace)
    assert f"undo by {PLUGIN}: rolled back (ManualUndo)" in shown.stdout
