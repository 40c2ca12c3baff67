"""The operator at scale on the local stack: 1 to 500 canaries baking at once.

Measures, for each scale (two pods an agent: one canary, one stable, at the 50% step):
- Prometheus queries per analysis interval (the operator's own counter): batching
  means this stays at one per guardrail plus one for traffic, whatever the scale
  (and the instant queries that check hard violations between looks, apart);
- API requests per reconcile and per canary and interval (the operator's own requests,
  kopf's watches aside, the Lease's renewals in) and the reconcile p99, over the same
  four intervals;
- breach → abort latency: every canary starts committing hard policy violations at
  once (one `kubectl annotate` of their pods); from the moment its own pod got the new
  behaviour to the Rollout's `status.abort` as a watch sees it (median and p95 over the
  releases), and the operator's own look → abort histogram. Hard
  violations are checked between looks, so this is about one scrape interval (5 s on
  the local stack) plus the check period, not one analysis interval;
- the operator's resident memory.

Needs the stack (started if it is not running, left as found); from a few minutes at
50 canaries to most of an hour at 500.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent_sim.behaviour import ANNOTATION as BEHAVIOUR
from builders.stack import HEALTHY, policy, release, reports
from demo import operator
from localstack import procs
from localstack.clients import Kubectl, KubectlError
from localstack.stack import Stack
from localstack.waiting import Pending, wait_for

from .timing import rank_quantile

SCALES = (1, 10, 50, 200, 500)
INTERVAL = 10.0  # the policy's analysisInterval
REPLICAS = 2  # per agent: at the 50% step, one canary pod and one stable pod


@dataclass(frozen=True)
class ScaleResult:
    canaries: int
    queries_per_interval: float
    hard_checks_per_interval: float
    api_requests_per_reconcile: float
    api_requests_per_canary: float  # per analysis interval, the Lease's renewals included
    reconcile_p99_s: float
    abort_median_s: float
    abort_p95_s: float
    look_to_abort_p50_s: float
    operator_rss_mib: float

    def line(self) -> str:
        return (
            f"canary: {self.canaries:>3} canaries  "
            f"queries/interval {self.queries_per_interval:5.1f} "
            f"(+{self.hard_checks_per_interval:.1f} hard checks)  "
            f"API requests/reconcile {self.api_requests_per_reconcile:4.1f} "
            f"(/canary/interval {self.api_requests_per_canary:4.1f})  "
            f"reconcile p99 {self.reconcile_p99_s * 1000:4.0f} ms  "
            f"breach→abort median {self.abort_median_s:5.1f}s p95 {self.abort_p95_s:5.1f}s  "
            f"(look→abort p50 {self.look_to_abort_p50_s * 1000:.0f} ms)  "
            f"operator RSS {self.operator_rss_mib:.0f} MiB"
        )


def _scrape(url: str) -> dict[str, float]:
    """The operator's /metrics: each sample line's value by its name and labels."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def _total(samples: dict[str, float], name: str) -> float:
    return sum(v for k, v in samples.items() if k == name or k.startswith(name + "{"))


def _quantile(before: dict[str, float], after: dict[str, float], name: str, q: float) -> float:
    """A quantile of what a histogram counted between two scrapes (linear in a bucket)."""
    buckets = []
    for key, count in after.items():
        if key.startswith(f"{name}_bucket"):
            le = key.split('le="')[1].split('"')[0]
            buckets.append((float(le), count - before.get(key, 0.0)))
    buckets.sort()
    if not buckets or buckets[-1][1] <= 0:
        return float("nan")
    rank = q * buckets[-1][1]
    lower = below = 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-9)
        lower, below = bound, count
    return lower


def baking(kubectl: Kubectl, namespace: str, count: int) -> dict[str, str]:
    listed = kubectl.json("get", "agentreleases.agentrelease.dev", "-n", namespace)
    revisions = {}
    for item in listed["items"]:
        status = item.get("status") or {}
        if status.get("stepStartedAt") and item["metadata"]["name"].endswith("-v2"):
            revisions[item["spec"]["agent"]] = status["rollout"]["canaryRevision"]
    if len(revisions) < count:
        raise Pending(f"{len(revisions)} of {count} canaries baking")
    return revisions


def phases(kubectl: Kubectl, namespace: str, version: str, phase: str, count: int) -> None:
    listed = kubectl.json("get", "agentreleases.agentrelease.dev", "-n", namespace)
    done = sum(
        1
        for item in listed["items"]
        if item["metadata"]["name"].endswith(f"-{version}")
        and (item.get("status") or {}).get("phase") == phase
    )
    if done < count:
        raise Pending(f"{done} of {count} {version} releases {phase}")


@dataclass(frozen=True)
class Flip:
    """When a flip was sent, and when each pod got its new behaviour (kubectl's line for
    it): annotating hundreds of pods takes kubectl seconds, and a canary's breach begins
    when its own pod is annotated, not when the first one is."""

    sent: float
    pods: dict[str, float]

    def of(self, rollout: str) -> float:
        """When the breach of this Rollout's canary began (its first pod annotated)."""
        times = [t for pod, t in self.pods.items() if pod.rsplit("-", 2)[0] == rollout]
        return min(times, default=self.sent)


def flip(
    kubectl: Kubectl, namespace: str, revisions: Iterable[str], behaviour: Mapping[str, Any]
) -> Flip:
    """Give every pod of these revisions a new behaviour, in one call, timing each pod."""
    sent = time.time()
    process = subprocess.Popen(
        [
            str(kubectl.binary),
            f"--kubeconfig={kubectl.kubeconfig}",
            "annotate",
            "pods",
            "-n",
            namespace,
            "-l",
            f"rollouts-pod-template-hash in ({','.join(revisions)})",
            f"{BEHAVIOUR}={json.dumps(dict(behaviour))}",
            "--overwrite",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    pods = {}
    for line in process.stdout:  # "pod/NAME annotated", as each patch is answered
        name = line.split()[0].removeprefix("pod/") if line.strip() else ""
        if name:
            pods[name] = time.time()
    errors = process.stderr.read()
    # kubectl annotates every pod it listed and then reports those gone meanwhile (the
    # canary pod of a Rollout aborted before the breach): nothing to breach there
    if process.wait() != 0 and "NotFound" not in errors:
        raise KubectlError(("annotate", "pods"), process.returncode, errors)
    return Flip(sent, pods)


class AbortWatch:
    """When each Rollout of a namespace was first seen aborted, from a watch (`kubectl get
    -w`): polling a list of hundreds of Rollouts would blur the times by seconds."""

    def __init__(self, kubectl: Kubectl, namespace: str) -> None:
        self.seen: dict[str, float] = {}
        template = '{.metadata.name} {.status.abort}{"\\n"}'
        self._process = subprocess.Popen(
            [
                str(kubectl.binary),
                f"--kubeconfig={kubectl.kubeconfig}",
                "get",
                "rollouts.argoproj.io",
                "-n",
                namespace,
                "-w",
                "-o",
                f"jsonpath={template}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            name, _, abort = line.strip().partition(" ")
            if abort == "true" and name not in self.seen:
                self.seen[name] = time.time()

    def missing(self, names: set[str]) -> None:
        if left := names - set(self.seen):
            raise Pending(f"{len(left)} not aborted yet")

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)


def measure(kubectl: Kubectl, canaries: int, info: operator.OperatorInfo) -> ScaleResult:
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    name = f"bench-{namespace}"
    kubectl.run("create", "namespace", namespace)
    kubectl.apply([policy(name, bake="30m", weights=(50,))])
    agents = [f"a{index:03d}-{namespace[-6:]}" for index in range(canaries)]
    quiet = {**HEALTHY, "requestsPerSecond": 2}
    patience = 300 + 3 * canaries  # seconds: the stack's controllers are busy at 500

    def ship(version: str, generation: int) -> None:
        """One release (and its reports) per agent, in one apply."""
        kubectl.apply(
            [
                obj
                for a in agents
                for obj in (
                    *reports(a, version, generation),
                    release(a, version, name, quiet, replicas=REPLICAS),
                )
            ],
            "-n",
            namespace,
        )

    watch = AbortWatch(kubectl, namespace)
    try:
        ship("v1", 1)
        wait_for(lambda: phases(kubectl, namespace, "v1", "Promoted", canaries), patience, "v1")
        ship("v2", 2)
        revisions = wait_for(
            lambda: baking(kubectl, namespace, canaries), 2 * patience, "canaries baking"
        )
        # count over exactly four analysis intervals of the operator's clock (looks fall on
        # multiples of the interval): from mid-interval to mid-interval four intervals later
        time.sleep(INTERVAL - time.time() % INTERVAL + INTERVAL / 2)
        before = _scrape(info.metrics_url)
        time.sleep(4 * INTERVAL)
        after = _scrape(info.metrics_url)

        def per(name: str, by: str | None = None) -> float:
            done = _total(after, name) - _total(before, name)
            return done / (_total(after, by) - _total(before, by) if by else 4)

        rss = procs.rss_bytes(info.record) / 2**20
        violating = {**quiet, "requestsPerSecond": 5, "policyViolationRate": 0.3}
        unflipped = _scrape(info.metrics_url)  # the look → abort histogram of this scale only
        flipped = flip(kubectl, namespace, revisions.values(), violating)
        rollouts = {f"{a}" for a in agents}
        wait_for(lambda: watch.missing(rollouts), patience, "aborts", interval=0.5)
        latencies = sorted(t - flipped.of(rollout) for rollout, t in watch.seen.items())
        reconciles = "agentrelease_reconcile_duration_seconds_count"
        return ScaleResult(
            canaries=canaries,
            queries_per_interval=per("agentrelease_prometheus_queries_total"),
            hard_checks_per_interval=per("agentrelease_prometheus_hard_checks_total"),
            api_requests_per_reconcile=per("agentrelease_api_requests_total", reconciles),
            api_requests_per_canary=per("agentrelease_api_requests_total") / canaries,
            reconcile_p99_s=_quantile(
                before, after, "agentrelease_reconcile_duration_seconds", 0.99
            ),
            abort_median_s=statistics.median(latencies),
            abort_p95_s=rank_quantile(latencies, 0.95),
            look_to_abort_p50_s=_quantile(
                unflipped, _scrape(info.metrics_url), "agentrelease_breach_to_abort_seconds", 0.5
            ),
            operator_rss_mib=rss,
        )
    finally:
        watch.close()
        kubectl.run("delete", "namespace", namespace, "--wait=false")
        kubectl.run("delete", "releasepolicy", name, "--wait=false")


def run(scales: Sequence[int] = SCALES) -> Iterator[str]:
    """One line per scale, in order; a scale the stack cannot hold ends the run with a
    line saying where and why (the larger ones would not hold either)."""
    stack = Stack()
    statuses = stack.status()
    was_running = statuses is not None and all(s.healthy for s in statuses)
    info = stack.up()
    kubectl = Kubectl(info.kubectl, info.kubeconfig)
    was_operating = operator.running(info.stack_dir) is not None
    running = operator.start(info, kubectl)
    try:
        for scale in scales:
            try:
                yield measure(kubectl, scale, running).line()
            except (TimeoutError, KubectlError) as error:
                yield f"canary: {scale:>3} canaries  stopped here: {error}"
                break
    finally:
        if not was_operating:
            operator.stop(info.stack_dir)
        if not was_running:
            stack.down()
