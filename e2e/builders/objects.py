"""The project's API objects, as manifests and as the models the operator reads.

Defaults describe one agent, `support-agent`, releasing `acme-llm-2026-11` on runtime
1.8.2 under the `prod` policy; a test names only what it changes.
"""

from __future__ import annotations

from typing import Any

from agent_release.api.evalreport import EvalReport, EvalReportSpec
from agent_release.api.names import API_VERSION
from agent_release.api.policy import ReleasePolicy
from agent_release.api.release import AgentRelease

AGENT = "support-agent"
CANDIDATE = {"model": "acme-llm-2026-11", "runtime": "1.8.2"}


def manifest(kind: str, name: str, spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": name, **metadata},
        "spec": spec,
    }


# -- EvalReports -------------------------------------------------------------------------


def seed(n: int, tasks: int, passed: int, **extra: Any) -> dict[str, Any]:
    return {"seed": n, "tasks": tasks, "passed": passed, **extra}


def slice_(name: str, capability: str, *seeds: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "capability": capability, "seeds": list(seeds), **extra}


def uniform(
    name: str, capability: str, tasks: int, passed: list[int], **per_seed: Any
) -> dict[str, Any]:
    """A slice with one seed per entry of `passed`, all with `tasks` tasks."""
    return slice_(
        name,
        capability,
        *(seed(i + 1, tasks, p, **per_seed) for i, p in enumerate(passed)),
    )


def report_spec(
    *slices: dict[str, Any],
    stage: str = "offline",
    run_id: str = "run-1",
    holdout: bool = False,
    dataset: str = "2026.11",
    harness: str = "4.1.0",
    suite: str = "portfolio",
    model: str = CANDIDATE["model"],
) -> dict[str, Any]:
    return {
        "agent": AGENT,
        "stage": stage,
        "runId": run_id,
        "candidate": {**CANDIDATE, "model": model},
        "suite": {
            "name": suite,
            "datasetVersion": dataset,
            "harnessVersion": harness,
            "holdout": holdout,
        },
        "slices": list(slices),
    }


def report(*slices: dict[str, Any], **spec: Any) -> EvalReportSpec:
    """The spec of an EvalReport with these slices (for the gate engine)."""
    return EvalReportSpec.model_validate(report_spec(*slices, **spec))


def stage_report(stage: str, passed: int = 300, model: str = CANDIDATE["model"]) -> EvalReport:
    """A whole EvalReport of one stage: one code slice of 500 tasks, one seed."""
    spec = report_spec(
        uniform("swe", "code", 500, [passed]),
        stage=stage,
        run_id=f"run-{stage}",
        dataset="1",
        harness="1",
        suite="s",
        model=model,
    )
    return EvalReport.model_validate(manifest("EvalReport", f"r-{stage}", spec, namespace="agents"))


# -- ReleasePolicy -----------------------------------------------------------------------


def policy_manifest(name: str = "prod", **spec: Any) -> dict[str, Any]:
    """A ReleasePolicy manifest: `environment: test` and the given spec fields."""
    return manifest("ReleasePolicy", name, {"environment": "test", **spec})


def policy(name: str = "prod", **spec: Any) -> ReleasePolicy:
    return ReleasePolicy.model_validate(policy_manifest(name, **spec))


# The policy of the state machine's tests: point decisions, one code floor, and a short
# canary (5% → 50% → 100%, two minutes a step).
MACHINE_POLICY: dict[str, Any] = {
    "decision": {"mode": "point"},
    "offline": {"requiredCapabilities": ["code"], "floors": {"code": 0.4}},
}
MACHINE_STEPS = [{"weight": 5, "bake": "2m"}, {"weight": 50, "bake": "2m"}, {"weight": 100}]


def machine_policy(**canary: Any) -> ReleasePolicy:
    return policy(**MACHINE_POLICY, canary={"steps": MACHINE_STEPS, **canary})


# -- AgentRelease ------------------------------------------------------------------------


def release_manifest(name: str = "rel-2", **status: Any) -> dict[str, Any]:
    body = manifest(
        "AgentRelease",
        name,
        {
            "agent": AGENT,
            "candidate": {**CANDIDATE, "image": "registry/agent:1.8.2"},
            "policy": "prod",
            "rollout": {"replicas": 20, "template": {"spec": {"containers": [{"name": "a"}]}}},
        },
        namespace="agents",
        uid=f"uid-{name}",
        generation=1,
        resourceVersion="1",
    )
    if status:
        body["status"] = status
    return body


def release(name: str = "rel-2", **status: Any) -> AgentRelease:
    """An AgentRelease of the default candidate, with these status fields (wire names)."""
    return AgentRelease.model_validate(release_manifest(name, **status))
