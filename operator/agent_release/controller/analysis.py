"""The analysis loop: every tick, look at every canary that is due, in one batch.

Batching is the point: the loop groups the baking canaries by analysis interval and
sends one range query per guardrail (plus one for traffic) for the whole group,
grouped `by (agent, revision)`, so Prometheus load does not grow with the number of
releases. Each release's window and verdict are then computed from the shared
answer, and handed to its reconcile, which records and acts on them.

The same loop also reconciles every release that is not final every few seconds,
so progress never depends on an event being delivered.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from ..adapters.prometheus import PrometheusUnavailable
from ..api.outcomes import Result, combine
from ..api.policy import Guardrail, GuardrailQuery
from ..api.release import Analysis, Phase
from ..canary.guardrails import Sides, decide, judge
from ..canary.queries import Points, SeriesKey, guardrail_query, selector, traffic_query
from ..canary.sequential import look
from ..canary.windows import side, traffic
from .facts import AnalysisOutcome
from .observability import logger
from .reconcile import reconcile, report_failure
from .registry import Baking, Key
from .runtime import Runtime


def _last_look(item: Baking, attempts: dict[Key, float]) -> float:
    recorded = item.previous.time.timestamp() if item.previous else item.started
    return max(recorded, attempts.get(item.key, 0.0))


def due(
    items: Sequence[Baking], now: float, attempts: dict[Key, float]
) -> dict[tuple[float, float], list[Baking]]:
    """The canaries to look at now, grouped by (interval, look time).

    Looks happen on a clock shared by every canary with the same analysis interval: at
    the multiples of the interval since the epoch. A canary whose step began between
    two of them waits for the next one, and every canary of an interval is looked at in
    one batch at the same instant: that is what keeps the number of Prometheus queries
    independent of the number of releases.
    """
    groups: dict[tuple[float, float], list[Baking]] = defaultdict(list)
    for item in items:
        at = math.floor(now / item.interval) * item.interval
        if at - item.started >= item.interval and _last_look(item, attempts) < at - 1e-3:
            groups[(item.interval, at)].append(item)
    return groups


def _guardrail_key(guardrail: Guardrail) -> tuple[str, GuardrailQuery | None]:
    return guardrail.metric.value, guardrail.query


async def look_at(rt: Runtime, group: Sequence[Baking], now: float) -> dict[Key, AnalysisOutcome]:
    """One batched analysis, at `now`, of canaries that share an analysis interval."""
    assert group
    interval = group[0].interval
    matchers = selector([(i.agent, rev) for i in group for rev in (i.canary, i.stable)])
    periods = max(1, math.floor((now - min(i.started for i in group)) / interval))
    start = now - periods * interval
    queries: dict[tuple[str, GuardrailQuery | None], str] = {}
    for item in group:
        for guardrail in item.settings.guardrails:
            queries.setdefault(
                _guardrail_key(guardrail), guardrail_query(guardrail, matchers, interval)
            )
    answers: dict[tuple[str, GuardrailQuery | None] | str, dict[SeriesKey, Points]] = {}
    try:
        if rt.prometheus is None:
            raise PrometheusUnavailable("PROMETHEUS_URL is not set")
        answers["traffic"] = await _query(
            rt, traffic_query(matchers, interval), start, now, interval
        )
        for key, expr in queries.items():
            answers[key] = await _query(rt, expr, start, now, interval)
    except PrometheusUnavailable as error:
        return {
            i.key: AnalysisOutcome(
                step=i.step, analysis=None, decision=None, error=str(error), taken_at=time.time()
            )
            for i in group
        }
    outcomes = {}
    for item in group:
        try:
            outcomes[item.key] = _judge(item, answers, now)
        except Exception as error:  # a bug for one release must not stop the others' looks
            logger(release=item.key[1]).exception("look failed", error=str(error))
    return outcomes


async def _query(
    rt: Runtime, expr: str, start: float, end: float, step: float
) -> dict[SeriesKey, Points]:
    assert rt.prometheus is not None
    rt.metrics.queries.inc()
    try:
        return await rt.prometheus.query_range(expr, start, end, step)
    except PrometheusUnavailable:
        rt.metrics.query_errors.inc()
        raise
    finally:
        rt.metrics.query_latency.observe(rt.prometheus.last_latency)


def _judge(
    item: Baking,
    answers: dict[tuple[str, GuardrailQuery | None] | str, dict[SeriesKey, Points]],
    now: float,
) -> AnalysisOutcome:
    settings, agent, previous = item.settings, item.agent, item.previous
    bake = settings.steps[item.step - 1].bake_seconds()
    elapsed = now - item.started
    this_look = look(
        1 - item.confidence,
        elapsed,
        None if previous is None else previous.time.timestamp() - item.started,
        bake,
        previous.final_looks if previous is not None else 0,
    )
    tasks = answers["traffic"]
    canary_tasks = traffic(tasks, agent, item.canary, item.started, item.interval)
    stable_tasks = traffic(tasks, agent, item.stable, item.started, item.interval)
    results = []
    for guardrail in settings.guardrails:
        series = answers[_guardrail_key(guardrail)]
        sides = Sides(
            canary=side(series, agent, item.canary, item.started, item.interval),
            stable=side(series, agent, item.stable, item.started, item.interval),
            canary_tasks=canary_tasks,
            stable_tasks=stable_tasks,
        )
        results.append(judge(guardrail, sides, settings.min_samples, this_look))
    decision = decide(results, this_look, settings.on_inconclusive)
    stamp = datetime.fromtimestamp(now, UTC)
    analysis = Analysis(
        time=stamp,
        step=item.step,
        weight=item.weight,
        window_start=datetime.fromtimestamp(item.started, UTC),
        look=(previous.look + 1) if previous else 1,
        final_looks=(previous.final_looks if previous else 0) + this_look.final,
        result=combine([r.result for r in results]) if results else Result.PASS,
        guardrails=results,
    )
    return AnalysisOutcome(
        step=item.step, analysis=analysis, decision=decision, taken_at=time.time()
    )


async def tick(rt: Runtime, attempts: dict[Key, float], reconciled: dict[Key, float]) -> None:
    """One pass: analyse the due canaries in batches, then reconcile the stale releases.

    Reconciles run concurrently (a few at a time; each release has its own lock), so a
    batch of fifty verdicts reaches fifty Rollouts in about the time of a few.
    """
    now = time.time()
    tracked = list(rt.registry.items())
    items = [entry.baking for _, entry in tracked if entry.baking is not None]
    gate = asyncio.Semaphore(_CONCURRENT_RECONCILES)

    async def settle(key: Key, outcome: AnalysisOutcome | None = None) -> None:
        async with gate:
            await reconcile(rt, key[0], key[1], outcome)
            reconciled[key] = time.time()

    looked: set[Key] = set()
    work = []
    for (_, at), group in due(items, now, attempts).items():
        outcomes = await look_at(rt, group, at)
        for item in group:
            attempts[item.key] = at  # once per look time, whatever came of it
        for key, outcome in outcomes.items():
            looked.add(key)
            verdict = outcome.decision.verdict.value if outcome.decision else "Unavailable"
            rt.metrics.analyses.labels(verdict=verdict).inc()
            work.append(settle(key, outcome))
    phases: dict[str, int] = defaultdict(int)
    for key, entry in tracked:
        phases[entry.phase] += 1
        if (
            key not in looked
            and not entry.final
            and now - reconciled.get(key, 0.0) >= rt.config.reconcile_seconds
        ):
            reconciled[key] = now
            work.append(settle(key))
    for result in await asyncio.gather(*work, return_exceptions=True):
        if isinstance(result, Exception):  # that release is retried at the next tick
            report_failure(result)
    for phase in Phase:
        rt.metrics.releases.labels(phase=phase.value).set(phases.get(phase.value, 0))
    for book in (attempts, reconciled):  # forget deleted releases
        for key in book.keys() - rt.registry.keys():
            del book[key]


_CONCURRENT_RECONCILES = 8


async def run(rt: Runtime) -> None:
    """The loop itself, until cancelled at operator shutdown."""
    attempts: dict[Key, float] = {}
    reconciled: dict[Key, float] = {}
    while True:
        try:
            await tick(rt, attempts, reconciled)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # one bad tick must not stop the loop
            logger().exception("analysis tick failed", error=str(error))
        await asyncio.sleep(rt.config.tick_seconds)
