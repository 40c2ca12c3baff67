"""The operator end to end, on the local stack of real components (SPEC §9).

Real kube-apiserver, real Argo Rollouts controller, real Prometheus scraping the
traffic simulator; the operator runs as a process with the chart's ServiceAccount
and ClusterRole. Each test has its own namespace, agent and policy. Time bounds here
are deadlines for waiting, not performance assertions (those are `make bench`).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from agent_sim.behaviour import ANNOTATION as BEHAVIOUR
from builders.stack import HEALTHY, policy, release, reports
from demo import operator
from localstack.clients import Kubectl, KubectlError, Prometheus
from localstack.stack import Stack, StackInfo
from localstack.waiting import Pending, wait_for

pytestmark = pytest.mark.e2e

ARELS = "agentreleases.agentrelease.dev"


def status(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = kubectl.json("get", ARELS, name, "-n", namespace)
    return body.get("status") or {}


def wait_phase(
    kubectl: Kubectl, namespace: str, name: str, phase: str, timeout: float = 240
) -> dict[str, Any]:
    def check() -> dict[str, Any]:
        current = status(kubectl, namespace, name)
        if current.get("phase") != phase:
            raise Pending(
                f"phase {current.get('phase')} ({current.get('reason')}: {current.get('message')})"
            )
        return current

    return wait_for(check, timeout, f"{name} {phase}", interval=1)


def events(kubectl: Kubectl, namespace: str, name: str) -> list[dict[str, Any]]:
    listed = kubectl.json(
        "get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}"
    )
    # lastTimestamp has whole seconds; eventTime orders decisions within one second
    return sorted(
        listed["items"], key=lambda e: (e.get("lastTimestamp") or "", e.get("eventTime") or "")
    )


def reasons(kubectl: Kubectl, namespace: str, name: str) -> list[str]:
    return [e["reason"] for e in events(kubectl, namespace, name)]


def ship(kubectl: Kubectl, namespace: str, *objects: dict[str, Any]) -> None:
    kubectl.apply(list(objects), "-n", namespace)


def baseline(kubectl: Kubectl, namespace: str, agent: str, policy_name: str) -> None:
    """The agent's first release, deployed at once: the stable version for canaries."""
    ship(kubectl, namespace, *reports(agent, "v1", 1), release(agent, "v1", policy_name))
    wait_phase(kubectl, namespace, f"{agent}-v1", "Promoted", timeout=90)


def canary(
    kubectl: Kubectl,
    namespace: str,
    agent: str,
    policy_name: str,
    behaviour: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The agent's baseline, then candidate v2 baking at step 1; returns v2's status."""
    baseline(kubectl, namespace, agent, policy_name)
    ship(kubectl, namespace, *reports(agent, "v2", 2), release(agent, "v2", policy_name, behaviour))
    return wait_baking(kubectl, namespace, f"{agent}-v2", 1)


def rollout(kubectl: Kubectl, namespace: str, agent: str) -> dict[str, Any]:
    body: dict[str, Any] = kubectl.json("get", "rollouts.argoproj.io", agent, "-n", namespace)
    return body


def canary_pods(kubectl: Kubectl, namespace: str, revision: str) -> list[str]:
    listed = kubectl.json(
        "get", "pods", "-n", namespace, "-l", f"rollouts-pod-template-hash={revision}"
    )
    return [p["metadata"]["name"] for p in listed["items"]]


def wait_baking(kubectl: Kubectl, namespace: str, name: str, step: int) -> dict[str, Any]:
    def check() -> dict[str, Any]:
        current = status(kubectl, namespace, name)
        if current.get("step") != step or not current.get("stepStartedAt"):
            raise Pending(
                f"{current.get('phase')} step {current.get('step')} {current.get('reason')}"
            )
        return current

    return wait_for(check, 120, f"{name} baking step {step}", interval=1)


def misbehave(kubectl: Kubectl, namespace: str, revision: str, **changes: Any) -> float:
    """Make the canary pods of `revision` behave differently from now on; returns when."""
    behaviour = json.dumps({**HEALTHY, **changes})
    for pod in canary_pods(kubectl, namespace, revision):
        kubectl.run(
            "annotate", "pod", pod, "-n", namespace, f"{BEHAVIOUR}={behaviour}", "--overwrite"
        )
    return time.time()


# -- gates -------------------------------------------------------------------------------


def test_happy_path_promotes_through_every_step(
    running_operator: operator.OperatorInfo,
    kubectl: Kubectl,
    namespace: str,
    agent: str,
    test_policy: str,
) -> None:
    baseline(kubectl, namespace, agent, test_policy)
    ship(kubectl, namespace, *reports(agent, "v2", 2), release(agent, "v2", test_policy))
    done = wait_phase(kubectl, namespace, f"{agent}-v2", "Promoted")
    assert done["progress"] == "3/3 100%"
    assert done["evalRunIds"] == [f"{agent}-v2-offline", f"{agent}-v2-prerelease"]
    assert done["baseline"]["release"] == f"{agent}-v1"
    seen = reasons(kubectl, namespace, f"{agent}-v2")
    assert seen.count("StepPromoted") == 2
    assert seen[-1] == "Promoted"
    promoted = [
        e["message"]
        for e in events(kubectl, namespace, f"{agent}-v2")
        if e["reason"] == "StepPromoted"
    ]
    assert promoted[0].startswith("step 1/3 (5%) → 2/3 (50%)")
    assert promoted[1].startswith("step 2/3 (50%) → 3/3 (100%)")
    body = rollout(kubectl, namespace, agent)
    annotations = body["metadata"]["annotations"]
    assert (
        annotations["agentrelease.dev/eval-run-ids"] == f"{agent}-v2-offline,{agent}-v2-prerelease"
    )
    template = body["spec"]["template"]
    assert template["metadata"]["annotations"]["agentrelease.dev/release"] == f"{agent}-v2"
    assert template["spec"]["containers"][0]["image"] == f"registry.example/{agent}:v2"
    assert body["status"]["phase"] == "Healthy"
    assert body["metadata"]["ownerReferences"][0]["name"] == f"{agent}-v2"
    table = kubectl.run("get", ARELS, f"{agent}-v2", "-n", namespace).splitlines()
    assert table[0].split() == ["NAME", "AGENT", "MODEL", "PHASE", "STEP", "REASON", "AGE"]
    age = r"(\d+m)?\d+s|\d+m"  # kubectl's ages: 45s, 3m, 2m26s
    row = rf"{agent}-v2\s+{agent}\s+model-v2\s+Promoted\s+3/3 100%\s+Promoted\s+({age})"
    assert re.fullmatch(row, table[1].strip()), table[1]
    # the field selectors the operator finds reports with work for people too
    offline = kubectl.run(
        "get",
        "evalreports.agentrelease.dev",
        "-n",
        namespace,
        "--field-selector",
        f"spec.agent={agent},spec.stage=offline",
        "-o",
        "name",
    ).split()
    assert sorted(offline) == [
        f"evalreport.agentrelease.dev/{agent}-{v}-offline" for v in ("v1", "v2")
    ]


def _intervals(log: Path, namespace: str, name: str) -> list[dict[str, Any]]:
    """The intervals the operator added for a release, as its log recorded them."""
    out: dict[float, dict[str, Any]] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        if '"interval"' not in line:
            continue
        entry = json.loads(line)
        if (entry.get("event"), entry.get("namespace"), entry.get("release")) == (
            "interval",
            namespace,
            name,
        ):
            out[entry["at"]] = {k: entry[k] for k in ("at", "canary", "stable")}
    return [out[at] for at in sorted(out)]


def test_a_replay_of_the_recorded_canary_decides_as_the_operator_did(
    running_operator: operator.OperatorInfo,
    stack: StackInfo,
    kubectl: Kubectl,
    prometheus: Prometheus,
    namespace: str,
    agent: str,
    tmp_path: Path,
) -> None:
    """The operator's `interval` log lines, replayed by `agent-release replay` with the same
    policy, give the same decisions at the same looks and the same numbers, cost per
    successful task included; and those intervals add up to what Prometheus' raw counters
    say the canary did."""
    name = f"e2e-{agent}"
    manifest = policy(name)
    kubectl.apply([manifest])
    baking = canary(kubectl, namespace, agent, name)
    # while it bakes, status carries the forecast that `kubectl describe` shows
    forecast = wait_for(lambda: _forecast(kubectl, namespace, f"{agent}-v2"), 60, "a forecast")
    assert {g["metric"] for g in forecast["guardrails"]} >= {"human_intervention_rate"}
    described = kubectl.run("describe", ARELS, f"{agent}-v2", "-n", namespace)
    assert "Forecast:" in described
    assert "Full At:" in described
    done = wait_phase(kubectl, namespace, f"{agent}-v2", "Promoted")
    recorded = _intervals(running_operator.log, namespace, f"{agent}-v2")
    assert recorded, "no interval logged"
    intervals = tmp_path / "intervals.jsonl"
    intervals.write_text("".join(json.dumps(r) + "\n" for r in recorded), encoding="utf-8")
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(json.dumps(manifest), encoding="utf-8")
    cli = str(Path(sys.executable).parent / "agent-release")
    replay = [cli, "replay", "--policy", str(policy_file), "--output", "json"]
    replayed = subprocess.run(
        [*replay, str(intervals)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    looks = [json.loads(line) for line in replayed]
    decided = [(d["step"], d["verdict"]) for d in looks if d["verdict"] != "Continue"]
    assert decided == [(1, "Promote"), (2, "Promote")]
    last, analysis = looks[-1], done["analysis"]
    assert last["at"] == analysis["at"]  # the same look decided it
    operator_numbers = {
        g["metric"]: (g.get("observed"), g.get("evidence")) for g in analysis["guardrails"]
    }
    replay_numbers = {
        metric: (g["observed"], g["evidence"]) for metric, g in last["guardrails"].items()
    }
    assert replay_numbers == operator_numbers
    assert operator_numbers["cost_per_successful_task"][0] is not None
    # the recorded intervals add up to the canary's increase over the whole span, as
    # Prometheus computes it in one window: no window counted twice, none left out
    revision = baking["rollout"]["canaryRevision"]
    began = datetime.fromisoformat(done["evidence"]["beganAt"]).timestamp()
    span = recorded[-1]["at"]
    # and the history Prometheus keeps, replayed with the operator's queries, decides the same
    history = subprocess.run(
        [
            *replay,
            "--prometheus",
            stack.prometheus_url,
            "--ca-file",
            str(stack.ca_file),
            "--agent",
            agent,
            "--canary-revision",
            revision,
            "--stable-revision",
            baking["rollout"]["stableRevision"],
            "--from",
            f"{began:.0f}",
            "--to",
            f"{began + span:.0f}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    again = [json.loads(line) for line in history]
    assert [(d["step"], d["verdict"]) for d in again if d["verdict"] != "Continue"] == decided
    for counter, field, matchers in (
        ("agent_task_cost_usd_total", "cost_usd", ""),
        ("agent_tasks_total", "successes", ',outcome="success"'),
    ):
        selector = f'{{agent="{agent}",revision="{revision}"{matchers}}}'
        whole = prometheus.query(
            f"sum(increase({counter}{selector}[{span:.0f}s]))", at=began + span
        )
        total = sum(r["canary"].get(field, 0.0) for r in recorded)
        assert total == pytest.approx(float(whole[0]["value"][1]), rel=0.03), counter


def _forecast(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    current = status(kubectl, namespace, name)
    forecast = current.get("forecast") or {}
    if not forecast.get("fullAt") or not forecast.get("guardrails"):
        raise Pending(f"no forecast yet: {current.get('reason')}")
    collected = [g["collected"] for g in forecast["guardrails"]]
    if not all(c > 0 for c in collected):
        raise Pending(f"collected {collected}")
    return dict(forecast)


def test_offline_gate_blocks_a_slice_below_floor_and_creates_no_rollout(
    running_operator: operator.OperatorInfo,
    kubectl: Kubectl,
    namespace: str,
    agent: str,
    test_policy: str,
) -> None:
    ship(kubectl, namespace, *reports(agent, "v1", 1, code=0.30), release(agent, "v1", test_policy))
    blocked = wait_phase(kubectl, namespace, f"{agent}-v1", "Blocked", timeout=60)
    assert blocked["reason"] == "SliceBelowFloor"
    condition = next(c for c in blocked["conditions"] if c["type"] == "OfflineGatePassed")
    assert condition["status"] == "False"
    assert "pass rate (code, 1000 attempts) 30.5%" in condition["message"]
    assert "below the minimum of 40.0%" in condition["message"]
    assert "GateBlocked" in reasons(kubectl, namespace, f"{agent}-v1")
    with pytest.raises(KubectlError, match="NotFound"):
        rollout(kubectl, namespace, agent)


def test_prerelease_gate_blocks_an_intervention_regression(
    running_operator: operator.OperatorInfo,
    kubectl: Kubectl,
    namespace: str,
    agent: str,
    test_policy: str,
) -> None:
    baseline(kubectl, namespace, agent, test_policy)
    ship(
        kubectl,
        namespace,
        *reports(agent, "v2", 2, interventions=0.06),
        release(agent, "v2", test_policy),
    )
    blocked = wait_phase(kubectl, namespace, f"{agent}-v2", "Blocked", timeout=60)
    assert blocked["reason"] == "InterventionRegression"
    assert blocked["gates"]["offline"]["decision"] == "Pass"
    check = next(
        c for c in blocked["gates"]["prerelease"]["checks"] if c["name"] == "intervention-rate"
    )
    assert check["result"] == "Fail"
    assert check["threshold"] == 0.005
    assert (
        rollout(kubectl, namespace, agent)["metadata"]["annotations"]["agentrelease.dev/release"]
        == f"{agent}-v1"
    )


# -- canary ------------------------------------------------------------------------------


def test_guardrail_breach_rolls_back_within_one_interval(
    running_operator: operator.OperatorInfo, kubectl: Kubectl, namespace: str, agent: str
) -> None:
    name = f"e2e-{agent}"
    kubectl.apply([policy(name, bake="5m")])
    baking = canary(kubectl, namespace, agent, name)
    wait_for(lambda: _looked(kubectl, namespace, f"{agent}-v2", 1), 60, "a first healthy look")
    flipped = misbehave(
        kubectl, namespace, baking["rollout"]["canaryRevision"], interventionRate=0.9
    )
    rolled = wait_phase(kubectl, namespace, f"{agent}-v2", "RolledBack", timeout=60)
    record = rolled["rollback"]
    assert record["reason"] == "GuardrailBreached"
    assert record["metric"] == "human_intervention_rate"
    assert (record["step"], record["weight"]) == (1, 5)
    assert record["revision"] == baking["rollout"]["canaryRevision"]
    assert record["observed"] > record["threshold"]
    # one analysis interval (10 s) after the next scrape (5 s), plus a margin
    assert rolled_at(record) - flipped < 10 + 5 + 10
    body = rollout(kubectl, namespace, agent)
    assert body["status"]["abort"] is True
    assert (
        json.loads(body["metadata"]["annotations"]["agentrelease.dev/rollback"])["metric"]
        == "human_intervention_rate"
    )
    wait_for(
        lambda: _no_canary_pods(kubectl, namespace, record["revision"]), 60, "canary scaled to 0"
    )
    # both told in the same second: Events order only to the second
    assert set(reasons(kubectl, namespace, f"{agent}-v2")[-2:]) == {
        "GuardrailBreached",
        "RolledBack",
    }


def rolled_at(record: dict[str, Any]) -> float:
    from datetime import datetime  # noqa: PLC0415

    return datetime.fromisoformat(record["time"].replace("Z", "+00:00")).timestamp()


def _no_canary_pods(kubectl: Kubectl, namespace: str, revision: str) -> None:
    ready = [
        p
        for p in kubectl.json(
            "get", "pods", "-n", namespace, "-l", f"rollouts-pod-template-hash={revision}"
        )["items"]
        if p.get("status", {}).get("phase") == "Running"
    ]
    if ready:
        raise Pending(f"{len(ready)} canary pods still running")


def test_a_hard_policy_violation_aborts_at_the_next_look(
    running_operator: operator.OperatorInfo, kubectl: Kubectl, namespace: str, agent: str
) -> None:
    name = f"e2e-{agent}"
    kubectl.apply([policy(name, bake="5m")])
    baking = canary(kubectl, namespace, agent, name)
    flipped = misbehave(
        kubectl, namespace, baking["rollout"]["canaryRevision"], policyViolationRate=0.2
    )
    rolled = wait_phase(kubectl, namespace, f"{agent}-v2", "RolledBack", timeout=60)
    record = rolled["rollback"]
    assert (record["reason"], record["metric"]) == ("PolicyViolation", "policy_violation_rate")
    assert record["observed"] >= 1
    assert rolled_at(record) - flipped < 10 + 5 + 10


def test_low_traffic_holds_with_insufficient_traffic_and_never_promotes(
    running_operator: operator.OperatorInfo,
    kubectl: Kubectl,
    namespace: str,
    agent: str,
    test_policy: str,
) -> None:
    quiet = {**HEALTHY, "requestsPerSecond": 0.05}
    canary(kubectl, namespace, agent, test_policy, quiet)

    def holding() -> dict[str, Any]:
        current = status(kubectl, namespace, f"{agent}-v2")
        if current.get("reason") != "InsufficientTraffic":
            raise Pending(f"{current.get('phase')} {current.get('reason')}")
        return current

    held = wait_for(holding, 90, "a hold for insufficient traffic")
    assert held["phase"] == "Canary"
    assert held["step"] == 1
    looks = held["analysis"]["look"]
    later = wait_for(
        lambda: _looked(kubectl, namespace, f"{agent}-v2", looks + 2), 60, "two more looks"
    )
    assert (later["phase"], later["step"], later["reason"]) == ("Canary", 1, "InsufficientTraffic")
    assert "StepPromoted" not in reasons(kubectl, namespace, f"{agent}-v2")
    assert "Holding" in reasons(kubectl, namespace, f"{agent}-v2")


def test_prometheus_down_never_promotes_and_holds_with_metrics_unavailable(
    running_operator: operator.OperatorInfo,
    stack: StackInfo,
    kubectl: Kubectl,
    namespace: str,
    agent: str,
    test_policy: str,
) -> None:
    canary(kubectl, namespace, agent, test_policy)
    prometheus = _component_pid(stack, "prometheus")
    os.killpg(prometheus, signal.SIGKILL)
    try:
        held = wait_for(
            lambda: _reason(kubectl, namespace, f"{agent}-v2", "MetricsUnavailable"),
            60,
            "a hold for unavailable metrics",
        )
        assert held["phase"] == "Canary"
        later = wait_for(
            lambda: _failed(kubectl, namespace, f"{agent}-v2", 6), 120, "six failed looks"
        )  # well past the 40 s bake: without metrics, no promotion
        assert (later["phase"], later["step"]) == ("Canary", 1)
        assert "StepPromoted" not in reasons(kubectl, namespace, f"{agent}-v2")
    finally:
        Stack(stack.stack_dir).up()  # repairs the stack: Prometheus comes back
    wait_phase(kubectl, namespace, f"{agent}-v2", "Promoted", timeout=240)


def _looked(kubectl: Kubectl, namespace: str, name: str, looks: int) -> dict[str, Any]:
    current = status(kubectl, namespace, name)
    if (current.get("analysis") or {}).get("look", 0) < looks:
        raise Pending(f"{current.get('analysis', {}).get('look')} looks")
    return current


def _failed(kubectl: Kubectl, namespace: str, name: str, failures: int) -> dict[str, Any]:
    current = status(kubectl, namespace, name)
    if current.get("metricsFailures", 0) < failures:
        raise Pending(f"{current.get('metricsFailures')} failed looks")
    return current


def _reason(kubectl: Kubectl, namespace: str, name: str, reason: str) -> dict[str, Any]:
    current = status(kubectl, namespace, name)
    if current.get("reason") != reason:
        raise Pending(f"{current.get('phase')} {current.get('reason')}")
    return current


def _component_pid(stack: StackInfo, component: str) -> int:
    state = json.loads((stack.stack_dir / "state.json").read_text())
    pid: int = state["processes"][component]["pid"]
    return pid


# -- robustness --------------------------------------------------------------------------


def test_killed_at_the_worst_line_the_operator_neither_skips_nor_repeats_a_step(
    running_operator: operator.OperatorInfo,
    stack: StackInfo,
    kubectl: Kubectl,
    namespace: str,
    agent: str,
    test_policy: str,
) -> None:
    """The operator dies after writing "step 2" to status and before promoting the
    Rollout (fault injection); restarted, it must promote exactly once per step."""
    baseline(kubectl, namespace, agent, test_policy)
    operator.stop(stack.stack_dir)
    faulty = operator.start(stack, kubectl, AGENT_RELEASE_FAULT="crash-before:PromoteStep")
    ship(kubectl, namespace, *reports(agent, "v2", 2), release(agent, "v2", test_policy))
    wait_for(lambda: _exited(faulty.pid), 240, "the operator to die at its first promotion")
    died = status(kubectl, namespace, f"{agent}-v2")
    assert died["step"] == 2  # status was written...
    assert (
        rollout(kubectl, namespace, agent)["status"]["currentStepIndex"] == 1
    )  # ...the Rollout not
    operator.start(stack, kubectl)
    wait_phase(kubectl, namespace, f"{agent}-v2", "Promoted")
    argo = kubectl.json(
        "get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={agent}"
    )
    completed = [e["message"] for e in argo["items"] if e["reason"] == "RolloutStepCompleted"]
    steps = sorted(completed)
    assert len(steps) == len(set(steps)), f"a step completed twice: {steps}"
    promoted = [
        e["message"]
        for e in events(kubectl, namespace, f"{agent}-v2")
        if e["reason"] == "StepPromoted"
    ]
    assert [m.split(":")[0] for m in promoted] == [
        "step 1/3 (5%) → 2/3 (50%)",
        "step 2/3 (50%) → 3/3 (100%)",
    ]


def _exited(pid: int) -> None:
    if Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z":
        raise Pending(f"pid {pid} still running")


def test_sigkill_mid_step_then_restart_finishes_correctly(
    running_operator: operator.OperatorInfo,
    stack: StackInfo,
    kubectl: Kubectl,
    namespace: str,
    agent: str,
    test_policy: str,
) -> None:
    canary(kubectl, namespace, agent, test_policy)
    wait_for(lambda: _looked(kubectl, namespace, f"{agent}-v2", 1), 30, "a first look")
    operator.kill(stack.stack_dir)
    time.sleep(25)  # the bake ends while nobody watches
    operator.start(stack, kubectl)
    done = wait_phase(kubectl, namespace, f"{agent}-v2", "Promoted")
    assert done["progress"] == "3/3 100%"
    promoted = [
        e["message"]
        for e in events(kubectl, namespace, f"{agent}-v2")
        if e["reason"] == "StepPromoted"
    ]
    assert len(promoted) == 2


def test_a_newer_release_supersedes_the_one_in_canary(
    running_operator: operator.OperatorInfo, kubectl: Kubectl, namespace: str, agent: str
) -> None:
    slow, fast = f"e2e-{agent}-slow", f"e2e-{agent}"
    kubectl.apply([policy(slow, bake="10m"), policy(fast)])
    baseline(kubectl, namespace, agent, fast)
    ship(kubectl, namespace, *reports(agent, "v2", 2), release(agent, "v2", slow))
    wait_baking(kubectl, namespace, f"{agent}-v2", 1)
    ship(kubectl, namespace, *reports(agent, "v3", 3), release(agent, "v3", fast))
    superseded = wait_phase(kubectl, namespace, f"{agent}-v2", "Superseded", timeout=60)
    assert superseded["reason"] == "Superseded"
    assert superseded["supersededBy"] == f"{agent}-v3"
    done = wait_phase(kubectl, namespace, f"{agent}-v3", "Promoted")
    assert done["baseline"]["release"] == f"{agent}-v1"
    assert (
        rollout(kubectl, namespace, agent)["metadata"]["ownerReferences"][0]["name"]
        == f"{agent}-v3"
    )


# -- people ------------------------------------------------------------------------------


def cli(stack: StackInfo, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "agent-release"
    env = {**os.environ, "KUBECONFIG": str(stack.kubeconfig)}
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, env=env, check=False
    )


def test_people_promote_and_abort_with_a_reason(
    running_operator: operator.OperatorInfo,
    stack: StackInfo,
    kubectl: Kubectl,
    namespace: str,
    agent: str,
) -> None:
    name = f"e2e-{agent}"
    kubectl.apply([policy(name, bake="10m")])
    canary(kubectl, namespace, agent, name)
    done = cli(stack, "promote", f"{agent}-v2", "-n", namespace, "--reason", "verified by hand")
    assert done.returncode == 0, done.stderr
    assert "promoted one step" in done.stdout
    wait_baking(kubectl, namespace, f"{agent}-v2", 2)
    aborted = cli(stack, "abort", f"{agent}-v2", "-n", namespace, "--reason", "customer complaints")
    assert aborted.returncode == 0, aborted.stderr
    rolled = wait_phase(kubectl, namespace, f"{agent}-v2", "RolledBack", timeout=30)
    assert rolled["rollback"]["reason"] == "ManualAbort"
    assert (rolled["rollback"]["step"], rolled["rollback"]["weight"]) == (2, 50)
    actions = rolled["actions"]
    assert [a["action"] for a in actions] == ["promote", "abort"]
    assert [a["by"] for a in actions] == ["kubernetes-admin"] * 2  # the admin cert's CN
    assert actions[1]["reason"] == "customer complaints"
    assert "ManualAction" in reasons(kubectl, namespace, f"{agent}-v2")
    shown = cli(stack, "status", f"{agent}-v2", "-n", namespace)
    assert "phase    RolledBack" in shown.stdout
    assert "abort by" in shown.stdout


# -- the API server refuses bad objects --------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda r: r["spec"]["slices"][0]["seeds"][0].update(passed=900),
            "passed must not exceed tasks",
        ),
        (
            lambda r: r["spec"]["slices"][0]["seeds"].append(
                dict(r["spec"]["slices"][0]["seeds"][0])
            ),
            "seeds must be unique",
        ),
        (
            lambda r: r["spec"]["slices"][0].update(capability="vision"),
            'Unsupported value: "vision"',
        ),
        (
            lambda r: r["spec"]["slices"][0]["seeds"][0].update(failures={"timeout": 1}),
            "failures must sum to tasks - passed",
        ),
    ],
)
def test_invalid_eval_reports_are_refused(
    stack: StackInfo, kubectl: Kubectl, namespace: str, agent: str, mutate: Any, message: str
) -> None:
    report = reports(agent, "v1", 1)[0]
    mutate(report)
    with pytest.raises(KubectlError) as refused:
        ship(kubectl, namespace, report)
    assert message in refused.value.stderr


def test_invalid_policies_and_releases_are_refused(
    stack: StackInfo, kubectl: Kubectl, namespace: str, agent: str
) -> None:
    bad = policy(f"bad-{agent}")
    bad["spec"]["canary"]["steps"] = [
        {"weight": 50, "bake": "soon"},
        {"weight": 20},
        {"weight": 90},
    ]
    with pytest.raises(KubectlError) as refused:
        kubectl.apply([bad])
    for message in (
        "strictly increasing",
        "the last canary step must have weight 100",
        "should match",
    ):
        assert message in refused.value.stderr
    both = release(agent, "v1", "prod")
    both["spec"]["rollout"]["workloadRef"] = {"name": "web"}
    with pytest.raises(KubectlError, match="set exactly one of template, workloadRef"):
        ship(kubectl, namespace, both)
    ship(kubectl, namespace, release(agent, "v1", "does-not-exist"))
    changed = release(agent, "v1", "does-not-exist")
    changed["spec"]["candidate"]["model"] = "something-else"
    with pytest.raises(KubectlError, match="agent and candidate are immutable"):
        ship(kubectl, namespace, changed)
