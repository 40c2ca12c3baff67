"""The operator at scale on the local stack: 1, 10 and 50 canaries baking at once.

Measures, for each scale:
- Prometheus queries per analysis interval (the operator's own counter): batching
  means this stays at one per guardrail plus one for traffic, whatever the scale;
  (and the instant queries that check hard violations between looks, apart);
- breach → abort latency: every canary starts committing hard policy violations at
  once; from that moment to the Rollout's `status.abort`, as a person would see it
  (median and p95 over the releases), and the operator's own look → abort histogram.
  Hard violations are checked between looks, so this is about one scrape interval
  (5 s on the local stack) plus the check period, not one analysis interval;
- the operator's resident memory.

Needs the stack (started if it is not running, left as found) and takes a few minutes.
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from agent_sim.behaviour import ANNOTATION as BEHAVIOUR
from builders.stack import HEALTHY, policy, release, reports
from demo import operator
from localstack import procs
from localstack.clients import Kubectl
from localstack.stack import Stack
from localstack.waiting import Pending, wait_for

SCALES = (1, 10, 50)
INTERVAL = 10.0  # the policy's analysisInterval


@dataclass(frozen=True)
class ScaleResult:
    canaries: int
    queries_per_interval: float
    hard_checks_per_interval: float
    abort_median_s: float
    abort_p95_s: float
    look_to_abort_p50_s: float
    operator_rss_mib: float

    def line(self) -> str:
        return (
            f"canary: {self.canaries:>2} canaries  "
            f"queries/interval {self.queries_per_interval:5.1f} "
            f"(+{self.hard_checks_per_interval:.1f} hard checks)  "
            f"breach→abort median {self.abort_median_s:5.1f}s p95 {self.abort_p95_s:5.1f}s  "
            f"(look→abort p50 {self.look_to_abort_p50_s * 1000:.0f} ms)  "
            f"operator RSS {self.operator_rss_mib:.0f} MiB"
        )


def _metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _quantile_from_histogram(url: str, name: str, q: float) -> float:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    buckets = []
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket"):
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float(le), float(line.rsplit(" ", 1)[1])))
    if not buckets or buckets[-1][1] == 0:
        return float("nan")
    rank = q * buckets[-1][1]
    lower = 0.0
    below = 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-9)
        lower, below = bound, count
    return lower


def _baking(kubectl: Kubectl, namespace: str, count: int) -> dict[str, str]:
    listed = kubectl.json("get", "agentreleases.agentrelease.dev", "-n", namespace)
    revisions = {}
    for item in listed["items"]:
        status = item.get("status") or {}
        if status.get("stepStartedAt") and item["metadata"]["name"].endswith("-v2"):
            revisions[item["spec"]["agent"]] = status["rollout"]["canaryRevision"]
    if len(revisions) < count:
        raise Pending(f"{len(revisions)} of {count} canaries baking")
    return revisions


def _aborted(kubectl: Kubectl, namespace: str, pending: set[str], seen: dict[str, float]) -> None:
    listed = kubectl.json("get", "rollouts.argoproj.io", "-n", namespace)
    now = time.time()
    for item in listed["items"]:
        agent = item["metadata"]["name"]
        if agent in pending and (item.get("status") or {}).get("abort"):
            pending.discard(agent)
            seen[agent] = now
    if pending:
        raise Pending(f"{len(pending)} not aborted yet")


def measure(kubectl: Kubectl, canaries: int, info: operator.OperatorInfo) -> ScaleResult:
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    name = f"bench-{namespace}"
    kubectl.run("create", "namespace", namespace)
    kubectl.apply([policy(name, bake="30m", weights=(10,))])  # 10 replicas: 1 canary pod
    agents = [f"a{index:02d}-{namespace[-6:]}" for index in range(canaries)]
    quiet = {**HEALTHY, "requestsPerSecond": 2}

    def ship(version: str, generation: int) -> None:
        """One release (and its reports) per agent, in one apply."""
        kubectl.apply(
            [
                obj
                for a in agents
                for obj in (
                    *reports(a, version, generation),
                    release(a, version, name, quiet, replicas=10),
                )
            ],
            "-n",
            namespace,
        )

    try:
        ship("v1", 1)
        for agent in agents:
            wait_for(_phase_check(kubectl, namespace, f"{agent}-v1", "Promoted"), 300, agent)
        ship("v2", 2)
        revisions = wait_for(lambda: _baking(kubectl, namespace, canaries), 600, "canaries baking")
        # count over exactly four analysis intervals of the operator's clock (looks fall on
        # multiples of the interval): from mid-interval to mid-interval four intervals later
        time.sleep(INTERVAL - time.time() % INTERVAL + INTERVAL / 2)
        counters = (
            "agentrelease_prometheus_queries_total",
            "agentrelease_prometheus_hard_checks_total",
        )
        before = [_metric(info.metrics_url, c) for c in counters]
        time.sleep(4 * INTERVAL)
        after = [_metric(info.metrics_url, c) for c in counters]
        per_interval, checks_per_interval = (
            (a - b) / 4 for a, b in zip(after, before, strict=True)
        )
        rss = procs.rss_bytes(info.record) / 2**20
        violating = json.dumps({**quiet, "requestsPerSecond": 5, "policyViolationRate": 0.3})
        selector = f"rollouts-pod-template-hash in ({','.join(revisions.values())})"
        flipped = time.time()  # one call flips every canary at once
        kubectl.run(
            "annotate",
            "pods",
            "-n",
            namespace,
            "-l",
            selector,
            f"{BEHAVIOUR}={violating}",
            "--overwrite",
        )
        seen: dict[str, float] = {}
        wait_for(
            lambda: _aborted(kubectl, namespace, set(agents) - set(seen), seen),
            300,
            "aborts",
            interval=0.2,
        )
        latencies = sorted(t - flipped for t in seen.values())
        return ScaleResult(
            canaries=canaries,
            queries_per_interval=per_interval,
            hard_checks_per_interval=checks_per_interval,
            abort_median_s=statistics.median(latencies),
            abort_p95_s=latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))],
            look_to_abort_p50_s=_quantile_from_histogram(
                info.metrics_url, "agentrelease_breach_to_abort_seconds", 0.5
            ),
            operator_rss_mib=rss,
        )
    finally:
        kubectl.run("delete", "namespace", namespace, "--wait=false")
        kubectl.run("delete", "releasepolicy", name, "--wait=false")


def _phase_check(kubectl: Kubectl, namespace: str, name: str, phase: str) -> Callable[[], None]:
    def check() -> None:
        body = kubectl.json("get", "agentreleases.agentrelease.dev", name, "-n", namespace)
        current = (body.get("status") or {}).get("phase")
        if current != phase:
            raise Pending(f"{name} {current}")

    return check


def run() -> Iterator[str]:
    stack = Stack()
    statuses = stack.status()
    was_running = statuses is not None and all(s.healthy for s in statuses)
    info = stack.up()
    kubectl = Kubectl(info.kubectl, info.kubeconfig)
    was_operating = operator.running(info.stack_dir) is not None
    running = operator.start(info, kubectl)
    try:
        for scale in SCALES:
            yield measure(kubectl, scale, running).line()
    finally:
        if not was_operating:
            operator.stop(info.stack_dir)
        if not was_running:
            stack.down()
