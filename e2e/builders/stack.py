"""Manifests of the end-to-end tests and the operator benchmark: one agent each, its policy.

The test policy bakes 40 s per step and looks every 10 s (twice the stack's scrape
interval), with the demo's thresholds; the simulated pods serve 40 tasks/s each, so a
5% step has about 1200 canary tasks to judge at the end of its bake: enough that a
healthy canary rarely ends a bake undecided. Each step's maxBake is its bake, so one that
does holds at once (and says so), which only slows a test down.
"""

from __future__ import annotations

import json
from typing import Any

from agent_sim import presets
from agent_sim.behaviour import ANNOTATION as BEHAVIOUR

from .objects import manifest, policy_manifest

HEALTHY: dict[str, Any] = {**presets.HEALTHY, "requestsPerSecond": 40}


def policy(
    name: str, bake: str = "40s", weights: tuple[int, ...] = (5, 50), **canary: Any
) -> dict[str, Any]:
    return policy_manifest(
        name,
        **{
            "environment": "e2e",
            "decision": {"mode": "interval", "confidence": 0.95},
            "offline": {
                "requiredCapabilities": ["code"],
                "minSeeds": 2,
                "floors": {"code": 0.40},
                "maxPassRateDrop": 0.05,
            },
            "prerelease": {
                "requireHoldout": True,
                "minSeeds": 2,
                "successRate": {"minDelta": 0.0},
                "interventionRate": {"maxDelta": 0.005},
                "policyViolations": {"max": 0},
            },
            "canary": {
                "steps": [
                    *({"weight": w, "bake": bake, "maxBake": bake} for w in weights),
                    {"weight": 100},
                ],
                "analysisInterval": "10s",
                "minSamples": 100,
                "guardrails": [
                    {"metric": "task_success_rate", "minDelta": -0.05},
                    {"metric": "human_intervention_rate", "maxDelta": 0.02},
                    {"metric": "p95_end_to_end_latency", "maxRatio": 1.25},
                    {"metric": "cost_per_successful_task", "maxRatio": 1.25},
                    {"metric": "policy_violation_rate", "maxCount": 0, "hard": True},
                    {"metric": "tool_failure_rate", "maxDelta": 0.05},
                ],
                "onInconclusive": "hold",
                "metricsUnavailable": {"after": 2, "action": "hold"},
                **canary,
            },
        },
    )


def _seeds(tasks: int, rates: list[float], interventions: float | None) -> list[dict[str, Any]]:
    seeds = []
    for i, rate in enumerate(rates, start=1):
        seed: dict[str, Any] = {"seed": i, "tasks": tasks, "passed": round(tasks * rate)}
        if interventions is not None:
            seed |= {"humanInterventions": round(tasks * interventions), "policyViolations": 0}
        seeds.append(seed)
    return seeds


def reports(agent: str, version: str, generation: int, **overrides: float) -> list[dict[str, Any]]:
    """An offline and a pre-release EvalReport of one candidate.

    Each generation is clearly better than the one before on every eval, so it passes
    both gates against its predecessor; `overrides` (code, success, interventions) make
    a candidate that should not.
    """
    code = overrides.get("code", 0.58 + 0.04 * generation)
    success = overrides.get("success", 0.75 + 0.05 * generation)
    interventions = overrides.get("interventions", 0.035 - 0.008 * generation)
    candidate = {"model": f"model-{version}", "runtime": version}

    def report(stage: str, suite: dict[str, Any], slices: list[dict[str, Any]]) -> dict[str, Any]:
        spec = {
            "agent": agent,
            "stage": stage,
            "runId": f"{agent}-{version}-{stage}",
            "candidate": candidate,
            "suite": suite,
            "slices": slices,
        }
        return manifest("EvalReport", f"{agent}-{version}-{stage}", spec)

    return [
        report(
            "offline",
            {"name": "portfolio", "datasetVersion": "1", "harnessVersion": "1"},
            [
                {
                    "name": "swe",
                    "capability": "code",
                    "seeds": _seeds(500, [code, code + 0.01], None),
                }
            ],
        ),
        report(
            "prerelease",
            {"name": "regression", "datasetVersion": "1", "harnessVersion": "1", "holdout": True},
            [
                {
                    "name": "workflows",
                    "capability": "business",
                    "seeds": _seeds(1000, [success, success + 0.01], interventions),
                }
            ],
        ),
    ]


def release(
    agent: str,
    version: str,
    policy_name: str,
    behaviour: dict[str, Any] | None = None,
    replicas: int = 20,
) -> dict[str, Any]:
    return manifest(
        "AgentRelease",
        f"{agent}-{version}",
        {
            "agent": agent,
            "candidate": {
                "model": f"model-{version}",
                "runtime": version,
                "image": f"registry.example/{agent}:{version}",
            },
            "policy": policy_name,
            "rollout": {
                "replicas": replicas,
                "template": {
                    "metadata": {"annotations": {BEHAVIOUR: json.dumps(behaviour or HEALTHY)}},
                    "spec": {"containers": [{"name": "agent", "image": "placeholder"}]},
                },
            },
        },
    )
