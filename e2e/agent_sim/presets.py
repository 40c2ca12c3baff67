"""Ready-made behaviours for the ``e2e.agentrelease.dev/behaviour`` annotation.

``annotation(name)`` gives the JSON text to put on a pod template. The fifth preset, "no
data", is the annotation's absence: the pod serves no simulated traffic at all.

==========================  ==========================================================
healthy                     2 tasks/s per pod, 92 % success, 3 % interventions
regressed-intervention      as healthy, but 8 % of tasks need a human (+5 points)
policy-violating            as healthy, but 1 % of tasks commit a hard policy violation
low-traffic                 as healthy, at 0.02 tasks/s per pod (a few tasks per minute)
==========================  ==========================================================
"""

from __future__ import annotations

import json
from typing import Any

HEALTHY: dict[str, Any] = {
    "requestsPerSecond": 2.0,
    "successRate": 0.92,
    "interventionRate": 0.03,
    "latencySeconds": {"p50": 40.0, "p95": 120.0},
    "costPerTaskUSD": 0.35,
    "policyViolationRate": 0.0,
    "toolFailureRate": 0.01,
    "toolCallsPerTask": 4.0,
}

PRESETS: dict[str, dict[str, Any]] = {
    "healthy": HEALTHY,
    "regressed-intervention": {**HEALTHY, "interventionRate": 0.08},
    "policy-violating": {**HEALTHY, "policyViolationRate": 0.01},
    "low-traffic": {**HEALTHY, "requestsPerSecond": 0.02},
}


def annotation(name: str, **overrides: Any) -> str:
    """The annotation value for preset ``name``, with camelCase ``overrides`` applied."""
    return json.dumps({**PRESETS[name], **overrides})
