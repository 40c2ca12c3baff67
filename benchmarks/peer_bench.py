"""Beside Argo's own analysis, in one run on the local stack (issue 11, item 6).

At each scale, N canaries are judged by the operator (as in `canary_bench`) and N other
canaries, of other agents with the same simulated traffic, by Argo Rollouts' own background
analysis: an AnalysisTemplate with one Prometheus-provider metric per guardrail of the same
policy, as a user would write it (`analysis_template`), referenced from each Rollout's
`strategy.canary.analysis`. Both sides bake at the 50% step.

- Prometheus queries per analysis interval, counted by Prometheus itself: the local stack
  writes a query log (`query_log_file`, every query it evaluates, one JSON line each), and
  each query is put on the side whose agents it names (`side_of`: the operator's agents
  are `op…`, Argo's `ar…`). Counted over four intervals of the operator's clock, with every
  query of each side: the operator's range queries and its between-look checks of hard
  violations; Argo's measurements.
- breach → abort: every canary of both sides starts to regress on human intervention at
  once (`BREACH`: a guardrail both judge, a gross regression, not a hard one); from that
  moment to each Rollout's `status.abort` as a watch sees it, median and p95 per side.

Argo's configuration, the choices a user makes (`argo_metric`): `interval` is the policy's
analysisInterval, each query compares canary with stable over that interval with the
policy's own PromQL templates (the delta of the counters, exact labels instead of the
operator's batched regex), `successCondition` is the guardrail's threshold on point values,
`failureLimit` is `FAILURE_LIMIT` (3, as Argo's documentation and `peers.py` do) for the
statistical guardrails and 0 for a hard one, `initialDelay` is two intervals (a counter
needs one interval of history before a difference exists), and the analysis starts at the
pause after the first weight (`startingStep: 1`: once the canary's pods are available;
from the update on, a canary slow to start fails it with empty results). The controller reaches
Prometheus over TLS verified with the stack CA (its trust store, `SSL_CERT_FILE`), as the
operator does.
"""

from __future__ import annotations

import functools
import json
import re
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent_release.api.names import LABEL_AGENT
from agent_release.api.policy import CanaryPolicy, Guardrail, GuardrailMetric, ReleasePolicy
from agent_release.api.types import parse_duration
from agent_release.canary.queries import DEFAULT_QUERIES, render
from agent_release.controller.rollouts import argo_steps
from agent_sim.behaviour import ANNOTATION as BEHAVIOUR
from builders.stack import HEALTHY, policy, release, reports
from demo import operator
from localstack.clients import Kubectl, KubectlError
from localstack.paths import StackLayout
from localstack.stack import Stack, StackInfo
from localstack.waiting import Pending, wait_for

from .canary_bench import AbortWatch, baking, flip, phases
from .timing import rank_quantile

SCALES = (1, 10, 50)
REPLICAS = 2  # per agent: at the 50% step, one canary pod and one stable pod
FAILURE_LIMIT = 3  # Argo's failed measurements tolerated by a statistical guardrail
OPERATOR, ARGO = "operator", "argo"
PREFIX = {OPERATOR: "op", ARGO: "ar"}  # agents' names say whose canary they are
# Tasks/s a pod serves: half the end-to-end tests' 40. At 40, 50 canaries a side make the
# simulator's scrape (every task since the last one) time out on a shared 2-core machine.
RATE = 20.0
# A gross regression of a guardrail both sides judge: 3% → 15% of tasks need a human
# (+12 points against a threshold of +2), the demo's bad candidate.
BREACH = {"interventionRate": 0.15}

CANARY = 'agent="{{args.agent}}",revision="{{args.canary-hash}}"'
STABLE = 'agent="{{args.agent}}",revision="{{args.stable-hash}}"'


# -- Argo's analysis, as a user writes it for the policy ----------------------------------


def _parts(guardrail: Guardrail, matchers: str, seconds: float) -> dict[str, str]:
    """The guardrail's PromQL templates (its own, else the operator's defaults), for one
    revision: `numerator`/`denominator`, or `buckets` for latency."""
    default = DEFAULT_QUERIES[guardrail.metric]
    own = guardrail.query
    parts = {
        "numerator": (own and own.numerator) or default.numerator,
        "denominator": (own and own.denominator) or default.denominator,
        "buckets": (own and own.buckets) or default.buckets,
    }
    return {k: render(v, matchers, seconds) for k, v in parts.items() if v}


def argo_query(guardrail: Guardrail, seconds: float) -> str:
    """One instant query of canary against stable over the last interval, for Argo's
    Prometheus provider: the value its `successCondition` judges (`result[0]`)."""
    canary, stable = _parts(guardrail, CANARY, seconds), _parts(guardrail, STABLE, seconds)
    if guardrail.metric is GuardrailMetric.P95_END_TO_END_LATENCY:
        return (
            f"histogram_quantile(0.95, sum by (le) ({canary['buckets']})) / "
            f"histogram_quantile(0.95, sum by (le) ({stable['buckets']}))"
        )
    if guardrail.max_count is not None:
        return f"sum({canary['numerator']})"

    def rate(side: dict[str, str]) -> str:
        return f"(sum({side['numerator']}) / sum({side['denominator']}))"

    operation = "/" if guardrail.max_ratio is not None else "-"
    return f"{rate(canary)} {operation} {rate(stable)}"


def success_condition(guardrail: Guardrail) -> str:
    """The guardrail's threshold on the point value of one interval."""
    if guardrail.min_delta is not None:
        return f"result[0] >= {guardrail.min_delta:g}"
    return f"result[0] <= {guardrail.threshold:g}"


def argo_metric(guardrail: Guardrail, interval: str, address: str) -> dict[str, Any]:
    seconds = parse_duration(interval)
    return {
        "name": guardrail.metric.value.replace("_", "-"),
        "interval": interval,
        "initialDelay": f"{round(2 * seconds)}s",
        "successCondition": success_condition(guardrail),
        "failureLimit": 0 if guardrail.hard else FAILURE_LIMIT,
        "provider": {"prometheus": {"address": address, "query": argo_query(guardrail, seconds)}},
    }


def analysis_template(name: str, canary: CanaryPolicy, address: str) -> dict[str, Any]:
    """An AnalysisTemplate with one Prometheus metric per guardrail of the policy."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": name},
        "spec": {
            "args": [{"name": "agent"}, {"name": "canary-hash"}, {"name": "stable-hash"}],
            "metrics": [
                argo_metric(g, canary.analysis_interval, address) for g in canary.guardrails
            ],
        },
    }


def argo_rollout(
    agent: str, version: str, canary: CanaryPolicy, template: str, behaviour: Mapping[str, Any]
) -> dict[str, Any]:
    """A Rollout of the same shape as the operator's (its steps from the policy), with
    Argo's background analysis: the template, the agent, and both pod-template hashes."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": agent, "labels": {LABEL_AGENT: agent}},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": {LABEL_AGENT: agent}},
            "strategy": {
                "canary": {
                    "steps": argo_steps(canary.steps),
                    "analysis": {
                        # from the pause after the first weight: once the canary's pods are
                        # available (the operator, too, bakes only once they run)
                        "startingStep": 1,
                        "templates": [{"templateName": template}],
                        "args": [
                            {"name": "agent", "value": agent},
                            {
                                "name": "canary-hash",
                                "valueFrom": {"podTemplateHashValue": "Latest"},
                            },
                            {
                                "name": "stable-hash",
                                "valueFrom": {"podTemplateHashValue": "Stable"},
                            },
                        ],
                    },
                }
            },
            "template": {
                "metadata": {
                    "labels": {LABEL_AGENT: agent},
                    "annotations": {BEHAVIOUR: json.dumps(dict(behaviour))},
                },
                "spec": {
                    "containers": [
                        {"name": "agent", "image": f"registry.example/{agent}:{version}"}
                    ]
                },
            },
        },
    }


# -- counting from Prometheus's query log ---------------------------------------------

_AGENT_MATCHER = re.compile(r'agent=~?"([^"]*)"')


def side_of(query: str) -> str | None:
    """Whose query it is, from the agents it names; None for anyone else's."""
    names = {n for m in _AGENT_MATCHER.findall(query) for n in m.split("|") if n}
    sides = {side for side, prefix in PREFIX.items() for n in names if n.startswith(prefix)}
    return sides.pop() if len(sides) == 1 else None


@dataclass(frozen=True)
class Logged:
    at: float  # when Prometheus logged it (epoch seconds)
    side: str | None
    ranged: bool  # a range query (the operator's looks), else instant


def parse_query_log(lines: Iterable[str]) -> Iterator[Logged]:
    """Prometheus's query log (one JSON object a line: `params.query`, `params.step`, `ts`)."""
    for line in lines:
        try:
            entry = json.loads(line)
            params = entry["params"]
            at = datetime.fromisoformat(entry["ts"]).timestamp()
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a read during a write
        yield Logged(at, side_of(params.get("query", "")), bool(params.get("step")))


def per_interval(
    logged: Iterable[Logged], start: float, end: float, interval: float
) -> dict[str, tuple[float, float]]:
    """(all queries, of which range queries) per interval, by side, in [start, end)."""
    total: Counter[str] = Counter()
    ranged: Counter[str] = Counter()
    for entry in logged:
        if entry.side is not None and start <= entry.at < end:
            total[entry.side] += 1
            ranged[entry.side] += entry.ranged
    intervals = (end - start) / interval
    return {side: (total[side] / intervals, ranged[side] / intervals) for side in PREFIX}


# -- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SideResult:
    canaries: int
    side: str
    queries_per_interval: float
    range_per_interval: float
    latencies: tuple[float, ...]  # breach → abort, seconds, sorted
    early_aborts: int  # Rollouts aborted before the breach (healthy canaries rolled back)
    # Argo's failed measurements per canary before the breach: its failureLimit counts
    # every failure of a run, not consecutive ones, so a healthy period's noise spends it
    failed_before: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.latencies) if self.latencies else float("nan")

    @property
    def p95(self) -> float:
        return rank_quantile(self.latencies, 0.95)


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("inf")


def table(results: Sequence[tuple[SideResult, SideResult]]) -> list[str]:
    """Per scale: the operator's line, Argo's, and Argo's numbers over the operator's."""
    lines = [
        "peer: canaries  side      queries/interval (range)  breach→abort median    p95  "
        "aborted early  failed checks before"
    ]
    for ours, theirs in results:
        for side in (ours, theirs):
            lines.append(
                f"peer: {side.canaries:>8}  {side.side:<8}  {side.queries_per_interval:>16.1f} "
                f"({side.range_per_interval:>5.1f})  {side.median:>17.1f}s {side.p95:>5.1f}s  "
                f"{side.early_aborts:>13}  "
                + ("-" if side.failed_before is None else f"{side.failed_before:.1f}").rjust(20)
            )
        lines.append(
            f"peer: {ours.canaries:>8}  argo/op   "
            f"{ratio(theirs.queries_per_interval, ours.queries_per_interval):>15.1f}×"
            f"{'':>8}  {ratio(theirs.median, ours.median):>16.2f}× "
            f"{ratio(theirs.p95, ours.p95):>5.2f}×"
        )
    return lines


# -- on the stack -------------------------------------------------------------------------


def _argo_healthy(kubectl: Kubectl, namespace: str, count: int) -> None:
    items = kubectl.json("get", "rollouts.argoproj.io", "-n", namespace)["items"]
    healthy = sum(1 for r in items if (r.get("status") or {}).get("phase") == "Healthy")
    if healthy < count:
        raise Pending(f"{healthy} of {count} Argo-side Rollouts Healthy")


def _argo_measuring(kubectl: Kubectl, namespace: str, count: int, metrics: int) -> dict[str, str]:
    """The canary revision of each Argo-side Rollout, once every one is paused at its step
    with a background AnalysisRun that measured every metric, or was aborted already."""
    rollouts = kubectl.json("get", "rollouts.argoproj.io", "-n", namespace)["items"]
    runs = kubectl.json("get", "analysisruns.argoproj.io", "-n", namespace)["items"]
    measuring = {
        (run["metadata"].get("ownerReferences") or [{}])[0].get("name")
        for run in runs
        if (run.get("status") or {}).get("phase") == "Running"
        and len([m for m in run["status"].get("metricResults") or [] if m.get("count")]) == metrics
    }
    revisions, ready = {}, 0
    for r in rollouts:
        status = r.get("status") or {}
        if status.get("currentPodHash") == status.get("stableRS"):
            continue  # not on its canary yet
        revisions[r["metadata"]["name"]] = status["currentPodHash"]
        paused = bool(status.get("pauseConditions")) and r["metadata"]["name"] in measuring
        ready += paused or bool(status.get("abort"))
    if ready < count:
        raise Pending(f"{ready} of {count} Argo canaries measuring (or aborted)")
    return revisions


def failed_measurements(runs: Iterable[Mapping[str, Any]]) -> int:
    """Failed measurements so far over AnalysisRuns (`status.metricResults[].failed`)."""
    return sum(
        int(m.get("failed") or 0)
        for run in runs
        for m in (run.get("status") or {}).get("metricResults") or []
    )


def _flip(
    kubectl: Kubectl,
    namespace: str,
    revisions: Iterable[str],
    behaviour: Mapping[str, Any],
    at: dict[str, float],
) -> None:
    at[namespace] = flip(kubectl, namespace, revisions, behaviour).sent


def measure(
    kubectl: Kubectl, stack: StackInfo, canaries: int, rate: float = RATE
) -> tuple[SideResult, SideResult]:
    healthy = {**HEALTHY, "requestsPerSecond": rate}
    tag = uuid.uuid4().hex[:6]
    name = f"peer-{tag}"
    spaces = {OPERATOR: name, ARGO: f"{name}-argo"}
    manifest = policy(name, bake="30m", weights=(50,))
    canary = ReleasePolicy.model_validate(manifest).spec.canary
    interval = parse_duration(canary.analysis_interval)
    agents = {side: [f"{p}{i:03d}-{tag}" for i in range(canaries)] for side, p in PREFIX.items()}
    patience = 300 + 6 * canaries
    query_log = StackLayout(stack.stack_dir).data / "prometheus" / "queries.log"
    for namespace in spaces.values():
        kubectl.run("create", "namespace", namespace)
    kubectl.apply([manifest])
    kubectl.apply([analysis_template(name, canary, stack.prometheus_url)], "-n", spaces[ARGO])
    watches = {side: AbortWatch(kubectl, namespace) for side, namespace in spaces.items()}

    def ship(version: str, generation: int) -> None:
        kubectl.apply(
            [
                obj
                for a in agents[OPERATOR]
                for obj in (
                    *reports(a, version, generation),
                    release(a, version, name, healthy, replicas=REPLICAS),
                )
            ],
            "-n",
            spaces[OPERATOR],
        )
        kubectl.apply(
            [argo_rollout(a, version, canary, name, healthy) for a in agents[ARGO]],
            "-n",
            spaces[ARGO],
        )

    try:
        ship("v1", 1)
        wait_for(
            lambda: phases(kubectl, spaces[OPERATOR], "v1", "Promoted", canaries), patience, "v1"
        )
        wait_for(lambda: _argo_healthy(kubectl, spaces[ARGO], canaries), patience, "Argo v1")
        ship("v2", 2)
        revisions = {
            OPERATOR: wait_for(
                lambda: baking(kubectl, spaces[OPERATOR], canaries), 2 * patience, "baking"
            ),
            ARGO: wait_for(
                lambda: _argo_measuring(kubectl, spaces[ARGO], canaries, len(canary.guardrails)),
                2 * patience,
                "Argo measuring",
            ),
        }
        # four whole intervals of the operator's clock, from mid-interval to mid-interval
        time.sleep(interval - time.time() % interval + interval / 2)
        start = time.time()
        time.sleep(4 * interval)
        end = time.time()
        time.sleep(2)  # what was asked by `end` is logged by now
        with query_log.open(errors="replace") as lines:
            counted = per_interval(parse_query_log(lines), start, end, interval)
        early = {side: set(w.seen) for side, w in watches.items()}
        runs = kubectl.json("get", "analysisruns.argoproj.io", "-n", spaces[ARGO])["items"]
        failed_before = {OPERATOR: None, ARGO: failed_measurements(runs) / canaries}
        flipped: dict[str, float] = {}
        flips = [
            threading.Thread(
                target=_flip,
                args=(
                    kubectl,
                    spaces[side],
                    revisions[side].values(),
                    {**healthy, **BREACH},
                    flipped,
                ),
            )
            for side in spaces
        ]
        for thread in flips:
            thread.start()
        for thread in flips:
            thread.join()
        for side, watch in watches.items():
            wait_for(
                functools.partial(watch.missing, set(agents[side]) - early[side]),
                patience,
                f"{side} aborts",
                interval=0.5,
            )
        return tuple(  # type: ignore[return-value]
            SideResult(
                canaries,
                side,
                *counted[side],
                tuple(
                    sorted(
                        t - flipped[spaces[side]]
                        for a, t in watches[side].seen.items()
                        if a not in early[side]
                    )
                ),
                len(early[side]),
                failed_before[side],
            )
            for side in (OPERATOR, ARGO)
        )
    finally:
        for watch in watches.values():
            watch.close()
        for namespace in spaces.values():
            kubectl.run("delete", "namespace", namespace, "--wait=false")
        kubectl.run("delete", "releasepolicy", name, "--wait=false")


def run(scales: Sequence[int] = SCALES, rate: float = RATE) -> Iterator[str]:
    """The table, a scale at a time; a scale the stack cannot hold ends the run with a line
    saying where and why."""
    stack = Stack()
    statuses = stack.status()
    was_running = statuses is not None and all(s.healthy for s in statuses)
    info = stack.up()
    kubectl = Kubectl(info.kubectl, info.kubeconfig)
    was_operating = operator.running(info.stack_dir) is not None
    operator.start(info, kubectl)
    try:
        for index, scale in enumerate(scales):
            try:
                lines = table([measure(kubectl, info, scale, rate)])
            except (TimeoutError, KubectlError) as error:
                yield f"peer: {scale:>8} canaries  stopped here: {error}"
                break
            yield from lines if index == 0 else lines[1:]
    finally:
        if not was_operating:
            operator.stop(info.stack_dir)
        if not was_running:
            stack.down()
