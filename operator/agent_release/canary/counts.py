"""What one revision did over one analysis interval: the analyzer's input.

`Counts` holds increases over one interval (what `increase(...[interval])` returns at
the end of it), for the canary or for the stable revision, in the units of the metric
conventions (docs/operator.md): tasks, successful tasks, human interventions, tool calls
and failed tool calls, hard policy violations, dollars, and the task-duration histogram
as cumulative counts per bucket bound (`le`). Which guardrail reads which fields is
fixed: `GUARDRAIL_FIELDS`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..api.policy import GuardrailMetric
from ..files import is_number


@dataclass(frozen=True, slots=True)
class Counts:
    tasks: float = 0.0
    successes: float = 0.0
    interventions: float = 0.0
    tool_calls: float = 0.0
    tool_failures: float = 0.0
    violations: float = 0.0
    cost_usd: float = 0.0
    duration_buckets: Mapping[float, float] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> Counts:
        """From a mapping with these field names (camelCase accepted); `where` names it in
        errors. Bucket bounds may be strings ("0.5", "+Inf")."""
        known = {f: f for f in cls.__dataclass_fields__} | {
            "toolCalls": "tool_calls",
            "toolFailures": "tool_failures",
            "costUSD": "cost_usd",
            "costUsd": "cost_usd",
            "durationBuckets": "duration_buckets",
        }
        values: dict[str, Any] = {}
        for key, value in data.items():
            name = known.get(key)
            if name is None:
                raise ValueError(f"{where}: unknown field {key!r}")
            if name == "duration_buckets":
                values[name] = _buckets(value, f"{where}.{key}")
            else:
                values[name] = _number(value, f"{where}.{key}")
        return cls(**values)


def _number(value: Any, where: str) -> float:
    if not is_number(value):
        raise ValueError(f"{where}: must be a finite number, got {_shown(value)}")
    if value < 0:
        raise ValueError(f"{where}: must not be negative, got {value:g}")
    return float(value)


def _shown(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _buckets(value: Any, where: str) -> dict[float, float]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: must map bucket bounds to counts")
    out: dict[float, float] = {}
    for bound, count in value.items():
        try:
            le = math.inf if str(bound) in ("+Inf", "Inf", "inf") else float(bound)
        except ValueError:
            raise ValueError(f"{where}: bucket bound {bound!r} is not a number") from None
        out[le] = _number(count, f"{where}[{bound}]")
    return out


# (numerator field, denominator field) of each rate and ratio guardrail
GUARDRAIL_FIELDS: dict[GuardrailMetric, tuple[str, str]] = {
    GuardrailMetric.TASK_SUCCESS_RATE: ("successes", "tasks"),
    GuardrailMetric.HUMAN_INTERVENTION_RATE: ("interventions", "tasks"),
    GuardrailMetric.TOOL_FAILURE_RATE: ("tool_failures", "tool_calls"),
    GuardrailMetric.COST_PER_SUCCESSFUL_TASK: ("cost_usd", "successes"),
    GuardrailMetric.POLICY_VIOLATION_RATE: ("violations", "tasks"),
}
