"""Small constructors for reports and policies, so tests state only what they vary."""

from __future__ import annotations

from typing import Any

from agent_release.api.evalreport import EvalReportSpec
from agent_release.api.policy import ReleasePolicySpec


def seed(n: int, tasks: int, passed: int, **extra: Any) -> dict[str, Any]:
    return {"seed": n, "tasks": tasks, "passed": passed, **extra}


def slice_(name: str, capability: str, *seeds: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "capability": capability, "seeds": list(seeds), **extra}


def report(
    *slices: dict[str, Any],
    stage: str = "offline",
    run_id: str = "run-1",
    holdout: bool = False,
    dataset: str = "2026.11",
    harness: str = "4.1.0",
    suite: str = "portfolio",
    model: str = "acme-llm-2026-11",
) -> EvalReportSpec:
    return EvalReportSpec.model_validate(
        {
            "agent": "support-agent",
            "stage": stage,
            "runId": run_id,
            "candidate": {"model": model, "runtime": "1.8.2"},
            "suite": {
                "name": suite,
                "datasetVersion": dataset,
                "harnessVersion": harness,
                "holdout": holdout,
            },
            "slices": list(slices),
        }
    )


def uniform(
    name: str, capability: str, tasks: int, passed: list[int], **per_seed: Any
) -> dict[str, Any]:
    """A slice with one seed per entry of `passed`, all with `tasks` tasks."""
    return slice_(
        name,
        capability,
        *(seed(i + 1, tasks, p, **per_seed) for i, p in enumerate(passed)),
    )


def policy(**spec: Any) -> ReleasePolicySpec:
    return ReleasePolicySpec.model_validate({"environment": "test", **spec})
