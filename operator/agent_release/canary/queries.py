"""Batched PromQL for the guardrails, and parsing what Prometheus returns.

One range query per guardrail (plus one for traffic) covers every canary at once:
the selector matches all (agent, revision) pairs under analysis, results are
grouped `by (agent, revision)`, and each point is what the counters grew by over one
analysis interval (`_delta`: raw values less their values one interval earlier). A
numerator/denominator pair travels in one query, each half tagged with a `part` label
by `label_replace`, so a guardrail costs one HTTP request whatever the number of
releases.

Templates may use `$selector` and `$interval` only. Both are built here from values
that passed strict patterns (agent names are DNS labels, revisions are pod-template
hashes), so no user text is ever spliced into a query.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from string import Template
from typing import Any

from ..api.policy import Guardrail, GuardrailMetric, GuardrailQuery
from ..api.types import AGENT_PATTERN
from .counts import GUARDRAIL_FIELDS, Counts

_AGENT = re.compile(AGENT_PATTERN)
_REVISION = re.compile(r"^[a-z0-9]{1,40}$")


def _delta(metric: str, matchers: str = "", by: str = "agent, revision") -> str:
    """What a counter grew by over the interval: each series' value now less its value one
    interval ago (a reset counts as no growth), summed `by (...)`.

    Not `increase(...[$interval])`: increase() only sees the samples inside its window and
    extrapolates the rest, so consecutive windows each leave out the growth between their
    last sample and the next window's first (half of it when an interval holds two
    scrapes) and scale up what they saw. Their sum then wanders off the counter's real
    growth by several percent, and counts scaled up look more certain than they are. The
    difference of raw values tiles time exactly: every increment is in one interval.
    """
    inner = f"{matchers},$selector" if matchers else "$selector"
    series = f"{metric}{{{inner}}}"
    return f"sum by ({by}) (clamp_min({series} - {series} offset $interval, 0))"


_TASKS = _delta("agent_tasks_total")
_VIOLATIONS = ("agent_policy_violations_total", 'severity="hard"')
_SUCCESSES = _delta("agent_tasks_total", 'outcome="success"')

DEFAULT_QUERIES: dict[GuardrailMetric, GuardrailQuery] = {
    GuardrailMetric.TASK_SUCCESS_RATE: GuardrailQuery(numerator=_SUCCESSES, denominator=_TASKS),
    GuardrailMetric.HUMAN_INTERVENTION_RATE: GuardrailQuery(
        numerator=_delta("agent_human_interventions_total"), denominator=_TASKS
    ),
    GuardrailMetric.POLICY_VIOLATION_RATE: GuardrailQuery(
        numerator=_delta(*_VIOLATIONS),
        denominator=_TASKS,
    ),
    GuardrailMetric.TOOL_FAILURE_RATE: GuardrailQuery(
        numerator=_delta("agent_tool_calls_total", 'outcome="failure"'),
        denominator=_delta("agent_tool_calls_total"),
    ),
    GuardrailMetric.COST_PER_SUCCESSFUL_TASK: GuardrailQuery(
        numerator=_delta("agent_task_cost_usd_total"), denominator=_SUCCESSES
    ),
    GuardrailMetric.P95_END_TO_END_LATENCY: GuardrailQuery(
        buckets=_delta("agent_task_duration_seconds_bucket", by="agent, revision, le")
    ),
}
TRAFFIC = _TASKS


def selector(pairs: Iterable[tuple[str, str]]) -> str:
    """Label matchers for a set of (agent, revision) pairs; refuses anything unsafe."""
    agents, revisions = set(), set()
    for agent, revision in pairs:
        # fullmatch: with match, `$` also matches before a final newline ("a\n")
        if not _AGENT.fullmatch(agent) or not _REVISION.fullmatch(revision):
            raise ValueError(f"refusing to query agent {agent!r} revision {revision!r}")
        agents.add(agent)
        revisions.add(revision)
    if not agents:
        raise ValueError("no releases to query")
    return f'agent=~"{"|".join(sorted(agents))}",revision=~"{"|".join(sorted(revisions))}"'


def render(template: str, matchers: str, interval_seconds: float) -> str:
    """A guardrail template with `$selector` (label matchers) and `$interval` filled in."""
    return Template(template).substitute(selector=matchers, interval=f"{round(interval_seconds)}s")


def guardrail_query(guardrail: Guardrail, matchers: str, interval_seconds: float) -> str:
    """The one PromQL expression of a guardrail for all releases under analysis."""
    default = DEFAULT_QUERIES[guardrail.metric]
    query = guardrail.query or default
    if default.buckets is not None:
        return render(query.buckets or default.buckets, matchers, interval_seconds)
    numerator = render(query.numerator or default.numerator or "", matchers, interval_seconds)
    denominator = render(query.denominator or default.denominator or "", matchers, interval_seconds)
    return (
        f'label_replace({numerator}, "part", "numerator", "", "") or '
        f'label_replace({denominator}, "part", "denominator", "", "")'
    )


def traffic_query(matchers: str, interval_seconds: float) -> str:
    return render(TRAFFIC, matchers, interval_seconds)


# -- results -----------------------------------------------------------------------------

Points = tuple[tuple[float, float], ...]  # (evaluation time, increase over the interval)


@dataclass(frozen=True, slots=True)
class SeriesKey:
    agent: str
    revision: str
    part: str  # "numerator", "denominator", "value", or the bucket bound `le`


class QueryResultError(ValueError):
    """Prometheus answered with something that is not a range-query matrix."""


def parse_matrix(body: Mapping[str, Any]) -> dict[SeriesKey, Points]:
    """Series of a `query_range` answer keyed by agent, revision and part.

    NaN points (an `increase` with a single sample) count as no increase.
    """
    if body.get("status") != "success":
        raise QueryResultError(f"Prometheus query failed: {body.get('error', body.get('status'))}")
    data = body.get("data") or {}
    if data.get("resultType") != "matrix":
        raise QueryResultError(f"expected a matrix, got {data.get('resultType')!r}")
    out: dict[SeriesKey, list[tuple[float, float]]] = defaultdict(list)
    for series in data.get("result") or []:
        labels = series.get("metric") or {}
        agent, revision = labels.get("agent"), labels.get("revision")
        if not agent or not revision:
            continue  # a template that drops the grouping labels cannot be attributed
        part = labels.get("part") or labels.get("le") or "value"
        key = SeriesKey(agent, revision, part)
        for stamp, text in series.get("values") or []:
            value = float(text)
            out[key].append((float(stamp), 0.0 if math.isnan(value) else value))
    return {key: tuple(sorted(points)) for key, points in out.items()}


def parse_vector(body: Mapping[str, Any]) -> dict[SeriesKey, float]:
    """Samples of an instant query's answer keyed by agent, revision and part."""
    if body.get("status") != "success":
        raise QueryResultError(f"Prometheus query failed: {body.get('error', body.get('status'))}")
    data = body.get("data") or {}
    if data.get("resultType") != "vector":
        raise QueryResultError(f"expected a vector, got {data.get('resultType')!r}")
    out: dict[SeriesKey, float] = {}
    for sample in data.get("result") or []:
        labels = sample.get("metric") or {}
        agent, revision = labels.get("agent"), labels.get("revision")
        if not agent or not revision:
            continue
        value = float((sample.get("value") or [0, "0"])[1])
        out[SeriesKey(agent, revision, "value")] = 0.0 if math.isnan(value) else value
    return out


def hard_growth_query(matchers: str, seconds: float) -> str:
    """Hard violations each (agent, revision) committed in the last `seconds`: the default
    query's counter, its growth over a literal duration (in milliseconds, so it starts
    where the last analysis interval ended)."""
    metric, labels = _VIOLATIONS
    series = f"{metric}{{{labels},{matchers}}}"
    return (
        f"sum by (agent, revision) (clamp_min({series} - {series} offset "
        f"{max(1, round(seconds * 1000))}ms, 0))"
    )


# -- per-interval counts -----------------------------------------------------------------

Series = Mapping[SeriesKey, Mapping[float, float]]  # values by evaluation time
TRAFFIC_KEY = "traffic"
_PARTS = ("numerator", "denominator", "value")


def by_time(series: Mapping[SeriesKey, Points]) -> dict[SeriesKey, dict[float, float]]:
    """Parsed series as values keyed by (rounded) evaluation time, for lookups."""
    return {key: {round(t, 3): v for t, v in points} for key, points in series.items()}


def _value(series: Series, key: SeriesKey, at: float) -> float:
    return series.get(key, {}).get(round(at, 3), 0.0)


def _buckets(series: Series, agent: str, revision: str, at: float) -> dict[float, float]:
    out: dict[float, float] = {}
    for key in series:
        if key.agent != agent or key.revision != revision or key.part in _PARTS:
            continue
        bound = math.inf if key.part in ("+Inf", "Inf") else float(key.part)
        out[bound] = out.get(bound, 0.0) + _value(series, key, at)
    return out


def _fields(
    guardrail: Guardrail, series: Series, agent: str, revision: str, at: float
) -> dict[str, Any]:
    if guardrail.metric is GuardrailMetric.P95_END_TO_END_LATENCY:
        return {"duration_buckets": _buckets(series, agent, revision, at)}
    numerator, denominator = GUARDRAIL_FIELDS[guardrail.metric]
    return {
        numerator: _value(series, SeriesKey(agent, revision, "numerator"), at),
        denominator: _value(series, SeriesKey(agent, revision, "denominator"), at),
    }


def interval_counts(
    answers: Mapping[str, Series],
    guardrails: Sequence[Guardrail],
    agent: str,
    revision: str,
    at: float,
) -> Counts | dict[GuardrailMetric, Counts]:
    """What one revision did in the interval ending at `at`, from the batched answers
    (keyed by guardrail metric, and `TRAFFIC_KEY`).

    With the default queries, one Counts whose every field comes from exactly one query:
    tasks from the traffic query, the rest from the guardrail that counts them
    (successes from task_success_rate when there is one, before the cost guardrail's
    denominator), so every guardrail reads the same number for the same thing. When a
    guardrail has queries of its own, each guardrail gets its own Counts instead.
    """
    tasks = _value(answers.get(TRAFFIC_KEY, {}), SeriesKey(agent, revision, "value"), at)
    if any(g.query is not None for g in guardrails):
        return {
            g.metric: Counts(
                **{
                    "tasks": tasks,
                    **_fields(g, answers.get(g.metric.value, {}), agent, revision, at),
                }
            )
            for g in guardrails
        }
    values: dict[str, Any] = {"tasks": tasks}
    for guardrail in sorted(guardrails, key=_owner_first):
        series = answers.get(guardrail.metric.value, {})
        for name, value in _fields(guardrail, series, agent, revision, at).items():
            values.setdefault(name, value)
    return Counts(**values)


def _owner_first(guardrail: Guardrail) -> int:
    """The cost guardrail only divides by successes: the success rate counts them."""
    return 1 if guardrail.metric is GuardrailMetric.COST_PER_SUCCESSFUL_TASK else 0
