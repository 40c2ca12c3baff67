"""The peer benchmark's pure parts: Argo's analysis derived from a policy, the query log's
attribution, and the table of ratios (no cluster; the benchmark runs them on the stack)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent_release.api.policy import CanaryPolicy, Guardrail, GuardrailMetric, ReleasePolicy
from agent_release.canary.queries import guardrail_query, selector
from benchmarks.peer_bench import (
    ARGO,
    FAILURE_LIMIT,
    OPERATOR,
    SideResult,
    analysis_template,
    argo_query,
    argo_rollout,
    failed_measurements,
    parse_query_log,
    per_interval,
    side_of,
    success_condition,
    table,
)
from builders.stack import HEALTHY, policy

ADDRESS = "https://127.0.0.1:9090"


def canary_policy() -> CanaryPolicy:
    return ReleasePolicy.model_validate(policy("p", weights=(50,))).spec.canary


def test_one_metric_per_guardrail_at_the_policys_interval() -> None:
    canary = canary_policy()
    template = analysis_template("p", canary, ADDRESS)
    metrics = template["spec"]["metrics"]
    assert [m["name"] for m in metrics] == [
        g.metric.value.replace("_", "-") for g in canary.guardrails
    ]
    assert {m["interval"] for m in metrics} == {"10s"}
    assert {m["provider"]["prometheus"]["address"] for m in metrics} == {ADDRESS}
    limits = {m["name"]: m["failureLimit"] for m in metrics}
    assert limits.pop("policy-violation-rate") == 0  # the hard guardrail fails at once
    assert set(limits.values()) == {FAILURE_LIMIT}


def test_conditions_are_the_policys_thresholds() -> None:
    conditions = {
        m["name"]: m["successCondition"]
        for m in analysis_template("p", canary_policy(), ADDRESS)["spec"]["metrics"]
    }
    assert conditions == {
        "task-success-rate": "result[0] >= -0.05",
        "human-intervention-rate": "result[0] <= 0.02",
        "p95-end-to-end-latency": "result[0] <= 1.25",
        "cost-per-successful-task": "result[0] <= 1.25",
        "policy-violation-rate": "result[0] <= 0",
        "tool-failure-rate": "result[0] <= 0.05",
    }


def test_queries_are_the_policys_templates_for_canary_and_for_stable() -> None:
    guardrail = Guardrail(metric=GuardrailMetric.HUMAN_INTERVENTION_RATE, max_delta=0.02)
    query = argo_query(guardrail, 10)
    # the operator's own numerator and denominator, with one revision's exact labels
    batched = guardrail_query(guardrail, selector([("x", "r")]), 10)
    numerator = batched.split("label_replace(")[1].rsplit(', "part"', 1)[0]
    canary = numerator.replace(
        'agent=~"x",revision=~"r"', 'agent="{{args.agent}}",revision="{{args.canary-hash}}"'
    )
    assert f"(sum({canary}) / sum(" in query
    assert query.count("{{args.stable-hash}}") == 4  # two series in each of two parts
    assert ", 0)))) - (sum(" in query  # canary rate minus stable rate
    assert "offset 10s" in query


def test_a_ratio_guardrail_divides_and_latency_compares_p95s() -> None:
    cost = argo_query(Guardrail(metric=GuardrailMetric.COST_PER_SUCCESSFUL_TASK, max_ratio=1.1), 60)
    assert "agent_task_cost_usd_total" in cost
    assert "offset 60s" in cost
    assert ", 0)))) / (sum(" in cost  # canary / stable
    assert ", 0)))) - (sum(" not in cost
    latency = argo_query(
        Guardrail(metric=GuardrailMetric.P95_END_TO_END_LATENCY, max_ratio=1.1), 60
    )
    assert latency.startswith("histogram_quantile(0.95, sum by (le) (")
    assert latency.count("histogram_quantile") == 2
    hard = argo_query(
        Guardrail(metric=GuardrailMetric.POLICY_VIOLATION_RATE, max_count=0, hard=True), 60
    )
    assert hard.startswith("sum(")
    assert "canary-hash" in hard
    assert "stable-hash" not in hard


def test_a_guardrails_own_template_is_used() -> None:
    own = {
        "numerator": "sum by (agent, revision) (my_interventions{$selector})",
        "denominator": "sum by (agent, revision) (my_tasks{$selector})",
    }
    guardrail = Guardrail.model_validate(
        {"metric": "human_intervention_rate", "maxDelta": 0.01, "query": own}
    )
    query = argo_query(guardrail, 30)
    assert 'my_interventions{agent="{{args.agent}}",revision="{{args.canary-hash}}"}' in query
    assert "agent_human_interventions_total" not in query
    assert success_condition(guardrail) == "result[0] <= 0.01"


def test_the_rollout_has_the_operators_steps_and_background_analysis() -> None:
    rollout = argo_rollout("ar000-x", "v2", canary_policy(), "p", HEALTHY)
    canary = rollout["spec"]["strategy"]["canary"]
    assert canary["steps"] == [{"setWeight": 50}, {"pause": {}}]
    assert canary["analysis"]["templates"] == [{"templateName": "p"}]
    assert canary["analysis"]["startingStep"] == 1  # once the first weight is reached
    args = {a["name"]: a.get("value") or a["valueFrom"] for a in canary["analysis"]["args"]}
    assert args == {
        "agent": "ar000-x",
        "canary-hash": {"podTemplateHashValue": "Latest"},
        "stable-hash": {"podTemplateHashValue": "Stable"},
    }
    pod = rollout["spec"]["template"]["metadata"]
    assert pod["labels"] == {"agentrelease.dev/agent": "ar000-x"}
    assert json.loads(pod["annotations"]["e2e.agentrelease.dev/behaviour"]) == HEALTHY


@pytest.mark.parametrize(
    ("query", "side"),
    [
        ('sum(x{agent=~"op000-a|op001-a",revision=~"r|s"})', OPERATOR),
        ('sum(x{agent="ar003-a",revision="r"}) / sum(y{agent="ar003-a"})', ARGO),
        ('sum(x{agent=~"op000-a|ar000-a"})', None),  # both: nobody's own
        ("up", None),
    ],
)
def test_a_query_is_put_on_the_side_whose_agents_it_names(query: str, side: str | None) -> None:
    assert side_of(query) == side


def _line(ts: str, query: str, step: int = 0) -> str:
    return json.dumps({"params": {"query": query, "step": step}, "ts": ts})


def test_queries_are_counted_per_interval_inside_the_window() -> None:
    op, ar = 'x{agent=~"op000-a"}', 'x{agent="ar000-a"}'
    lines = [
        _line("2026-12-04T18:00:00.500Z", op, step=10),
        _line("2026-12-04T18:00:05Z", op),
        _line("2026-12-04T18:00:06Z", ar),
        _line("2026-12-04T18:00:07Z", ar),
        _line("2026-12-04T18:00:19.9Z", ar),
        _line("2026-12-04T18:00:20Z", ar),  # at the end: outside
        '{"params": {"query": "x{agent=~\\"op',  # cut short while being written
    ]
    start = parse_query_log([_line("2026-12-04T18:00:00Z", "up")]).__next__().at
    counted = per_interval(parse_query_log(lines), start, start + 20, 10)
    assert counted == {OPERATOR: (1.0, 0.5), ARGO: (1.5, 0.0)}


def test_the_table_gives_argos_numbers_over_the_operators() -> None:
    ours = SideResult(50, OPERATOR, 17.0, 7.0, (10.0, 12.0, 20.0), 0)
    theirs = SideResult(50, ARGO, 300.0, 0.0, (30.0, 36.0, 50.0), 1, 2.5)
    header, op, argo, ratios = table([(ours, theirs)])
    assert "queries/interval" in header
    assert op.split()[1:4] == ["50", "operator", "17.0"]
    assert op.split()[-1] == "-"  # no failed checks to count
    assert argo.split()[-2:] == ["1", "2.5"]  # aborted early, failed checks before
    assert ratios.split()[1:6] == ["50", "argo/op", "17.6×", "3.00×", "2.50×"]


def test_failed_measurements_are_summed_over_runs_and_metrics() -> None:
    runs: list[dict[str, Any]] = [
        {"status": {"metricResults": [{"name": "a", "failed": 2}, {"name": "b"}]}},
        {"status": {"metricResults": [{"name": "a", "failed": 1}]}},
        {"status": {}},
    ]
    assert failed_measurements(runs) == 3
