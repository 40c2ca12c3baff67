"""Generate the CustomResourceDefinitions from the pydantic models.

The models are the single source of truth; `make crds` writes `crds/*.yaml` and a
test fails when the files are stale. The conversion turns pydantic's JSON Schema
(2020-12) into the structural OpenAPI v3 subset Kubernetes accepts: references are
inlined, `Optional` unions collapse to their type, `exclusiveMinimum` becomes the
OpenAPI 3.0 boolean form, `dict[str, Any]` keeps unknown fields, and titles and
defaults are dropped. Defaults stay out of the CRD on purpose: the models apply
them, and a per-release canary override must be able to tell "unset" from "set".
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from .evalreport import EvalReportSpec, EvalReportStatus
from .names import AGENTRELEASES, EVALREPORTS, RELEASEPOLICIES, ConditionType, Resource
from .policy import ReleasePolicySpec, ReleasePolicyStatus
from .release import AgentReleaseSpec, AgentReleaseStatus

_DROP = {"title", "default", "$defs", "propertyNames", "examples"}


@dataclass(frozen=True)
class CustomResource:
    """What a CRD says of one of the project's resources, beyond its identity."""

    resource: Resource
    kind: str
    short_names: tuple[str, ...]
    description: str
    spec: type[BaseModel]
    status: type[BaseModel]
    columns: tuple[tuple[str, str, str], ...]  # name, type, JSONPath
    # Fields the API server can filter lists on (`--field-selector`, Kubernetes 1.32+): the
    # operator asks for one agent's objects instead of listing a namespace and filtering
    # it, so a reconcile costs the same with ten releases in the namespace or ten thousand.
    selectable: tuple[str, ...] = ()
    # Not "agentrelease": a category named like a resource's singular shadows it, and
    # `kubectl describe agentrelease NAME` would then mean all three kinds.
    category: str = "agent-release"

    @property
    def plural(self) -> str:
        return self.resource.plural

    @property
    def scope(self) -> str:
        return "Namespaced" if self.resource.namespaced else "Cluster"


RESOURCES = (
    CustomResource(
        resource=EVALREPORTS,
        kind="EvalReport",
        short_names=("er",),
        description="One evaluation run of one agent candidate: counts per slice and seed.",
        spec=EvalReportSpec,
        status=EvalReportStatus,
        columns=(
            ("Agent", "string", ".spec.agent"),
            ("Stage", "string", ".spec.stage"),
            ("Run", "string", ".spec.runId"),
            ("Model", "string", ".spec.candidate.model"),
            ("Valid", "string", f'.status.conditions[?(@.type=="{ConditionType.VALID}")].status'),
        ),
        selectable=(
            ".spec.agent",
            ".spec.stage",
            ".spec.runId",
            ".spec.candidate.model",
            ".spec.candidate.runtime",
        ),
    ),
    CustomResource(
        resource=RELEASEPOLICIES,
        kind="ReleasePolicy",
        short_names=("rpol",),
        description="Gate and canary thresholds of one environment.",
        spec=ReleasePolicySpec,
        status=ReleasePolicyStatus,
        columns=(
            ("Environment", "string", ".spec.environment"),
            ("Mode", "string", ".spec.decision.mode"),
            ("Valid", "string", f'.status.conditions[?(@.type=="{ConditionType.VALID}")].status'),
        ),
    ),
    CustomResource(
        resource=AGENTRELEASES,
        kind="AgentRelease",
        short_names=("arel",),
        description="A request to release one agent candidate through gates and a canary.",
        spec=AgentReleaseSpec,
        status=AgentReleaseStatus,
        columns=(
            ("Agent", "string", ".spec.agent"),
            ("Model", "string", ".spec.candidate.model"),
            ("Phase", "string", ".status.phase"),
            ("Step", "string", ".status.progress"),
            ("Reason", "string", ".status.reason"),
        ),
        selectable=(".spec.agent",),
    ),
)


def structural(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of a model."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    raw.pop("description", None)
    return _convert(raw, raw.get("$defs", {}))


def _convert(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        # A class docstring is written for the next engineer, not for `kubectl explain`:
        # only field descriptions reach the schema.
        target = {
            k: v for k, v in defs[node["$ref"].rsplit("/", 1)[-1]].items() if k != "description"
        }
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _convert(merged, defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot express a union of {len(options)} types in a CRD: {node}")
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        inner = _convert(options[0], defs)
        return {**inner, **_convert(rest, defs), **_merge_validations(inner, rest)}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out[key] = {name: _convert(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out[key] = _convert(value, defs)
        elif key == "additionalProperties":
            if value is False:
                continue  # closed models: the API server prunes unknown fields instead
            if value is True or value == {}:
                out["x-kubernetes-preserve-unknown-fields"] = True
            else:
                out[key] = _convert(value, defs)
        elif key == "const":
            out["enum"] = [value]
        elif key == "exclusiveMinimum":
            out["minimum"], out["exclusiveMinimum"] = value, True
        elif key == "exclusiveMaximum":
            out["maximum"], out["exclusiveMaximum"] = value, True
        else:
            out[key] = value
    if (
        out.get("type") == "object"
        and "properties" not in out
        and "additionalProperties" not in out
    ):
        out["x-kubernetes-preserve-unknown-fields"] = True
    first = [k for k in ("type", "description") if k in out]
    return {k: out[k] for k in [*first, *(k for k in out if k not in first)]}


def _merge_validations(inner: dict[str, Any], outer: dict[str, Any]) -> dict[str, Any]:
    rules = [*inner.get("x-kubernetes-validations", []), *outer.get("x-kubernetes-validations", [])]
    return {"x-kubernetes-validations": rules} if rules else {}


def definition(resource: CustomResource) -> dict[str, Any]:
    """The CustomResourceDefinition manifest of one resource."""
    singular = resource.kind.lower()
    schema = {
        "type": "object",
        "description": resource.description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": structural(resource.spec),
            "status": structural(resource.status),
        },
    }
    columns = [
        {"name": name, "type": kind, "jsonPath": path} for name, kind, path in resource.columns
    ]
    columns.append({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"})
    version: dict[str, Any] = {
        "name": resource.resource.version,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema},
        "subresources": {"status": {}},
        "additionalPrinterColumns": columns,
    }
    if resource.selectable:
        version["selectableFields"] = [{"jsonPath": path} for path in resource.selectable]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{resource.plural}.{resource.resource.group}"},
        "spec": {
            "group": resource.resource.group,
            "scope": resource.scope,
            "names": {
                "kind": resource.kind,
                "listKind": f"{resource.kind}List",
                "plural": resource.plural,
                "singular": singular,
                "shortNames": list(resource.short_names),
                "categories": [resource.category],
            },
            "versions": [version],
        },
    }


HEADER = "# Generated by `make crds` from operator/agent_release/api; do not edit.\n"


class _Dumper(yaml.SafeDumper):
    """Plain YAML: no anchors for repeated lists, unicode kept as written."""

    def ignore_aliases(self, data: Any) -> bool:  # noqa: ARG002 - PyYAML's signature
        return True


def render(resource: CustomResource) -> str:
    body = yaml.dump(
        definition(resource), Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True
    )
    return HEADER + body


def files() -> dict[str, str]:
    """File name -> content of every CRD."""
    return {f"{r.plural}.yaml": render(r) for r in RESOURCES}


def main(argv: list[str]) -> int:
    target = Path(argv[0] if argv else "crds")
    target.mkdir(parents=True, exist_ok=True)
    for name, text in files().items():
        (target / name).write_text(text, encoding="utf-8")
        print(f"wrote {target / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
