"""The traffic model and the metrics it feeds.

Every Ready pod with a behaviour is an independent Poisson process of tasks at
``requestsPerSecond``: inter-arrival times are exponential, so counts per window are Poisson
and an (agent, revision) with N Ready pods gets N times the traffic. Each task draws its own
outcome: success, human intervention and hard policy violation are Bernoulli (so counts per
window are binomial given the task count), its duration is lognormal fitted to the
behaviour's p50/p95, its cost is ``costPerTaskUSD × duration / mean duration`` (slow tasks
burn more tokens; the mean stays ``costPerTaskUSD``), and it makes Poisson(``toolCallsPerTask``)
tool calls, each failing with ``toolFailureRate``. A task is counted when it arrives.

Simulated time is wall-clock time. The simulation is advanced to "now" whenever the pod set
changes (before the change applies, so a pod that stops being Ready gets exactly its share)
and whenever the metrics are collected, so a scrape always sees every task up to that
instant and a behaviour change shows from the next scrape on. One seeded RNG draws
everything; runs with the same seed and the same timing of events draw the same tasks.

Series are created with zeros when an (agent, revision) is first seen and are never removed:
like a real exporter, counters of a revision whose pods are gone stay until the process
restarts, so ``increase()`` over a window that spans the scale-down stays correct.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.metrics_core import Metric

from .behaviour import Behaviour

DURATION_BUCKETS = (
    0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 90, 105, 120,
    150, 180, 210, 240, 300, 360, 420, 480, 600,
)  # fmt: skip
"""Coarse below 10 s, 15-25 % apart from 10 s to 10 min where agent tasks live, so a
histogram_quantile p95 lands within a few percent of the true value (a 10 % latency guardrail
stays decidable)."""


log = logging.getLogger("agent_sim")


@dataclass(frozen=True)
class ServingPod:
    """A Ready pod with a valid behaviour: the unit of traffic."""

    agent: str
    revision: str
    behaviour: Behaviour


class AgentMetrics:
    """The SPEC §6 metric conventions, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("agent", "revision")
        self.tasks = Counter(
            "agent_tasks", "Agent tasks by outcome", (*labels, "outcome"), registry=registry
        )
        self.interventions = Counter(
            "agent_human_interventions", "Tasks a human had to step in", labels, registry=registry
        )
        self.duration = Histogram(
            "agent_task_duration_seconds",
            "End-to-end task duration",
            labels,
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.cost = Counter(
            "agent_task_cost_usd", "Cost of tasks in US dollars", labels, registry=registry
        )
        self.violations = Counter(
            "agent_policy_violations",
            "Policy violations by severity",
            (*labels, "severity"),
            registry=registry,
        )
        self.tool_calls = Counter(
            "agent_tool_calls", "Tool calls by outcome", (*labels, "outcome"), registry=registry
        )

    def initialise(self, agent: str, revision: str) -> None:
        """Create every series of (agent, revision) at zero, as instrumented code would."""
        for outcome in ("success", "failure"):
            self.tasks.labels(agent, revision, outcome)
            self.tool_calls.labels(agent, revision, outcome)
        self.interventions.labels(agent, revision)
        self.duration.labels(agent, revision)
        self.cost.labels(agent, revision)
        self.violations.labels(agent, revision, "hard")


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw by counting unit-rate exponential arrivals (fine for small means)."""
    count, elapsed = 0, rng.expovariate(1.0) if mean > 0 else math.inf
    while elapsed < mean:
        count += 1
        elapsed += rng.expovariate(1.0)
    return count


class Simulator:
    """Pods in, metrics out. Thread-safe: the pod watcher and scrapes call in concurrently."""

    def __init__(
        self,
        metrics: AgentMetrics,
        rng: random.Random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._metrics = metrics
        self._rng = rng
        self._clock = clock
        self._lock = threading.Lock()
        self._pods: dict[str, ServingPod] = {}
        self._next_arrival: dict[str, float] = {}
        self._seen: set[tuple[str, str]] = set()

    def _first_arrival(self, pod: ServingPod, now: float) -> float:
        rate = pod.behaviour.requests_per_second
        return now + self._rng.expovariate(rate) if rate > 0 else math.inf

    def _advance(self, now: float) -> None:
        for key, pod in self._pods.items():
            at = self._next_arrival[key]
            while at <= now:
                self._task(pod)
                at += self._rng.expovariate(pod.behaviour.requests_per_second)
            self._next_arrival[key] = at

    def _task(self, pod: ServingPod) -> None:
        rng, metrics, b = self._rng, self._metrics, pod.behaviour
        labels = (pod.agent, pod.revision)
        outcome = "success" if rng.random() < b.success_rate else "failure"
        metrics.tasks.labels(*labels, outcome).inc()
        if rng.random() < b.intervention_rate:
            metrics.interventions.labels(*labels).inc()
        if rng.random() < b.policy_violation_rate:
            metrics.violations.labels(*labels, "hard").inc()
        duration = rng.lognormvariate(b.log_mu, b.log_sigma)
        metrics.duration.labels(*labels).observe(duration)
        metrics.cost.labels(*labels).inc(b.cost_per_task_usd * duration / b.mean_duration)
        for _ in range(poisson(rng, b.tool_calls_per_task)):
            tool = "failure" if rng.random() < b.tool_failure_rate else "success"
            metrics.tool_calls.labels(*labels, tool).inc()

    def advance(self) -> None:
        """Simulate every task that arrived up to now."""
        with self._lock:
            self._advance(self._clock())

    def set_pod(self, key: str, pod: ServingPod | None) -> None:
        """Pod ``key`` now serves with ``pod``'s behaviour, or (None) no longer serves."""
        with self._lock:
            now = self._clock()
            self._advance(now)
            old = self._pods.get(key)
            if pod is None:
                self._pods.pop(key, None)
                self._next_arrival.pop(key, None)
                return
            self._pods[key] = pod
            if old != pod:
                # Exponential arrivals are memoryless: restarting the clock is exact.
                self._next_arrival[key] = self._first_arrival(pod, now)
            if (pod.agent, pod.revision) not in self._seen:
                self._seen.add((pod.agent, pod.revision))
                self._metrics.initialise(pod.agent, pod.revision)
                log.info("new series: agent=%s revision=%s", pod.agent, pod.revision)

    def replace_all(self, pods: dict[str, ServingPod]) -> None:
        """Reconcile with a full listing: pods absent from ``pods`` stop serving."""
        for key in set(self.serving()) - set(pods):
            self.set_pod(key, None)
        for key, pod in pods.items():
            self.set_pod(key, pod)

    def serving(self) -> dict[str, ServingPod]:
        with self._lock:
            return dict(self._pods)


class AdvancingRegistry(CollectorRegistry):
    """A registry that brings the simulation to "now" at the start of every scrape."""

    def __init__(self) -> None:
        super().__init__()
        self.before_collect: Callable[[], None] = lambda: None

    def collect(self) -> Iterator[Metric]:
        self.before_collect()
        yield from super().collect()
