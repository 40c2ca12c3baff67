"""The API models: CRDs generated from them, validation rules and their messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agent_release.api import crdgen, names
from agent_release.api.evalreport import EvalReport
from agent_release.api.policy import CanaryPolicy, ReleasePolicy
from agent_release.api.release import AgentRelease
from agent_release.api.types import parse_duration
from agent_release.manifests import ManifestError, parse

REPO = Path(__file__).resolve().parent.parent


def test_crds_are_up_to_date() -> None:
    for name, text in crdgen.files().items():
        on_disk = (REPO / "crds" / name).read_text(encoding="utf-8")
        assert on_disk == text, f"crds/{name} is stale: run `make crds`"


def _walk(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(_walk(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_walk(value))
    return found


@pytest.mark.parametrize("resource", crdgen.RESOURCES, ids=lambda r: r.kind)
def test_crd_schemas_are_structural(resource: crdgen.CustomResource) -> None:
    crd = crdgen.definition(resource)
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert crd["spec"]["names"]["shortNames"]
    for node in _walk(version["schema"]["openAPIV3Schema"]):
        assert not {"$ref", "anyOf", "allOf", "oneOf", "const", "title", "default"} & set(node)
        if "properties" in node or "items" in node:
            assert "type" in node, node


def test_printer_columns_of_agentrelease() -> None:
    crd = crdgen.definition(crdgen.RESOURCES[2])
    columns = [c["name"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert columns == ["Agent", "Model", "Phase", "Step", "Reason", "Age"]


def test_shipped_policies_are_valid() -> None:
    for path in (REPO / "policies").glob("*.yaml"):
        policy = parse(yaml.safe_load(path.read_text()), ReleasePolicy, str(path))
        assert policy.spec.environment == path.stem


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("1h30m", 5400), ("90s", 90), ("1.5h", 5400), ("500ms", 0.5)],
)
def test_durations_parse_like_go(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "30", "m", "-5m", "0s", "5 m", "1d"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def _report(**seed: Any) -> dict[str, Any]:
    return {
        "apiVersion": "agentrelease.dev/v1alpha1",
        "kind": "EvalReport",
        "metadata": {"name": "r1"},
        "spec": {
            "agent": "support-agent",
            "stage": "offline",
            "runId": "run-1",
            "candidate": {"model": "m", "runtime": "1"},
            "suite": {"name": "s", "datasetVersion": "1", "harnessVersion": "1"},
            "slices": [
                {
                    "name": "swe",
                    "capability": "code",
                    "seeds": [{"seed": 1, "tasks": 10, "passed": 5, **seed}],
                }
            ],
        },
    }


@pytest.mark.parametrize(
    ("seed", "message"),
    [
        ({"passed": 11}, "spec.slices[0].seeds[0]: passed (11) must not exceed tasks (10)"),
        (
            {"passed": -1},
            "spec.slices[0].seeds[0].passed: Input should be greater than or equal to 0",
        ),
        ({"tasks": "ten"}, "spec.slices[0].seeds[0].tasks: Input should be a valid integer"),
        ({"failures": {"timeout": 4}}, "failures sum to 4, but tasks - passed is 5"),
        ({"failures": {"oops": 5}}, "spec.slices[0].seeds[0].failures.oops"),
        ({"humanInterventions": 12}, "human_interventions (12) must not exceed tasks (10)"),
        ({"costUsd": 1.0}, "seeds[0].costUsd: unknown field"),
        ({"durationSeconds": {"p50": 9, "p95": 3}}, "p50 (9.0) must not exceed p95 (3.0)"),
    ],
)
def test_report_errors_name_the_field(seed: dict[str, Any], message: str) -> None:
    with pytest.raises(ManifestError) as caught:
        parse(_report(**seed), EvalReport, "r.yaml")
    assert str(caught.value).startswith("r.yaml: field spec.")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_duplicate_seeds_and_slices_are_refused() -> None:
    data = _report()
    data["spec"]["slices"][0]["seeds"].append({"seed": 1, "tasks": 10, "passed": 5})
    with pytest.raises(ManifestError, match="seed 1 appears more than once"):
        parse(data, EvalReport, "r.yaml")
    data = _report()
    data["spec"]["slices"].append(data["spec"]["slices"][0])
    with pytest.raises(ManifestError, match="slice name 'swe' appears more than once"):
        parse(data, EvalReport, "r.yaml")


def test_wrong_kind_is_named() -> None:
    with pytest.raises(ManifestError, match="field kind: is 'EvalReport', expected ReleasePolicy"):
        parse(_report(), ReleasePolicy, "r.yaml")


@pytest.mark.parametrize(
    ("canary", "message"),
    [
        ({"steps": [{"weight": 20}, {"weight": 5}, {"weight": 100}]}, "strictly increasing"),
        ({"steps": [{"weight": 5}, {"weight": 50}]}, "last canary step must have weight 100"),
        ({"steps": [{"weight": 100, "bake": "soon"}]}, "invalid duration 'soon'"),
        ({"analysisInterval": "0s"}, "must be positive"),
        ({"guardrails": [{"metric": "task_success_rate", "maxRatio": 1.1}]}, "takes minDelta"),
        ({"guardrails": [{"metric": "p95_end_to_end_latency", "maxRatio": 1.1}] * 2}, "once"),
        ({"guardrails": [{"metric": "tokens_per_task", "maxRatio": 1.1}]}, "metric"),
    ],
)
def test_canary_rules(canary: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CanaryPolicy.model_validate(canary)


def test_canary_override_replaces_only_the_fields_it_sets() -> None:
    base = CanaryPolicy.model_validate({"minSamples": 500, "analysisInterval": "2m"})
    override = CanaryPolicy.model_validate(
        {"steps": [{"weight": 50, "bake": "1m"}, {"weight": 100}]}
    )
    merged = base.merged(override)
    assert [s.weight for s in merged.steps] == [50, 100]
    assert merged.min_samples == 500
    assert merged.analysis_interval == "2m"


def test_release_needs_exactly_one_workload_source() -> None:
    release = {
        "apiVersion": "agentrelease.dev/v1alpha1",
        "kind": "AgentRelease",
        "metadata": {"name": "rel"},
        "spec": {
            "agent": "support-agent",
            "candidate": {"model": "m", "runtime": "1"},
            "policy": "prod",
            "rollout": {"replicas": 20},
        },
    }
    with pytest.raises(ManifestError, match="set exactly one of template, workloadRef"):
        parse(release, AgentRelease, "rel.yaml")


@pytest.mark.parametrize("resource", crdgen.RESOURCES, ids=lambda r: r.kind)
def test_selectable_fields_are_required_strings(resource: crdgen.CustomResource) -> None:
    # the API server accepts only scalar fields; an absent one would select as "", so
    # every field the operator filters on must be required all the way down
    crd = crdgen.definition(resource)
    version = crd["spec"]["versions"][0]
    for selectable in version.get("selectableFields", []):
        node = version["schema"]["openAPIV3Schema"]
        for part in selectable["jsonPath"].lstrip(".").split("."):
            assert part in node.get("required", []), f"{resource.kind} {selectable}: {part}"
            node = node["properties"][part]
        assert node["type"] == "string", f"{resource.kind} {selectable}"


def test_the_api_version_is_spelled_once() -> None:
    """`API_VERSION` is a literal (for the models' Literal types): it must be GROUP/VERSION."""
    assert f"{names.GROUP}/{names.VERSION}" == names.API_VERSION
    for model in (EvalReport, ReleasePolicy, AgentRelease):
        assert model.model_fields["api_version"].default == names.API_VERSION
