"""Canary analysis without a cluster: queries, their answers, histograms, the evidence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agent_release.api.policy import Guardrail, GuardrailMetric, default_guardrails
from agent_release.canary import Counts, histogram
from agent_release.canary.evidence import CostEvidence, LatencyEvidence, RateEvidence
from agent_release.canary.queries import (
    TRAFFIC_KEY,
    QueryResultError,
    by_time,
    guardrail_query,
    interval_counts,
    parse_matrix,
    selector,
    traffic_query,
)
from builders.wire import matrix

GUARDRAILS = {g.metric: g for g in default_guardrails()}


# -- queries -----------------------------------------------------------------------------


def test_one_query_per_guardrail_covers_every_release() -> None:
    matchers = selector([("support-agent", "7c9f8d"), ("billing-agent", "a1b2c3")])
    assert matchers == 'agent=~"billing-agent|support-agent",revision=~"7c9f8d|a1b2c3"'
    query = guardrail_query(GUARDRAILS[GuardrailMetric.HUMAN_INTERVENTION_RATE], matchers, 60)
    series = "agent_human_interventions_total{" + matchers + "}"
    # what the counters grew by: raw values less their values one interval earlier
    assert f"clamp_min({series} - {series} offset 60s, 0)" in query
    assert '"part", "numerator"' in query
    assert '"part", "denominator"' in query
    latency = guardrail_query(GUARDRAILS[GuardrailMetric.P95_END_TO_END_LATENCY], matchers, 30)
    assert latency.startswith("sum by (agent, revision, le) (clamp_min(")
    assert traffic_query(matchers, 60).endswith(" offset 60s, 0))")


@pytest.mark.parametrize(
    "pair", [("Support", "abc"), ("a", 'x"} or vector(1) or {"'), ("a", ""), ("a b", "x")]
)
def test_selector_refuses_anything_unsafe(pair: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="refusing"):
        selector([pair])


def test_custom_templates_are_rendered_with_validated_values_only() -> None:
    guardrail = Guardrail.model_validate(
        {
            "metric": "task_success_rate",
            "minDelta": -0.02,
            "query": {"numerator": "sum by (agent, revision) (increase(ok{$selector}[$interval]))"},
        }
    )
    query = guardrail_query(guardrail, selector([("a", "b")]), 45)
    assert 'increase(ok{agent=~"a",revision=~"b"}[45s])' in query
    assert "agent_tasks_total" in query  # the default denominator is kept
    with pytest.raises(ValueError, match="unknown placeholder"):
        Guardrail.model_validate(
            {"metric": "task_success_rate", "minDelta": -0.01, "query": {"numerator": "x{$agent}"}}
        )
    with pytest.raises(ValueError, match="must use \\$selector"):
        Guardrail.model_validate(
            {"metric": "task_success_rate", "minDelta": -0.01, "query": {"numerator": "sum(x)"}}
        )


def test_failed_queries_are_errors_not_zeros() -> None:
    with pytest.raises(QueryResultError, match="bad_data"):
        parse_matrix({"status": "error", "error": "bad_data"})
    with pytest.raises(QueryResultError, match="matrix"):
        parse_matrix({"status": "success", "data": {"resultType": "vector", "result": []}})


# -- histograms --------------------------------------------------------------------------


def test_histogram_quantile_interpolates_like_promql() -> None:
    buckets = [(1.0, 50.0), (2.0, 90.0), (5.0, 100.0), (math.inf, 100.0)]
    assert histogram.quantile(buckets, 0.5) == pytest.approx(1.0)
    assert histogram.quantile(buckets, 0.95) == pytest.approx(2.0 + 3.0 * 0.5)
    assert histogram.quantile([(math.inf, 0.0)], 0.95) is None
    # between the 93rd (2 + 3·0.3) and the 97th (2 + 3·0.7) percentile: 4% of the tasks
    density = histogram.log_density(buckets, 0.95)
    assert density == pytest.approx(0.04 / (math.log(4.1) - math.log(2.9)))
    assert histogram.log_density([(math.inf, 10.0)], 0.95) is None


# -- one interval's counts from the batched answers ---------------------------------------


def test_every_field_comes_from_exactly_one_query() -> None:
    t = 1_000_060.0
    answers = {
        TRAFFIC_KEY: by_time(parse_matrix(matrix(({"agent": "a", "revision": "c"}, [(t, "100")])))),
        "task_success_rate": by_time(
            parse_matrix(
                matrix(
                    ({"agent": "a", "revision": "c", "part": "numerator"}, [(t, "80")]),
                    ({"agent": "a", "revision": "c", "part": "denominator"}, [(t, "100")]),
                )
            )
        ),
        "cost_per_successful_task": by_time(
            parse_matrix(
                matrix(
                    ({"agent": "a", "revision": "c", "part": "numerator"}, [(t, "33.5")]),
                    # the same successes, seen by another request a moment later
                    ({"agent": "a", "revision": "c", "part": "denominator"}, [(t, "81")]),
                )
            )
        ),
        "p95_end_to_end_latency": by_time(
            parse_matrix(
                matrix(
                    ({"agent": "a", "revision": "c", "le": "30"}, [(t, "60")]),
                    ({"agent": "a", "revision": "c", "le": "+Inf"}, [(t, "100")]),
                )
            )
        ),
    }
    counts = interval_counts(answers, default_guardrails(), "a", "c", t)
    assert isinstance(counts, Counts)
    assert (counts.tasks, counts.successes, counts.cost_usd) == (100, 80, 33.5)
    assert counts.duration_buckets == {30.0: 60.0, math.inf: 100.0}
    assert counts.interventions == 0  # no answer for it: nothing happened
    # with a guardrail's own query, each guardrail reads its own query's numbers
    custom = [
        *default_guardrails()[:3],
        Guardrail.model_validate(
            {
                "metric": "cost_per_successful_task",
                "maxRatio": 1.1,
                "query": {"denominator": "sum by (agent, revision) (x{$selector})"},
            }
        ),
    ]
    per = interval_counts(answers, custom, "a", "c", t)
    assert isinstance(per, dict)
    assert per[GuardrailMetric.COST_PER_SUCCESSFUL_TASK].successes == 81
    assert per[GuardrailMetric.TASK_SUCCESS_RATE].successes == 80


# -- the evidence: stratified by interval ---------------------------------------------------


def test_a_drifting_base_rate_under_changing_weights_does_not_bias_the_rate() -> None:
    """The base rate falls from 6% to 2% while the canary's weight rises from 5% to 50%:
    pooling the canary's tasks naively would compare its late (low) rate with the stable's
    average; within each interval both revisions see the same base rate."""
    rng = np.random.default_rng(7)
    evidence = RateEvidence(GuardrailMetric.HUMAN_INTERVENTION_RATE)
    naive_c, naive_s = [0.0, 0.0], [0.0, 0.0]
    for k in range(300):
        base = 0.06 - 0.04 * k / 300
        weight = 0.05 if k < 100 else (0.2 if k < 200 else 0.5)
        n_c, n_s = int(1000 * weight), int(1000 * (1 - weight))
        x_c, x_s = rng.binomial(n_c, base), rng.binomial(n_s, base)
        evidence.add(Counts(tasks=n_c, interventions=x_c), Counts(tasks=n_s, interventions=x_s))
        naive_c = [naive_c[0] + x_c, naive_c[1] + n_c]
        naive_s = [naive_s[0] + x_s, naive_s[1] + n_s]
    reading = evidence.reading()
    assert reading is not None
    naive = naive_c[0] / naive_c[1] - naive_s[0] / naive_s[1]
    assert naive < -0.005  # pooled naively, a healthy canary looks much better than it is
    assert abs(reading.harm) < 2.5 * math.sqrt(reading.variance)  # stratified: no bias
    assert abs(reading.harm) < 0.002


def test_tool_calls_failing_together_widen_the_variance() -> None:
    """Three calls a task that fail together: the interval-clustered variance sees it."""
    rng = np.random.default_rng(3)
    together, independent = (
        RateEvidence(GuardrailMetric.TOOL_FAILURE_RATE),
        RateEvidence(GuardrailMetric.TOOL_FAILURE_RATE),
    )
    for _ in range(200):
        for evidence, clustered in ((together, True), (independent, False)):
            sides = []
            for tasks in (20, 380):
                if clustered:  # a task's three calls fail as one
                    failures = 3 * rng.binomial(tasks, 0.05)
                else:
                    failures = rng.binomial(3 * tasks, 0.05)
                sides.append(Counts(tasks=tasks, tool_calls=3 * tasks, tool_failures=failures))
            evidence.add(sides[0], sides[1])
    a, b = together.reading(), independent.reading()
    assert a is not None
    assert b is not None
    assert a.variance > 2 * b.variance  # about the design effect of 3


def test_cost_compares_the_canary_with_the_stable_cost_of_the_same_intervals() -> None:
    """The stable's cost per success doubles half-way: the canary costs the same as stable
    in every interval, so the standardised ratio stays at one."""
    evidence = CostEvidence()
    for k in range(40):
        price = 0.4 if k < 20 else 0.8
        share = 0.05 if k < 20 else 0.5  # the canary grows when it gets expensive
        c_succ, s_succ = 100 * share, 100 * (1 - share)
        evidence.add(
            Counts(successes=c_succ, cost_usd=price * c_succ * (1 + 0.01 * (k % 3 - 1))),
            Counts(successes=s_succ, cost_usd=price * s_succ),
        )
    reading = evidence.reading()
    assert reading is not None
    assert reading.observed == pytest.approx(1.0, abs=0.01)
    naive = (evidence.cost_c / evidence.succ_c) / (evidence.cost_s / evidence.succ_s)
    assert naive > 1.2  # what comparing the totals would have said
    assert CostEvidence().reading() is None  # a ratio's variance needs intervals first


def test_latency_compares_with_the_stable_reweighted_to_the_canary_traffic() -> None:
    slow = {10.0: 0.0, 60.0: 50.0, 120.0: 100.0, math.inf: 100.0}
    fast = {10.0: 50.0, 60.0: 100.0, 120.0: 100.0, math.inf: 100.0}
    evidence = LatencyEvidence()
    raw = {le: [0.0, 0.0] for le in slow}
    for k in range(30):
        shape = slow if k < 15 else fast  # both revisions slow in the morning, fast later
        scale_c, scale_s = (0.5, 9.5) if k < 15 else (5.0, 5.0)  # the canary, mostly later
        evidence.add(
            Counts(duration_buckets={le: n * scale_c for le, n in shape.items()}),
            Counts(duration_buckets={le: n * scale_s for le, n in shape.items()}),
        )
        for le, n in shape.items():
            raw[le][0] += n * scale_c
            raw[le][1] += n * scale_s
    reading = evidence.reading()
    assert reading is not None
    assert reading.observed == pytest.approx(1.0)
    assert reading.variance > 0
    canary = histogram.quantile(sorted((le, c) for le, (c, _) in raw.items()), 0.95)
    stable = histogram.quantile(sorted((le, s) for le, (_, s) in raw.items()), 0.95)
    assert canary is not None
    assert stable is not None
    assert canary / stable < 0.7  # unweighted, the canary would look much faster
