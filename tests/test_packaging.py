"""The packaging: Helm chart, RBAC, Argo CD health checks, Grafana dashboard, Dockerfile.

No cluster and no Helm needed. What is derived from the code is derived, not restated:
the operator's API calls (from the source), kopf's (from its handler registry), the
operator's metric names (from its `Metrics` registry) and the release phases (from the
`Phase` enum), so a change on either side that the packaging does not follow fails here.
The one test that renders the chart with a real `helm` skips when none is installed.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua51  # type: ignore[import-untyped]
from prometheus_client.metrics_core import Metric

from agent_release.api import names
from agent_release.api.meta import Condition, ConditionStatus
from agent_release.api.release import AgentReleaseStatus, Phase, RolloutStatus
from agent_release.controller.machine import progress
from agent_release.controller.observability import Metrics
from agent_release.controller.runtime import Config

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "charts" / "agent-release-operator"
PACKAGE = REPO / "operator" / "agent_release"

Grant = tuple[str, str, str]  # API group, resource (or resource/subresource), verb


def _yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def _untemplate(text: str) -> str:
    """A plain-YAML template with Go-template expressions blanked, enough to read its rules."""
    lines = [line for line in text.splitlines() if not re.fullmatch(r"\s*\{\{-?.*-?\}\}\s*", line)]
    return re.sub(r"\{\{.*?\}\}", "x", "\n".join(lines))


# -- CRDs and policies: the repository's files, not copies ---------------------------------


@pytest.mark.parametrize(
    ("in_chart", "in_repo"),
    [(CHART / "crds", REPO / "crds"), (CHART / "files" / "policies", REPO / "policies")],
    ids=["crds", "policies"],
)
def test_chart_ships_the_repository_files(in_chart: Path, in_repo: Path) -> None:
    """Same file names, same bytes. Both are symlinks into the repository, which Helm
    follows when it loads or packages a chart (and Argo CD allows: they stay in the repo)."""
    repo_files = {p.name: p.read_bytes() for p in in_repo.glob("*.yaml")}
    chart_files = {p.name: p.read_bytes() for p in in_chart.glob("*.yaml")}
    assert repo_files, f"nothing in {in_repo}"
    assert chart_files == repo_files, f"{in_chart} differs from {in_repo}"
    resolved = in_chart.resolve()
    assert resolved == in_repo.resolve()
    assert resolved.is_relative_to(REPO), "a symlink out of the repository breaks Argo CD"


def test_policies_template_renders_every_policy_file() -> None:
    template = (CHART / "templates" / "policies.yaml").read_text(encoding="utf-8")
    assert '.Files.Glob "files/policies/*.yaml"' in template
    assert "$.Files.Get $path" in template
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert values["installPolicies"] is True
    kinds = {
        d["kind"] for p in (CHART / "files" / "policies").glob("*.yaml") for d in _yaml_docs(p)
    }
    assert kinds == {"ReleasePolicy"}


# -- RBAC: exactly what the operator and kopf call ----------------------------------------

# Kube method -> RBAC verb (adapters/kube.py): both patch flavours are the `patch` verb.
METHOD_VERB = {
    "get": "get",
    "list": "list",
    "create": "create",
    "replace": "update",
    "patch": "patch",
    "json_patch": "patch",
}
# Granted by a Role in the operator's own namespace, not cluster-wide: its Lease.
OWN_NAMESPACE = {("coordination.k8s.io", "leases")}

# What kopf itself needs besides the handlers' resources (kopf/_cogs/structs/references.py):
KOPF_FRAMEWORK: dict[Grant, str] = {
    ("", "events", "create"): "kopf posts its warnings and errors as core/v1 Events",
    ("apiextensions.k8s.io", "customresourcedefinitions", "list"): "kopf's resource observer",
    ("apiextensions.k8s.io", "customresourcedefinitions", "watch"): "kopf's resource observer",
}
# Not needed in standalone, cluster-wide mode: kopfpeerings (peering is off), namespaces
# (only watched with --namespace patterns), admission webhook configurations (none).


def _operator_calls() -> set[Grant]:
    """Every `<kube>.<method>(RESOURCE, ..., status=...)` call of the operator's code.

    The CLI is left out: its cluster commands run as the person who types them.
    """
    resources = {n: v for n, v in vars(names).items() if isinstance(v, names.Resource)}
    grants: set[Grant] = set()
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "cli" or path == PACKAGE / "adapters" / "kube.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in METHOD_VERB
                and "kube" in ast.unparse(node.func.value).lower()
            ):
                continue
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            assert node.args, f"{where}: pass the Resource positionally so RBAC can be derived"
            first = node.args[0]
            assert isinstance(first, ast.Name), f"{where}: name an api/names.py Resource"
            assert first.id in resources, f"{where}: name an api/names.py Resource"
            resource = resources[first.id]
            status = any(
                k.arg == "status" and isinstance(k.value, ast.Constant) and k.value.value is True
                for k in node.keywords
            )
            plural = f"{resource.plural}/status" if status else resource.plural
            grants.add((resource.group, plural, METHOD_VERB[node.func.attr]))
    return grants


def _status_subresource(group: str, plural: str) -> bool:
    for path in (REPO / "crds").glob("*.yaml"):
        for crd in _yaml_docs(path):
            spec = crd["spec"]
            if (spec["group"], spec["names"]["plural"]) == (group, plural):
                return any("status" in (v.get("subresources") or {}) for v in spec["versions"])
    return False


def _kopf_calls() -> set[Grant]:
    """What kopf does for the registered handlers (kopf/_core/reactor/observation.py).

    Watching (on.event) and indexing (index): list + watch. Changing (on.create/update/
    resume): also patch, for its progress annotations, and the status subresource the
    handlers write to.
    """
    import kopf  # noqa: PLC0415

    from agent_release.controller import handlers  # noqa: F401, PLC0415 - registers them

    registry = kopf.get_default_registry()
    for kind in ("_spawning", "_webhooks"):
        assert not list(getattr(registry, kind).get_all_handlers()), (
            f"new kopf {kind[1:]} handlers: review the ClusterRole (daemons need finalizers)"
        )
    grants: set[Grant] = set()
    watched = [*registry._watching.get_all_handlers(), *registry._indexing.get_all_handlers()]
    for watching in watched:
        group, plural = _handled(watching.selector)
        grants |= {(group, plural, verb) for verb in ("list", "watch")}
    for changing in registry._changing.get_all_handlers():
        group, plural = _handled(changing.selector)
        assert not changing.requires_finalizer, "finalizers need patch on the main resource"
        grants |= {(group, plural, verb) for verb in ("list", "watch", "patch")}
        if _status_subresource(group, plural):
            grants.add((group, f"{plural}/status", "patch"))
    return grants


def _handled(selector: Any) -> tuple[str, str]:
    """The (group, plural) a handler names: ours always name both, explicitly."""
    assert isinstance(selector.group, str)
    assert isinstance(selector.any_name, str)
    return selector.group, selector.any_name


def _cluster_role() -> dict[str, Any]:
    return _role("clusterrole.yaml", "ClusterRole")


def _role(template: str, kind: str) -> dict[str, Any]:
    text = (CHART / "templates" / template).read_text(encoding="utf-8")
    role: dict[str, Any] = yaml.safe_load(_untemplate(text))
    assert role["kind"] == kind
    return role


def _granted(rules: list[dict[str, Any]]) -> set[Grant]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def needed_grants() -> set[Grant]:
    """Everything the operator and kopf call cluster-wide: what the ClusterRole must
    grant, exactly (its Lease is `namespace_grants`).

    The end-to-end check of the ServiceAccount on a real API server
    (tests/e2e/test_least_privilege.py) compares with this too.
    """
    calls = _operator_calls() | _kopf_calls() | set(KOPF_FRAMEWORK)
    return {c for c in calls if c[:2] not in OWN_NAMESPACE}


def namespace_grants() -> set[Grant]:
    """What the operator calls in its own namespace only: the Role's rules, exactly."""
    return {c for c in _operator_calls() if c[:2] in OWN_NAMESPACE}


def test_operator_calls_are_derived() -> None:
    """The derivation sees the calls we know of, so an empty set can not pass silently."""
    calls = _operator_calls()
    assert ("argoproj.io", "rollouts/status", "patch") in calls  # promote a step, abort
    assert ("agentrelease.dev", "agentreleases/status", "patch") in calls
    assert ("", "events", "create") in calls
    assert ("apps", "deployments", "get") not in calls  # Argo Rollouts reads workloadRef
    assert not any(r == "selfsubjectreviews" for _, r, _ in calls)  # the CLI's, not ours


def test_cluster_role_is_exactly_what_is_called() -> None:
    rules = _cluster_role()["rules"]
    for rule in rules:
        assert set(rule) == {"apiGroups", "resources", "verbs"}, "no resourceNames/URLs"
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], f"wildcard in {rule}"
    granted = _granted(rules)
    needed = needed_grants()
    assert needed - granted == set(), "the operator would be forbidden these"
    assert granted - needed == set(), "granted but never called: remove, or justify in the test"


def test_the_role_in_the_operators_namespace_is_its_lease_and_nothing_else() -> None:
    role = _role("role.yaml", "Role")
    assert role["metadata"]["namespace"] == "x"  # the release's namespace
    granted = _granted(role["rules"])
    needed = namespace_grants()
    assert needed == {
        ("coordination.k8s.io", "leases", "get"),
        ("coordination.k8s.io", "leases", "create"),
        ("coordination.k8s.io", "leases", "update"),
    }
    assert granted == needed
    binding = yaml.safe_load(
        _untemplate((CHART / "templates" / "rolebinding.yaml").read_text(encoding="utf-8"))
    )
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "x",
    }
    assert [s["kind"] for s in binding["subjects"]] == ["ServiceAccount"]


def test_cluster_role_binding_binds_the_service_account() -> None:
    text = (CHART / "templates" / "clusterrolebinding.yaml").read_text(encoding="utf-8")
    binding = yaml.safe_load(_untemplate(text))
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "x",
    }
    assert [s["kind"] for s in binding["subjects"]] == ["ServiceAccount"]


def test_aggregated_user_roles_never_touch_status_or_policies() -> None:
    text = (CHART / "templates" / "aggregate-roles.yaml").read_text(encoding="utf-8")
    roles = [d for d in yaml.safe_load_all(_untemplate(text)) if d]
    assert [r["metadata"]["name"] for r in roles] == ["x-view", "x-edit"]
    writes = _granted(roles[1]["rules"])
    assert {r for _, r, _ in writes} == {"agentreleases", "evalreports"}
    assert all("*" not in rule[f] for r in roles for rule in r["rules"] for f in rule)


# -- Argo CD health checks, run in Lua 5.1 as Argo CD runs them ---------------------------


def _health(script: str, obj: dict[str, Any]) -> dict[str, str]:
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    g = lua.globals()
    for unsafe in ("os", "io", "require", "dofile", "loadfile", "load", "loadstring"):
        g[unsafe] = None  # Argo CD offers only a restricted library; the scripts need none
    g.obj = lua.table_from(obj, recursive=True)
    result = lua.execute((CHART / "argocd" / script).read_text(encoding="utf-8"))
    return dict(result.items())


def _release(status: AgentReleaseStatus | None, generation: int = 1) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "agentrelease.dev/v1alpha1",
        "kind": "AgentRelease",
        "metadata": {
            "name": "support-agent-1-8-2",
            "namespace": "agents",
            "generation": generation,
        },
        "spec": {"agent": "support-agent"},
    }
    if status is not None:
        obj["status"] = status.wire()
    return obj


# Every phase, with a status as the operator writes it, and the health Argo CD must show.
PHASES: dict[Phase, tuple[dict[str, Any], str, str]] = {
    Phase.PENDING: ({}, "Progressing", "Pending"),
    Phase.GATING: (
        {"reason": "Gating", "message": "evaluating the offline gate"},
        "Progressing",
        "Gating: evaluating the offline gate",
    ),
    Phase.BLOCKED: (
        {"reason": "SliceBelowFloor", "message": "gui: osworld-verified 19.1% < floor 20%"},
        "Degraded",
        "Blocked: SliceBelowFloor: gui: osworld-verified 19.1% < floor 20%",
    ),
    Phase.CANARY: (
        {"reason": "Baking", "message": "all guardrails hold", "step": 2, "weight": 20},
        "Progressing",
        "Canary: Baking: all guardrails hold (step 2/4 20%)",
    ),
    Phase.PROMOTING: (
        {"reason": "Promoting", "message": "full promotion", "step": 4, "weight": 100},
        "Progressing",
        "Promoting: full promotion (step 4/4 100%)",
    ),
    Phase.PROMOTED: (
        {"reason": "Promoted", "message": "acme-llm-2026-11 serves all traffic"},
        "Healthy",
        "Promoted: acme-llm-2026-11 serves all traffic",
    ),
    Phase.ROLLED_BACK: (
        {
            "reason": "GuardrailBreached",
            "message": "p95_end_to_end_latency 41.2s > 1.10 x baseline 30.0s over 812 tasks",
            "step": 2,
            "weight": 20,
        },
        "Degraded",
        "RolledBack: GuardrailBreached: p95_end_to_end_latency 41.2s > 1.10 x baseline 30.0s "
        "over 812 tasks (step 2/4 20%)",
    ),
    Phase.FAILED: (
        {"reason": "Invalid", "message": "invalid AgentRelease: spec.rollout: field required"},
        "Degraded",
        "Failed: Invalid: invalid AgentRelease: spec.rollout: field required",
    ),
    Phase.SUPERSEDED: (
        {
            "reason": "Superseded",
            "message": "superseded by the newer release support-agent-1-8-3, which now drives "
            "the Rollout",
            "supersededBy": "support-agent-1-8-3",
        },
        "Healthy",
        "Superseded: superseded by the newer release support-agent-1-8-3, which now drives "
        "the Rollout",
    ),
}


def test_every_phase_has_a_health() -> None:
    assert set(PHASES) == set(Phase), "a new phase needs a mapping in health-agentrelease.lua"


@pytest.mark.parametrize("phase", list(PHASES), ids=str)
def test_agentrelease_health(phase: Phase) -> None:
    fields, health, message = PHASES[phase]
    step, weight = fields.get("step"), fields.get("weight")
    status = AgentReleaseStatus.model_validate(
        {
            "phase": phase,
            "observedGeneration": 1,
            "progress": progress(step, 4, weight),
            "rollout": RolloutStatus(name="support-agent", canary_revision="7d9f").wire(),
            **fields,
        }
    )
    assert _health("health-agentrelease.lua", _release(status)) == {
        "status": health,
        "message": message,
    }


def test_agentrelease_health_without_progress_uses_step_and_weight() -> None:
    status = AgentReleaseStatus(phase=Phase.CANARY, step=1, weight=5, observed_generation=1)
    assert _health("health-agentrelease.lua", _release(status))["message"] == (
        "Canary (step 1, weight 5%)"
    )


def test_agentrelease_health_names_the_superseding_release() -> None:
    status = AgentReleaseStatus(
        phase=Phase.SUPERSEDED, superseded_by="support-agent-1-8-3", observed_generation=1
    )
    assert _health("health-agentrelease.lua", _release(status)) == {
        "status": "Healthy",
        "message": "Superseded: superseded by support-agent-1-8-3",
    }


def test_agentrelease_health_waits_for_the_operator() -> None:
    assert _health("health-agentrelease.lua", _release(None)) == {
        "status": "Progressing",
        "message": "waiting for the operator",
    }
    promoted = AgentReleaseStatus(phase=Phase.PROMOTED, observed_generation=1)
    assert _health("health-agentrelease.lua", _release(promoted, generation=2)) == {
        "status": "Progressing",
        "message": "waiting for the operator to observe generation 2",
    }


def test_agentrelease_health_of_an_unknown_phase() -> None:
    obj = _release(AgentReleaseStatus(phase=Phase.PENDING, observed_generation=1))
    obj["status"]["phase"] = "Paused"  # from a newer operator than the health check
    assert _health("health-agentrelease.lua", obj)["status"] == "Unknown"


def _validated(kind: str, valid: ConditionStatus | None, generation: int = 3) -> dict[str, Any]:
    obj: dict[str, Any] = {"kind": kind, "metadata": {"name": "x", "generation": generation}}
    if valid is not None:
        condition = Condition(
            type="Valid",
            status=valid,
            reason="Valid" if valid is ConditionStatus.TRUE else "ReportInvalid",
            message="swe-bench-verified: 66.3% [64.2, 68.3] over 3 seed(s)",
            observed_generation=3,
        )
        obj["status"] = {"observedGeneration": 3, "conditions": [condition.wire()]}
    return obj


@pytest.mark.parametrize("kind", ["EvalReport", "ReleasePolicy"])
def test_valid_condition_health(kind: str) -> None:
    message = "swe-bench-verified: 66.3% [64.2, 68.3] over 3 seed(s)"
    ok = _health("health-valid.lua", _validated(kind, ConditionStatus.TRUE))
    assert ok == {"status": "Healthy", "message": f"Valid: {message}"}
    bad = _health("health-valid.lua", _validated(kind, ConditionStatus.FALSE))
    assert bad == {"status": "Degraded", "message": f"ReportInvalid: {message}"}
    for waiting in (_validated(kind, None), _validated(kind, ConditionStatus.TRUE, generation=4)):
        assert _health("health-valid.lua", waiting) == {
            "status": "Progressing",
            "message": "waiting for the operator",
        }


def test_notes_print_every_health_check() -> None:
    notes = (CHART / "templates" / "NOTES.txt").read_text(encoding="utf-8")
    scripts = {p.name for p in (CHART / "argocd").glob("*.lua")}
    assert scripts == {name for name in scripts if f'"argocd/{name}"' in notes}
    for kind in ("AgentRelease", "EvalReport", "ReleasePolicy"):
        assert f"resource.customizations.health.agentrelease.dev_{kind}: |" in notes


# -- Grafana dashboard --------------------------------------------------------------------

DASHBOARD = CHART / "dashboards" / "agent-release.json"

# SPEC §6 metric conventions for agent services (the guardrails' inputs).
AGENT_METRICS = {
    "agent_tasks_total",
    "agent_human_interventions_total",
    "agent_task_duration_seconds_bucket",
    "agent_task_cost_usd_total",
    "agent_policy_violations_total",
    "agent_tool_calls_total",
}
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
_PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool"}
_PROMQL_WORDS |= {"and", "or", "unless", "offset", "inf", "nan"}


def _operator_metrics() -> dict[str, set[str]]:
    """Family name -> the series names it exposes, from the operator's own registry."""
    families: list[Metric] = list(Metrics().registry.collect())
    return {f.name: {f.name + s for s in _SUFFIXES[f.type]} for f in families}


def _exprs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            else:
                yield from _exprs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _exprs(value)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (Grafana variables allowed)."""
    text = re.sub(r"\$\{?\w+\}?", "", expr)
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        name, call = match.groups()
        if not call and name.lower() not in _PROMQL_WORDS:
            names.add(name)
    return names


def test_metric_names_parser() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (agent, le) (rate(x_bucket{agent=~"$agent",a="b(c)"}'
        "[$__rate_interval]))) / on (agent) group_left y_total > 0 and z"
    )
    assert metric_names(expr) == {"x_bucket", "y_total", "z"}


def test_dashboard_is_a_grafana_dashboard() -> None:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert board["schemaVersion"] >= 36
    assert board["uid"]
    assert board["title"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["agent"]["type"] == "query"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in board["panels"]:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] in ("row", "text"):
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))
        assert all(t["expr"] for t in panel["targets"])
        assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])


def test_dashboard_queries_only_metrics_that_exist() -> None:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    operator = _operator_metrics()
    known = AGENT_METRICS | set().union(*operator.values())
    used = set().union(*(metric_names(e) for e in _exprs(board)))
    assert used - known == set(), "the dashboard queries metrics nobody exports"
    assert used >= AGENT_METRICS, "every SPEC §6 guardrail input has a panel"
    unused = {family for family, series in operator.items() if not series & used}
    assert unused == set(), "every operator metric is on the dashboard"
    guardrails = {"$agent", "$revision"}
    for expr in _exprs(board):
        if metric_names(expr) & AGENT_METRICS:
            assert all(v in expr for v in guardrails), f"filter by agent and revision: {expr}"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus)")
def test_dashboard_promql_parses(tmp_path: Path) -> None:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    grafana = {"$__rate_interval": "2m", "$__range": "6h", "$agent": ".*", "$revision": ".*"}
    rules = []
    for i, expr in enumerate(_exprs(board)):
        promql = expr
        for variable, value in grafana.items():
            promql = promql.replace(variable, value)
        assert "$" not in promql, f"unknown Grafana variable in {expr}"
        rules.append({"record": f"dashboard:expr{i}", "expr": promql})
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


# -- Dockerfile and the chart's ports -----------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    pairs = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def test_dockerfile_runs_the_operator_as_non_root() -> None:
    steps = _instructions()
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    final = steps[last_from:]
    users = [rest for word, rest in final if word == "USER"]
    assert users, "the runtime stage declares a USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit(), "numeric, so runAsNonRoot can check it"
    assert int(uid) != 0
    assert gid.isdigit()
    assert int(gid) != 0
    entrypoint = [json.loads(rest) for word, rest in final if word == "ENTRYPOINT"]
    assert entrypoint == [["agent-release", "operator"]]
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert 'agent-release = "agent_release.cli.main:main"' in pyproject
    env = " ".join(rest for word, rest in final if word == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    # kopf.run() names its identity with getpass.getuser(): without LOGNAME it asks passwd,
    # which has no entry for the image's (or a platform-assigned) uid, and the operator dies.
    assert re.search(r"\bLOGNAME=\S", env)
    assert any(w == "RUN" and "--frozen" in r and "--no-dev" in r for w, r in steps)
    assert all(r.startswith("${PYTHON_IMAGE}") for w, r in steps if w == "FROM")
    # The image runs the Python the tests ran on: requires-python's and the Makefile's.
    [python] = re.findall(r'^requires-python = ">=(3\.\d+)"$', pyproject, re.M)
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert f"PYTHON_VERSION := {python}\n" in makefile
    assert any(f"{w} {r}".startswith(f"ARG PYTHON_IMAGE=python:{python}-slim") for w, r in steps)
    assert f"UV_PYTHON=/usr/local/bin/python{python}" in " ".join(r for w, r in steps)


def test_ports_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """The image, the operator's defaults and the chart name the same ports."""
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    steps = _instructions()
    exposed = {int(p) for w, r in steps if w == "EXPOSE" for p in r.split()}
    monkeypatch.delenv("AGENT_RELEASE_METRICS_PORT", raising=False)
    monkeypatch.delenv("AGENT_RELEASE_HEALTH_PORT", raising=False)
    defaults = Config.from_env()  # the operator's
    assert exposed == {defaults.metrics_port, defaults.health_port}
    assert values["health"]["port"] == defaults.health_port
    metrics = defaults.metrics_port
    assert values["metrics"]["port"] == metrics
    assert f"AGENT_RELEASE_METRICS_PORT={metrics}" in " ".join(r for w, r in steps if w == "ENV")


def test_dockerignore_keeps_what_the_build_copies() -> None:
    kept = {
        line[1:].rstrip("/")
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    }
    copied = {
        src.rstrip("/")
        for word, rest in _instructions()
        if word == "COPY" and not rest.startswith("--from")
        for src in rest.split()[:-1]
    }
    assert copied <= kept


def test_deployment_is_locked_down() -> None:
    text = (CHART / "templates" / "deployment.yaml").read_text(encoding="utf-8")
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert values["replicas"] == 2  # one leads, one stands by (leader election)
    for line in (
        "replicas: {{ .Values.replicas }}",
        "type: RollingUpdate",
        "maxUnavailable: 0",
        "fieldPath: metadata.name",  # POD_NAME: the replica's name in the Lease
        "fieldPath: metadata.namespace",  # POD_NAMESPACE: where the Lease lives
        "path: /readyz",
        "runAsNonRoot: true",
        "type: RuntimeDefault",
        "allowPrivilegeEscalation: false",
        "readOnlyRootFilesystem: true",
        "drop: [ALL]",
        "mountPath: /tmp",
        "path: /healthz",
        "name: PROMETHEUS_URL",
        "name: PROMETHEUS_CA_FILE",
        "name: AGENT_RELEASE_METRICS_PORT",
    ):
        assert line in text, line


def test_the_lock_has_what_pyproject_asks_for() -> None:
    """`uv sync --frozen` (the Makefile, the image) trusts uv.lock without checking it
    against pyproject.toml: a dependency added to one and not locked would be missing
    from the image (the CLI imports zstandard for inspect logs)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    lock = tomllib.loads((REPO / "uv.lock").read_text(encoding="utf-8"))
    [root] = [p for p in lock["package"] if p["name"] == project["project"]["name"]]

    def names(requirements: list[Any]) -> set[str]:
        found = set()
        for requirement in requirements:
            if isinstance(requirement, str):
                found.add(re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower())
        return found

    locked = {d["name"] for d in root["dependencies"]}
    assert names(project["project"]["dependencies"]) <= locked
    groups = root["dev-dependencies"]
    for group, requirements in project["dependency-groups"].items():
        assert names(requirements) <= {d["name"] for d in groups[group]}, group
