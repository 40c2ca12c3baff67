"""The ``e2e.agentrelease.dev/behaviour`` pod annotation: what a simulated agent pod does.

JSON, camelCase keys (all rates are probabilities per task)::

    requestsPerSecond    tasks per second that ONE Ready pod serves (required, >= 0)
    successRate          P(task succeeds)                                  (required)
    interventionRate     P(a human had to step in)                         default 0
    latencySeconds       {"p50": s, "p95": s} end-to-end task duration     default {30, 90}
    costPerTaskUSD       mean cost of a task                               default 0
    policyViolationRate  P(task commits a hard policy violation)           default 0
    toolFailureRate      P(one tool call fails)                            default 0
    toolCallsPerTask     mean tool calls per task                          default 0

Unknown keys are rejected, so a typo makes the pod emit nothing (and a warning in the
simulator's log) instead of silently simulating defaults.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

ANNOTATION = "e2e.agentrelease.dev/behaviour"

Z95 = 1.6448536269514722
"""Standard normal 95th percentile: fits a lognormal to p50 and p95."""


class BehaviourError(ValueError):
    """The annotation is not valid behaviour JSON; the message says which field."""


@dataclass(frozen=True)
class Behaviour:
    requests_per_second: float
    success_rate: float
    intervention_rate: float = 0.0
    latency_p50: float = 30.0
    latency_p95: float = 90.0
    cost_per_task_usd: float = 0.0
    policy_violation_rate: float = 0.0
    tool_failure_rate: float = 0.0
    tool_calls_per_task: float = 0.0

    @property
    def log_mu(self) -> float:
        """Task durations are lognormal: ``ln d ~ N(log_mu, log_sigma²)``, median = p50."""
        return math.log(self.latency_p50)

    @property
    def log_sigma(self) -> float:
        return (math.log(self.latency_p95) - math.log(self.latency_p50)) / Z95

    @property
    def mean_duration(self) -> float:
        return math.exp(self.log_mu + self.log_sigma**2 / 2)


_FIELDS = {
    "requestsPerSecond": "requests_per_second",
    "successRate": "success_rate",
    "interventionRate": "intervention_rate",
    "costPerTaskUSD": "cost_per_task_usd",
    "policyViolationRate": "policy_violation_rate",
    "toolFailureRate": "tool_failure_rate",
    "toolCallsPerTask": "tool_calls_per_task",
}
_PROBABILITIES = {"successRate", "interventionRate", "policyViolationRate", "toolFailureRate"}


def _number(raw: dict[str, Any], key: str) -> float:
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BehaviourError(f"{key} must be a number, got {value!r}")
    if value < 0 or (key in _PROBABILITIES and value > 1):
        limits = "between 0 and 1" if key in _PROBABILITIES else ">= 0"
        raise BehaviourError(f"{key} must be {limits}, got {value}")
    return float(value)


def parse_behaviour(text: str) -> Behaviour:
    """Parse and validate the annotation's JSON."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise BehaviourError(f"not JSON: {error}") from error
    if not isinstance(raw, dict):
        raise BehaviourError("must be a JSON object")
    unknown = set(raw) - set(_FIELDS) - {"latencySeconds"}
    if unknown:
        raise BehaviourError(f"unknown keys {sorted(unknown)}")
    for required in ("requestsPerSecond", "successRate"):
        if required not in raw:
            raise BehaviourError(f"{required} is required")
    values: dict[str, float] = {
        attribute: _number(raw, key) for key, attribute in _FIELDS.items() if key in raw
    }
    latency = raw.get("latencySeconds")
    if latency is not None:
        if not isinstance(latency, dict) or set(latency) != {"p50", "p95"}:
            raise BehaviourError('latencySeconds must be {"p50": seconds, "p95": seconds}')
        values["latency_p50"] = _number(latency, "p50")
        values["latency_p95"] = _number(latency, "p95")
        if not 0 < values["latency_p50"] <= values["latency_p95"]:
            raise BehaviourError("latencySeconds needs 0 < p50 <= p95")
    return Behaviour(**values)
