"""Batched PromQL for the guardrails, and parsing what Prometheus returns.

One range query per guardrail (plus one for traffic) covers every canary at once:
the selector matches all (agent, revision) pairs under analysis, results are
grouped `by (agent, revision)`, and each point is the increase over one analysis
interval. A numerator/denominator pair travels in one query, each half tagged with
a `part` label by `label_replace`, so a guardrail costs one HTTP request whatever
the number of releases.

Templates may use `$selector` and `$interval` only. Both are built here from values
that passed strict patterns (agent names are DNS labels, revisions are pod-template
hashes), so no user text is ever spliced into a query.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from string import Template
from typing import Any

from ..api.policy import Guardrail, GuardrailMetric, GuardrailQuery
from ..api.types import AGENT_PATTERN

_AGENT = re.compile(AGENT_PATTERN)
_REVISION = re.compile(r"^[a-z0-9]{1,40}$")


def _increase(metric: str, matchers: str = "", by: str = "agent, revision") -> str:
    """`sum by (...) (increase(metric{matchers,$selector}[$interval]))`."""
    inner = f"{matchers},$selector" if matchers else "$selector"
    return f"sum by ({by}) (increase({metric}{{{inner}}}[$interval]))"


_TASKS = _increase("agent_tasks_total")
_SUCCESSES = _increase("agent_tasks_total", 'outcome="success"')

DEFAULT_QUERIES: dict[GuardrailMetric, GuardrailQuery] = {
    GuardrailMetric.TASK_SUCCESS_RATE: GuardrailQuery(numerator=_SUCCESSES, denominator=_TASKS),
    GuardrailMetric.HUMAN_INTERVENTION_RATE: GuardrailQuery(
        numerator=_increase("agent_human_interventions_total"), denominator=_TASKS
    ),
    GuardrailMetric.POLICY_VIOLATION_RATE: GuardrailQuery(
        numerator=_increase("agent_policy_violations_total", 'severity="hard"'),
        denominator=_TASKS,
    ),
    GuardrailMetric.TOOL_FAILURE_RATE: GuardrailQuery(
        numerator=_increase("agent_tool_calls_total", 'outcome="failure"'),
        denominator=_increase("agent_tool_calls_total"),
    ),
    GuardrailMetric.COST_PER_SUCCESSFUL_TASK: GuardrailQuery(
        numerator=_increase("agent_task_cost_usd_total"), denominator=_SUCCESSES
    ),
    GuardrailMetric.P95_END_TO_END_LATENCY: GuardrailQuery(
        buckets=_increase("agent_task_duration_seconds_bucket", by="agent, revision, le")
    ),
}
TRAFFIC = _TASKS


def selector(pairs: Iterable[tuple[str, str]]) -> str:
    """Label matchers for a set of (agent, revision) pairs; refuses anything unsafe."""
    agents, revisions = set(), set()
    for agent, revision in pairs:
        if not _AGENT.match(agent) or not _REVISION.match(revision):
            raise ValueError(f"refusing to query agent {agent!r} revision {revision!r}")
        agents.add(agent)
        revisions.add(revision)
    if not agents:
        raise ValueError("no releases to query")
    return f'agent=~"{"|".join(sorted(agents))}",revision=~"{"|".join(sorted(revisions))}"'


def _render(template: str, matchers: str, interval_seconds: float) -> str:
    return Template(template).substitute(selector=matchers, interval=f"{round(interval_seconds)}s")


def guardrail_query(guardrail: Guardrail, matchers: str, interval_seconds: float) -> str:
    """The one PromQL expression of a guardrail for all releases under analysis."""
    default = DEFAULT_QUERIES[guardrail.metric]
    query = guardrail.query or default
    if default.buckets is not None:
        return _render(query.buckets or default.buckets, matchers, interval_seconds)
    numerator = _render(query.numerator or default.numerator or "", matchers, interval_seconds)
    denominator = _render(
        query.denominator or default.denominator or "", matchers, interval_seconds
    )
    return (
        f'label_replace({numerator}, "part", "numerator", "", "") or '
        f'label_replace({denominator}, "part", "denominator", "", "")'
    )


def traffic_query(matchers: str, interval_seconds: float) -> str:
    return _render(TRAFFIC, matchers, interval_seconds)


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
