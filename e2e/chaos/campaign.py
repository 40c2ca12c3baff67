"""One chaos campaign: releases in lanes, two operator replicas, faults, then the checks.

`run` starts two replicas (`operator`, `operator-b`: one Lease, `demo.operator.LEASE`
timing), watches every Rollout and the Lease, starts the lanes of releases and the fault
injector, waits for both, and checks the invariants (`invariants.py`) against what the
watches recorded and the replicas logged. Nothing is taken from the operator's word but
its final phases, which must agree with Argo's record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import signal
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agent_release.controller.rollouts import pause_index
from builders.stack import policy
from demo import operator
from localstack.clients import Kubectl, KubectlError
from localstack.stack import Stack, StackInfo
from localstack.waiting import wait_for

from . import invariants, watch
from .faults import Fault, Injector, Kind
from .releases import Lane, ReleaseRun

REPLICAS = (operator.DEFAULT, "operator-b")
RENEW_DEADLINE = float(operator.LEASE["AGENT_RELEASE_RENEW_DEADLINE_SECONDS"])
INTERVAL = 10.0  # the test policy's analysisInterval (builders.stack.policy)
WEIGHTS = (5, 50)  # then 100
FALSE_ROLLBACK = 0.0001
"""Per guardrail and canary: a good canary rolled back by chance would be a violation
that says nothing about faults, so the campaign's policy makes that very unlikely (about
1 in 2000 good canaries; its bad canaries regress grossly, so they are still caught at
once)."""


@dataclass(frozen=True)
class Settings:
    seed: int
    faults: int
    lanes: int
    gap: tuple[float, float]
    """Seconds between one fault's recovery and the next fault, drawn uniformly."""
    plans: tuple[tuple[str, ...], ...] | None = None
    """Per lane, the kinds of one agent's candidates (the short campaign); None: each
    lane releases agents with candidates drawn at random until the last fault."""
    bake: float = 30.0
    patience: float = 600.0
    """Seconds past a release's allowed time that its lane waits before moving on."""
    margin: float = 60.0

    def expected(self) -> dict[str, float]:
        """Seconds from shipping to final, by kind, with no fault: a first release is
        deployed at once; a good one bakes every step (a look may end a bake up to
        two intervals late); a bad one is caught within a few looks."""
        good = 10 + len(WEIGHTS) * (self.bake + 2 * INTERVAL)
        bad = 10 + 4 * INTERVAL
        return {"first": 30.0, "good": good, "violating": bad, "failing": bad}


def short(seed: int) -> Settings:
    """The e2e suite's run: two lanes, each kind of fault once (about three minutes)."""
    return Settings(
        seed=seed,
        faults=len(Kind),
        lanes=2,
        gap=(6.0, 12.0),
        plans=(("good", "violating"), ("failing", "good")),
        patience=60.0,
    )


def full(seed: int, faults: int = 60) -> Settings:
    """`make chaos`: four lanes, `faults` faults (60: about half an hour)."""
    return Settings(seed=seed, faults=faults, lanes=4, gap=(5.0, 15.0))


@dataclass
class Report:
    settings: Settings
    duration: float
    faults: list[Fault]
    runs: list[ReleaseRun]
    violations: dict[str, list[str]]
    effects: Counter[str] = field(default_factory=Counter)
    watch_restarts: int = 0

    @property
    def ok(self) -> bool:
        return not any(self.violations.values())

    def lines(self) -> list[str]:
        out = [
            f"chaos: seed {self.settings.seed}, {len(self.faults)} faults, "
            f"{len(self.runs)} releases, {self.duration / 60:.1f} min",
        ]
        by_kind = Counter(f.kind.value for f in self.faults)
        out.append("faults: " + ", ".join(f"{k} {by_kind[k.value]}" for k in Kind))
        outcomes = Counter(
            (run.kind if not run.first else "first", run.phase or "not final") for run in self.runs
        )
        out.append(
            "releases: "
            + ", ".join(f"{kind} → {phase} {n}" for (kind, phase), n in sorted(outcomes.items()))
        )
        out.append("effects: " + ", ".join(f"{k} {n}" for k, n in sorted(self.effects.items())))
        out.append(f"watch restarts (API server away): {self.watch_restarts}")
        for name, found in self.violations.items():
            out.append(f"invariant {name}: {len(found)} violations")
            out += [f"  - {line}" for line in found]
        out.append("chaos: OK" if self.ok else "chaos: INVARIANTS VIOLATED")
        return out


def run(stack: Stack, info: StackInfo, settings: Settings) -> Report:
    """Run one campaign on a running stack (its replicas are started here and left
    running, the campaign's namespaces and policy deleted)."""
    print(f"chaos: seed {settings.seed}", flush=True)
    kubectl = Kubectl(info.kubectl, info.kubeconfig)
    began = time.time()
    for name in REPLICAS:
        operator.start(info, kubectl, name)
    leader = wait_for(lambda: operator.leader(_replicas(info)), 60, "one leading replica")
    print(f"chaos: replicas {', '.join(REPLICAS)}; {leader} leads", flush=True)
    policy_name = f"chaos-{uuid.uuid4().hex[:6]}"
    kubectl.apply(
        [
            policy(
                policy_name,
                bake=f"{settings.bake:.0f}s",
                weights=WEIGHTS,
                falseRollback=FALSE_ROLLBACK,
            )
        ]
    )
    rollouts = watch.rollouts(kubectl).start()
    lease = watch.lease(kubectl, operator.NAMESPACE).start()
    expected = settings.expected()
    injector = Injector(
        stack,
        info,
        kubectl,
        replicas=REPLICAS,
        rng=random.Random(f"{settings.seed}/faults"),
        count=settings.faults,
        gap=settings.gap,
        until=lambda: all(lane.done for lane in lanes),
    )
    lanes = [
        Lane(
            number,
            kubectl,
            policy=policy_name,
            rng=random.Random(f"{settings.seed}/lane/{number}"),
            deadline=lambda kind: expected[kind] + settings.margin + settings.patience,
            stopping=lambda: injector.done,
            plan=list(settings.plans[number - 1]) if settings.plans else None,
        )
        for number in range(1, settings.lanes + 1)
    ]
    try:
        injector.start()
        for lane in lanes:
            lane.start()
        for lane in lanes:
            lane.join()
        injector.stop()
        injector.join()
        time.sleep(2)  # the last versions reach the watch
    finally:
        injector.stop()
        for name in REPLICAS:  # never leave a replica stopped
            current = operator.running(info.stack_dir, name)
            if current is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(current.pid, signal.SIGCONT)
        rollouts.stop()
        lease.stop()
        _clean_up(kubectl, [run for lane in lanes for run in lane.runs], policy_name)
    failures = (injector.error, rollouts.failure, lease.failure, *(lane.error for lane in lanes))
    for error in failures:
        if error is not None:
            raise RuntimeError(f"the campaign failed: {error!r}") from error
    runs = [run for lane in lanes for run in lane.runs]
    effects = [
        invariants.Effect(
            operator.log_time(entry), entry["replica"], entry["effect"], entry.get("release", "")
        )
        for name in REPLICAS
        for entry in operator.effects(operator.log_file(info.stack_dir, name), since=began)
    ]
    pauses = [pause_index(step) for step in range(1, len(WEIGHTS) + 1)]
    canaries = invariants.history(runs, rollouts.seen())
    now = time.time()
    violations = {
        "outcome": invariants.outcomes(runs, canaries),
        "steps": invariants.steps(runs, canaries, pauses, settings.bake, INTERVAL),
        "leader": invariants.leadership(effects, invariants.tenures(lease.seen(), RENEW_DEADLINE)),
        "stuck": invariants.stuck(
            runs,
            injector.faults,
            expected=expected,
            margin=settings.margin,
            per_fault=2 * INTERVAL + 10,
            now=now,
        ),
        "prometheus-down": invariants.prometheus_down(canaries, injector.faults, pauses),
    }
    record = info.stack_dir / "logs" / f"chaos-{settings.seed}.jsonl"
    _write_record(record, rollouts.seen(), lease.seen(), injector.faults, runs)
    print(f"chaos: what was recorded is in {record}", flush=True)
    return Report(
        settings,
        now - began,
        injector.faults,
        runs,
        violations,
        Counter(effect.effect for effect in effects),
        rollouts.restarts + lease.restarts,
    )


def _write_record(path: Path, *kinds: Sequence[object]) -> None:
    """Every recorded Rollout and Lease version, fault and release, one JSON object a
    line (`"kind"` names its type), for a post-mortem of a violation."""
    with path.open("w", encoding="utf-8") as out:
        for items in kinds:
            for item in items:
                assert dataclasses.is_dataclass(item)
                assert not isinstance(item, type)
                line = {"kind": type(item).__name__, **dataclasses.asdict(item)}
                out.write(json.dumps(line, default=str) + "\n")


def _replicas(info: StackInfo) -> dict[str, operator.OperatorInfo | None]:
    return {name: operator.running(info.stack_dir, name) for name in REPLICAS}


def _clean_up(kubectl: Kubectl, runs: list[ReleaseRun], policy_name: str) -> None:
    for namespace in sorted({run.namespace for run in runs}):
        with contextlib.suppress(KubectlError):
            kubectl.run("delete", "namespace", namespace, "--wait=false")
    with contextlib.suppress(KubectlError):
        kubectl.run("delete", "releasepolicy", policy_name, "--wait=false")
