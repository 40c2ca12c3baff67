"""Canary analysis without a cluster: queries, windows, guardrails, sequential looks."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import numpy as np
import pytest

from agent_release.api.outcomes import ReasonCode, Result
from agent_release.api.policy import Action, Guardrail, GuardrailMetric, default_guardrails
from agent_release.canary import histogram
from agent_release.canary.guardrails import Sides, Verdict, decide, judge
from agent_release.canary.queries import (
    QueryResultError,
    SeriesKey,
    guardrail_query,
    parse_matrix,
    selector,
    traffic_query,
)
from agent_release.canary.sequential import Look, look
from agent_release.canary.windows import SideWindow, side, traffic
from builders.wire import matrix

GUARDRAILS = {g.metric: g for g in default_guardrails()}
FINAL = Look(alpha=0.05, final=True)


def rate_sides(c: tuple[int, int], s: tuple[int, int]) -> Sides:
    return Sides(
        canary=SideWindow(numerator=(float(c[0]),), denominator=(float(c[1]),)),
        stable=SideWindow(numerator=(float(s[0]),), denominator=(float(s[1]),)),
        canary_tasks=c[1],
        stable_tasks=s[1],
    )


# -- queries -----------------------------------------------------------------------------


def test_one_query_per_guardrail_covers_every_release() -> None:
    matchers = selector([("support-agent", "7c9f8d"), ("billing-agent", "a1b2c3")])
    assert matchers == 'agent=~"billing-agent|support-agent",revision=~"7c9f8d|a1b2c3"'
    query = guardrail_query(GUARDRAILS[GuardrailMetric.HUMAN_INTERVENTION_RATE], matchers, 60)
    assert query.count("agent_human_interventions_total{" + matchers + "}[60s]") == 1
    assert '"part", "numerator"' in query
    assert '"part", "denominator"' in query
    latency = guardrail_query(GUARDRAILS[GuardrailMetric.P95_END_TO_END_LATENCY], matchers, 30)
    assert latency.startswith("sum by (agent, revision, le) (increase(")
    assert traffic_query(matchers, 60).endswith("[60s]))")


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
            {"metric": "task_success_rate", "minDelta": 0, "query": {"numerator": "x{$agent}"}}
        )
    with pytest.raises(ValueError, match="must use \\$selector"):
        Guardrail.model_validate(
            {"metric": "task_success_rate", "minDelta": 0, "query": {"numerator": "sum(x)"}}
        )


def test_windows_take_whole_intervals_inside_the_bake() -> None:
    body = matrix(
        ({"agent": "a", "revision": "c", "part": "numerator"}, [(60, "1"), (120, "2"), (180, "3")]),
        ({"agent": "a", "revision": "c", "part": "denominator"}, [(60, "10"), (180, "NaN")]),
        ({"agent": "a", "revision": "s", "le": "0.5"}, [(120, "4"), (180, "6")]),
        ({"agent": "a", "revision": "s", "le": "+Inf"}, [(120, "5"), (180, "8")]),
        ({"agent": "a", "revision": "s"}, [(120, "5"), (180, "8")]),
        ({"job": "unrelated"}, [(60, "99")]),
    )
    series = parse_matrix(body)
    assert SeriesKey("a", "c", "numerator") in series
    # a step that started at t=60 owns the intervals ending at 120 and 180
    canary = side(series, "a", "c", start=60, interval=60)
    assert canary.numerator == (2.0, 3.0)
    assert canary.denominator == (0.0, 0.0)  # missing and NaN points are no increase
    stable = side(series, "a", "s", start=60, interval=60)
    assert stable.buckets == ((0.5, 10.0), (math.inf, 13.0))
    assert traffic(series, "a", "s", start=60, interval=60) == 13.0
    assert traffic(series, "a", "s", start=100, interval=60) == 8.0


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
    low, high = histogram.quantile_interval(buckets, 0.95, 0.95) or (0, 0)
    assert low < 3.5 < high


def test_latency_ratio_catches_a_slower_canary() -> None:
    def lognormal(median: float, n: int, seed: int) -> tuple[tuple[float, float], ...]:
        rng = random.Random(seed)
        bounds = [0.5, 1, 2, 4, 8, 16, 32, 64, math.inf]
        values = [rng.lognormvariate(math.log(median), 0.6) for _ in range(n)]
        return tuple((b, float(sum(v <= b for v in values))) for b in bounds)

    slow = Sides(
        canary=SideWindow(buckets=lognormal(8, 3000, 1)),
        stable=SideWindow(buckets=lognormal(4, 30000, 2)),
        canary_tasks=3000,
        stable_tasks=30000,
    )
    result = judge(GUARDRAILS[GuardrailMetric.P95_END_TO_END_LATENCY], slow, 200, FINAL)
    assert result.result is Result.FAIL
    assert result.reason is ReasonCode.GUARDRAIL_BREACHED
    assert result.observed is not None
    assert result.observed > 1.5


# -- guardrails --------------------------------------------------------------------------


def test_below_min_samples_is_insufficient_traffic_never_pass() -> None:
    result = judge(
        GUARDRAILS[GuardrailMetric.TASK_SUCCESS_RATE],
        rate_sides((150, 150), (900, 1000)),
        200,
        FINAL,
    )
    assert (result.result, result.reason) == (Result.INCONCLUSIVE, ReasonCode.INSUFFICIENT_TRAFFIC)
    assert "150 canary tasks of the 200 needed" in result.message


def test_intervention_regression_is_a_breach_with_numbers() -> None:
    result = judge(
        GUARDRAILS[GuardrailMetric.HUMAN_INTERVENTION_RATE],
        rate_sides((60, 1000), (100, 10000)),
        200,
        FINAL,
    )
    assert result.result is Result.FAIL
    assert result.canary == pytest.approx(0.06)
    assert result.stable == pytest.approx(0.01)
    assert (result.canary_samples, result.stable_samples) == (1000, 10000)
    assert "canary 6.00% (60/1000) vs stable 1.00% (100/10000), +5.00 pts" in result.message
    assert "exceeds the maximum of +0.50 pts" in result.message


def test_one_hard_policy_violation_fails_whatever_the_samples() -> None:
    sides = rate_sides((1, 12), (0, 500))
    result = judge(GUARDRAILS[GuardrailMetric.POLICY_VIOLATION_RATE], sides, 200, Look(1e-9, False))
    assert (result.result, result.reason) == (Result.FAIL, ReasonCode.POLICY_VIOLATION)
    decision = decide([result], Look(1e-9, False), Action.HOLD)
    assert (decision.verdict, decision.reason) == (Verdict.ROLLBACK, ReasonCode.POLICY_VIOLATION)


def test_cost_ratio_uses_intervals_as_units() -> None:
    cheap = SideWindow(numerator=(10.0, 11.0, 9.0, 10.5), denominator=(100.0, 105.0, 95.0, 100.0))
    dear = SideWindow(numerator=(14.0, 15.0, 13.5, 14.5), denominator=(100.0, 104.0, 96.0, 99.0))
    sides = Sides(canary=dear, stable=cheap, canary_tasks=500, stable_tasks=500)
    result = judge(GUARDRAILS[GuardrailMetric.COST_PER_SUCCESSFUL_TASK], sides, 200, FINAL)
    assert result.result is Result.FAIL
    assert result.observed == pytest.approx((57 / 399) / (40.5 / 400))


def test_step_verdicts() -> None:
    passing = judge(
        GUARDRAILS[GuardrailMetric.TASK_SUCCESS_RATE],
        rate_sides((9000, 10000), (9000, 10000)),
        200,
        FINAL,
    )
    assert passing.result is Result.PASS
    thin = judge(
        GUARDRAILS[GuardrailMetric.TASK_SUCCESS_RATE],
        rate_sides((90, 100), (900, 1000)),
        200,
        FINAL,
    )
    assert decide([passing], FINAL, Action.HOLD).verdict is Verdict.PROMOTE
    assert decide([passing], Look(0.001, False), Action.HOLD).verdict is Verdict.CONTINUE
    held = decide([passing, thin], FINAL, Action.HOLD)
    assert (held.verdict, held.reason) == (Verdict.HOLD, ReasonCode.INSUFFICIENT_TRAFFIC)
    rolled = decide([passing, thin], FINAL, Action.ROLLBACK)
    assert rolled.verdict is Verdict.ROLLBACK


# -- sequential looks --------------------------------------------------------------------


def test_interim_looks_spend_half_the_budget() -> None:
    times = [60.0 * k for k in range(1, 30)]
    spent = sum(
        look(0.05, t, times[i - 1] if i else None, 1800, 0).alpha for i, t in enumerate(times)
    )
    assert spent < 0.025
    assert look(0.05, 60, None, 1800, 0).alpha < 1e-10  # first minute: only gross breaches
    assert look(0.05, 1800, 1740, 1800, 0) == Look(0.05, True)
    assert look(0.05, 1900, 1800, 1800, 3).alpha == pytest.approx(0.05 / 12)  # α/(j(j+1))


def _naive_look(
    alpha: float, elapsed: float, previous: float | None, bake: float, holds: int
) -> Look:
    """Every look at the nominal level: what the sequential correction exists to avoid."""
    return Look(alpha=alpha, final=elapsed >= bake)


ZERO_TOLERANCE = Guardrail(metric=GuardrailMetric.HUMAN_INTERVENTION_RATE, max_delta=0.0)


def _simulate_step(
    seed: int, canary_rate: float, guardrail: Guardrail, looker: Callable[..., Look] = look
) -> Verdict:
    """One canary step of 30 one-minute looks; 5% of 3 tasks/s go to the canary."""
    rng = np.random.default_rng(seed)
    canary_events = np.cumsum(rng.binomial(9, canary_rate, 30))
    stable_events = np.cumsum(rng.binomial(171, 0.03, 30))
    previous = None
    for k in range(1, 31):
        elapsed = 60.0 * k
        step_look = looker(0.05, elapsed, previous, 1800.0, 0)
        previous = elapsed
        counts = rate_sides(
            (int(canary_events[k - 1]), 9 * k), (int(stable_events[k - 1]), 171 * k)
        )
        decision = decide([judge(guardrail, counts, 100, step_look)], step_look, Action.HOLD)
        if decision.verdict is not Verdict.CONTINUE:
            return decision.verdict
    return Verdict.CONTINUE


def test_repeated_looks_do_not_inflate_false_rollbacks() -> None:
    """A/A canaries, zero tolerance, 30 looks. Looking naively at the nominal level
    rolls back several times more often than the α/2 = 2.5% the policy's confidence
    promises for one test; the corrected looks stay within their 3α/4 bound."""
    runs = 2000
    naive = sum(
        _simulate_step(i, 0.03, ZERO_TOLERANCE, _naive_look) is Verdict.ROLLBACK
        for i in range(runs)
    )
    corrected = sum(
        _simulate_step(i, 0.03, ZERO_TOLERANCE) is Verdict.ROLLBACK for i in range(runs)
    )
    assert naive / runs > 0.06  # about 8%: three times the promise
    # 2000 runs: the standard error of a 2.5% rate is 0.35 points.
    assert corrected / runs <= 0.0375


def test_a_real_regression_is_still_caught() -> None:
    guardrail = GUARDRAILS[GuardrailMetric.HUMAN_INTERVENTION_RATE]
    runs = 100
    caught = sum(_simulate_step(1000 + i, 0.15, guardrail) is Verdict.ROLLBACK for i in range(runs))
    assert caught / runs >= 0.95
