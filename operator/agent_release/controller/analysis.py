"""The analysis loop: every tick, look at every canary that is due, in one batch.

Batching is the point: the loop groups the baking canaries by analysis interval and
sends one range query per guardrail (plus one for traffic) for the whole group,
grouped `by (agent, revision)`, so Prometheus load does not grow with the number of
releases. Each canary's analyzer (`canary.Analyzer`, the only code that decides a
canary) keeps running sums in memory; a look adds the intervals since its last one and
decides. After a restart, or a gap while Prometheus was down, the query reaches back as
far as the oldest interval not yet added (the canary's beginning, at worst): the sums
are rebuilt from Prometheus history, the rest of the analyzer's state from status.

Every interval added is logged (`interval`, with the Counts of both revisions), so a
canary can be replayed exactly: `agent-release replay` (docs/operator.md, "Replay").

The same loop also reconciles every release that is not final every few seconds,
so progress never depends on an event being delivered; a final release only after a
reconcile of it failed, and once at the start of each leader's term (`stale`).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from ..adapters.prometheus import PrometheusUnavailable
from ..api.outcomes import Result, combine
from ..api.policy import Guardrail, GuardrailMetric, GuardrailQuery
from ..api.release import Analysis, Forecast, GuardrailForecast, Phase, StepForecast
from ..canary.analyzer import Analyzer, AnalyzerState, Decision, Verdict
from ..canary.counts import Counts
from ..canary.queries import (
    TRAFFIC_KEY,
    Series,
    SeriesKey,
    by_time,
    guardrail_query,
    hard_growth_query,
    interval_counts,
    selector,
    traffic_query,
)
from .facts import AnalysisOutcome
from .observability import logger
from .reconcile import reconcile, report_failure
from .registry import Baking, Key, Live, Tracked
from .runtime import Runtime, Settling
from .validation import sweep


def _live(rt: Runtime, item: Baking) -> Live:
    """The canary's analyzer, with its state from status; a new one after a restart.

    While a decision of the canary is on its way to status (`Runtime.settling`), the
    analyzer in memory is ahead of status and is kept as it is."""
    live = rt.analyzers.get(item.key)
    if live is None or (live.canary, live.stable, live.began) != (
        item.canary,
        item.stable,
        item.began,
    ):
        analyzer = Analyzer(item.settings)
        live = Live(analyzer, item.canary, item.stable, item.began, item.began)
        rt.analyzers[item.key] = live
    elif item.key in rt.settling:
        return live
    e = item.evidence
    live.analyzer.state = AnalyzerState(
        step=item.step,
        step_began=e.step_began,
        screened=frozenset(e.screened),
        settled=frozenset(e.settled),
        looks=e.looks,
    )
    return live


def due(
    items: Sequence[Baking], now: float, attempts: Mapping[Key, float]
) -> dict[tuple[float, float], list[Baking]]:
    """The canaries to look at now, grouped by (interval, look time).

    Looks happen on a clock shared by every canary with the same analysis interval: at
    the multiples of the interval since the epoch, and so do the canaries' intervals of
    evidence. Every canary of an interval is looked at in one batch at the same instant:
    that is what keeps the number of Prometheus queries independent of the number of
    releases.
    """
    groups: dict[tuple[float, float], list[Baking]] = defaultdict(list)
    for item in items:
        at = math.floor(now / item.interval) * item.interval
        if at - item.began >= item.interval - 1e-3 and attempts.get(item.key, 0.0) < at - 1e-3:
            groups[(item.interval, at)].append(item)
    return groups


def _query_key(guardrail: Guardrail) -> tuple[str, GuardrailQuery | None]:
    return guardrail.metric.value, guardrail.query


async def look_at(rt: Runtime, group: Sequence[Baking], now: float) -> dict[Key, AnalysisOutcome]:
    """One batched analysis, at `now`, of canaries that share an analysis interval."""
    assert group
    interval = group[0].interval
    lives = {item.key: _live(rt, item) for item in group}
    matchers = selector([(i.agent, rev) for i in group for rev in (i.canary, i.stable)])
    start = min(live.added_until for live in lives.values()) + interval
    queries: dict[tuple[str, GuardrailQuery | None], str] = {}
    for item in group:
        for guardrail in item.settings.guardrails:
            queries.setdefault(
                _query_key(guardrail), guardrail_query(guardrail, matchers, interval)
            )
    answers: dict[tuple[str, GuardrailQuery | None] | str, Series] = {}
    try:
        if rt.prometheus is None:
            raise PrometheusUnavailable("PROMETHEUS_URL is not set")
        answers[TRAFFIC_KEY] = await _query(
            rt, traffic_query(matchers, interval), start, now, interval
        )
        for key, expr in queries.items():
            answers[key] = await _query(rt, expr, start, now, interval)
    except PrometheusUnavailable as error:
        return {
            i.key: AnalysisOutcome(
                step=i.step, decision=None, error=str(error), taken_at=time.time()
            )
            for i in group
        }
    outcomes = {}
    for item in group:
        try:
            outcomes[item.key] = _judge(item, lives[item.key], answers, now)
        except Exception as error:  # a bug for one release must not stop the others' looks
            rt.analyzers.pop(item.key, None)  # rebuilt from history at the next look
            logger(release=item.key[1]).exception("look failed", error=str(error))
    return outcomes


async def _query(rt: Runtime, expr: str, start: float, end: float, step: float) -> Series:
    assert rt.prometheus is not None
    rt.metrics.queries.inc()
    try:
        return by_time(await rt.prometheus.query_range(expr, start, end, step))
    except PrometheusUnavailable:
        rt.metrics.query_errors.inc()
        raise
    finally:
        rt.metrics.query_latency.observe(rt.prometheus.last_latency)


def _judge(
    item: Baking,
    live: Live,
    answers: Mapping[tuple[str, GuardrailQuery | None] | str, Series],
    now: float,
) -> AnalysisOutcome:
    guardrails = item.settings.guardrails
    by_metric = {g.metric.value: answers.get(_query_key(g), {}) for g in guardrails}
    by_metric[TRAFFIC_KEY] = answers.get(TRAFFIC_KEY, {})
    log = logger(release=item.key[1], namespace=item.key[0], agent=item.agent)
    t = live.added_until + item.interval
    while t <= now + 1e-3:
        canary = interval_counts(by_metric, guardrails, item.agent, item.canary, t)
        stable = interval_counts(by_metric, guardrails, item.agent, item.stable, t)
        live.analyzer.add(canary, stable, item.interval)
        log.info(
            "interval", at=round(t - live.began, 3), canary=_wire(canary), stable=_wire(stable)
        )
        live.added_until = t
        t += item.interval
    decision = live.analyzer.decide(now - live.began)
    stamp = datetime.fromtimestamp(now, UTC)
    return AnalysisOutcome(
        step=item.step,
        decision=decision,
        analysis=_analysis(decision, stamp),
        forecast=_forecast(live.analyzer, decision, stamp),
        taken_at=time.time(),
    )


def _analysis(decision: Decision, stamp: datetime) -> Analysis:
    """A decision as status records it."""
    return Analysis(
        time=stamp,
        step=decision.step,
        weight=decision.weight,
        at=decision.at,
        look=decision.state.looks,
        verdict=decision.verdict.value,
        result=combine([g.result for g in decision.guardrails])
        if decision.guardrails
        else Result.PASS,
        guardrails=list(decision.guardrails),
    )


async def check_between(
    rt: Runtime, items: Sequence[Baking], now: float
) -> dict[Key, AnalysisOutcome]:
    """Hard violations between looks, at the speed of the scrape: the Rollbacks found.

    One instant query asks, for every canary whose policy counts hard violations with the
    default query, how many its counter grew by since the last interval its analyzer
    added; the analyzer adds them to its count (`Analyzer.between`). Canaries of one
    analysis interval share that instant, so this is one query per interval in use,
    whatever the number of releases. A failed query is no outcome at all: the next look
    finds both the violations and the outage.
    """
    groups: dict[float, list[tuple[Baking, Live]]] = defaultdict(list)
    for item in items:
        counted = next(
            (
                g
                for g in item.settings.guardrails
                if g.metric is GuardrailMetric.POLICY_VIOLATION_RATE
            ),
            None,
        )
        if counted is not None and counted.query is None:
            live = _live(rt, item)
            groups[live.added_until].append((item, live))
    outcomes: dict[Key, AnalysisOutcome] = {}
    if rt.prometheus is None:
        return outcomes
    for since, group in groups.items():
        if now <= since:
            continue
        matchers = selector([(item.agent, item.canary) for item, _ in group])
        rt.metrics.hard_checks.inc()
        try:
            found = await rt.prometheus.query(hard_growth_query(matchers, now - since), now)
        except PrometheusUnavailable:
            rt.metrics.query_errors.inc()
            continue
        finally:
            rt.metrics.query_latency.observe(rt.prometheus.last_latency)
        for item, live in group:
            violations = found.get(SeriesKey(item.agent, item.canary, "value"), 0.0)
            decision = live.analyzer.between(now - live.began, violations) if violations else None
            if decision is not None:
                outcomes[item.key] = AnalysisOutcome(
                    step=item.step,
                    decision=decision,
                    analysis=_analysis(decision, datetime.fromtimestamp(now, UTC)),
                    taken_at=time.time(),
                )
    return outcomes


def _wire(counts: Counts | Mapping[GuardrailMetric, Counts]) -> dict[str, object]:
    """Counts as the replay reads them (JSON: bucket bounds as strings)."""
    if not isinstance(counts, Counts):
        return {metric.value: _wire(c) for metric, c in counts.items()}
    out: dict[str, object] = {
        k: v for k, v in asdict(counts).items() if k != "duration_buckets" and v
    }
    if counts.duration_buckets:
        out["duration_buckets"] = {
            ("+Inf" if math.isinf(le) else f"{le:g}"): v
            for le, v in sorted(counts.duration_buckets.items())
        }
    return out


def _forecast(analyzer: Analyzer, decision: Decision, stamp: datetime) -> Forecast | None:
    plan = analyzer.forecast(decision.at)
    if plan is None:
        return None
    steps, elapsed = [], 0.0
    for s in plan.steps:
        elapsed += s.seconds
        ends = None if math.isinf(elapsed) else stamp + timedelta(seconds=elapsed)
        steps.append(
            StepForecast(
                step=s.step,
                weight=s.weight,
                require=s.requirement.value,
                ends_at=ends,
                bound_by=s.bound_by,
            )
        )
    full = (
        None
        if math.isinf(plan.seconds_to_full)
        else stamp + timedelta(seconds=plan.seconds_to_full)
    )
    return Forecast(
        time=stamp,
        tasks_per_minute=round(analyzer.last_total_rate * 60, 2),
        full_at=full,
        steps=steps,
        guardrails=[
            GuardrailForecast(
                metric=metric,
                collected=round(analyzer.canary_tasks),
                needed=None if math.isinf(needed) else round(analyzer.canary_tasks + needed),
            )
            for metric, needed in plan.tasks_needed.items()
        ],
    )


async def tick(
    rt: Runtime,
    attempts: dict[Key, float],
    reconciled: dict[Key, float],
    checks: dict[str, float] | None = None,
) -> None:
    """One pass: analyse the due canaries in batches, check the others' hard violations
    (every `hard_check_seconds`), then reconcile the stale releases.

    The pass starts the reconciles and does not wait for them (`settle`): at hundreds
    of canaries a look's status writes take about an interval, and a loop that waited
    for them would check hard violations once an interval instead of every second.
    Every due canary is looked at in the batch of its grid point, whether or not the
    reconcile of its last look is done (a canary left out would be looked at alone a
    tick later, one more query per guardrail); its analyzer in memory is then ahead of
    status and is used as it is (`_live`). A release waiting for its reconcile is not
    polled; a rollback goes ahead of the queue (`reconcile`).
    """
    now = time.time()
    checks = {} if checks is None else checks
    rt.last_tick = time.monotonic()
    tracked = list(rt.registry.items())
    if not rt.leading():  # a standby keeps its registry warm and acts on nothing
        _count_phases(rt, tracked)
        return
    if rt.unvalidated:  # what changed while another replica led
        await sweep(rt)
    items = [entry.baking for _, entry in tracked if entry.baking is not None]

    looked: set[Key] = set()
    for (_, at), group in due(items, now, attempts).items():
        outcomes = await look_at(rt, group, at)
        for item in group:
            attempts[item.key] = at  # once per look time, whatever came of it
        for key, outcome in sorted(outcomes.items(), key=lambda o: not o[1].urgent):
            looked.add(key)
            verdict = outcome.decision.verdict.value if outcome.decision else "Unavailable"
            rt.metrics.analyses.labels(verdict=verdict).inc()
            settle(rt, key, reconciled, outcome)
    if (
        rt.config.hard_check_seconds > 0
        and now - checks.get("hard", 0.0) >= rt.config.hard_check_seconds
    ):
        checks["hard"] = now
        waiting = [item for item in items if item.key not in looked and not _aborting(rt, item.key)]
        for key, outcome in (await check_between(rt, waiting, now)).items():
            looked.add(key)
            rt.metrics.analyses.labels(verdict=Verdict.ROLLBACK.value).inc()
            settle(rt, key, reconciled, outcome)
    for key in stale(rt, tracked, reconciled, now):
        if key not in looked and key not in rt.settling:
            settle(rt, key, reconciled)
    _count_phases(rt, tracked)
    for book in (attempts, reconciled):  # forget deleted releases
        for key in book.keys() - rt.registry.keys():
            del book[key]
    canaries = {key for key, entry in tracked if entry.phase == Phase.CANARY.value}
    for key in rt.analyzers.keys() - canaries:  # and the sums of canaries that ended
        del rt.analyzers[key]


def settle(
    rt: Runtime, key: Key, reconciled: dict[Key, float], outcome: AnalysisOutcome | None = None
) -> asyncio.Task[None]:
    """Reconcile a release in the background (with a look's outcome, if any); a failure
    is reported, and the release is tried again at a later tick (`Runtime.unsettled`).

    A look at a release whose reconcile of an earlier look has not started yet replaces
    that look (the analyzer's evidence only grows: the later decision is the one to
    write), so a release has at most one look waiting, however far behind the writes
    are. A rollback is started beside it and runs right after the reconcile under way
    (the release's lock); the release counts as settling until the last one is done."""
    reconciled[key] = time.time()
    urgent = outcome is not None and outcome.urgent
    if outcome is not None and not urgent:
        waiting = key in rt.looks
        rt.looks[key] = outcome
        current = rt.settling.get(key)
        if waiting and current is not None:
            return current.task

    async def run() -> None:
        try:
            if urgent:
                await reconcile(rt, key[0], key[1], outcome)
            else:
                await reconcile(rt, key[0], key[1], started=lambda: rt.looks.pop(key, None))
        except Exception as error:
            report_failure(error)
        finally:
            reconciled[key] = time.time()

    task = asyncio.create_task(run())
    rt.settling[key] = Settling(task, urgent)
    task.add_done_callback(lambda done: _settled(rt, key, done))
    return task


def _settled(rt: Runtime, key: Key, task: asyncio.Task[None]) -> None:
    current = rt.settling.get(key)
    if current is not None and current.task is task:
        del rt.settling[key]


def _aborting(rt: Runtime, key: Key) -> bool:
    """A rollback of this release is on its way: checking it again would only repeat it."""
    current = rt.settling.get(key)
    return current is not None and current.urgent


def stale(
    rt: Runtime,
    tracked: Sequence[tuple[Key, Tracked]],
    reconciled: Mapping[Key, float],
    now: float,
) -> list[Key]:
    """The releases to reconcile now without an event: those due by `_every`, and all of
    them, final ones too, once at the start of each term of this replica's leadership.

    A final release needs no polling, but its status can be ahead of the cluster: a
    leader that wrote "RolledBack" and lost its Lease (or was killed) before the abort
    reached the Rollout leaves a rollback that only a reconcile re-applies
    (`machine._keep_final`). A new leader, or this one leading again, cannot know which
    releases that was, so it reconciles everything once; a reconcile that failed is
    retried the same way (`Runtime.unsettled`) until one succeeds.
    """
    term = rt.term()
    if rt.swept_term != term:
        rt.swept_term = term
        return [key for key, _ in tracked]
    due = []
    for key, entry in tracked:
        every = _every(rt, entry)
        if key in rt.unsettled:
            every = min(every, rt.config.reconcile_seconds)
        if now - reconciled.get(key, 0.0) >= every:
            due.append(key)
    return due


def _every(rt: Runtime, entry: Tracked) -> float:
    """How often a release is reconciled without an event.

    Only a release that moves by itself needs polling (a step that started, a Rollout
    on its way); a canary baking between looks is reconciled by its looks, and a release
    Gating or Blocked waits for its reports or its policy to change, which wake it
    (`handlers`): those are only resynchronised, in case an event was missed, so the
    API server's load does not grow with releases × ticks."""
    if entry.final:
        return math.inf
    if entry.baking is not None or (entry.gating and entry.phase != Phase.PENDING.value):
        return rt.config.resync_seconds
    return rt.config.reconcile_seconds


def _count_phases(rt: Runtime, tracked: Sequence[tuple[Key, Tracked]]) -> None:
    phases: dict[str, int] = defaultdict(int)
    for _, entry in tracked:
        phases[entry.phase] += 1
    for phase in Phase:
        rt.metrics.releases.labels(phase=phase.value).set(phases.get(phase.value, 0))


async def run(rt: Runtime) -> None:
    """The loop itself, until cancelled at operator shutdown."""
    attempts: dict[Key, float] = {}
    reconciled: dict[Key, float] = {}
    checks: dict[str, float] = {}
    try:
        while True:
            try:
                await tick(rt, attempts, reconciled, checks)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # one bad tick must not stop the loop
                logger().exception("analysis tick failed", error=str(error))
            await asyncio.sleep(rt.config.tick_seconds)
    finally:  # at shutdown: status is the source of truth, the next leader goes on
        for settling in list(rt.settling.values()):
            settling.task.cancel()
