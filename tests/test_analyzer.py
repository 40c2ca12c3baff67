"""The canary analyzer: its tests' mathematics, its steps, and its error rates in simulation.

Simulations use the shipped prod policy and `builders.traffic` (Poisson traffic with
known truth) with fixed seeds; each tolerance is a few standard errors of the run count
and would fail on the analysis this replaced (which promoted 0.6% of healthy canaries at
600 tasks a minute, and pooled nothing across steps).
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

from agent_release.api.outcomes import ReasonCode, Result
from agent_release.api.policy import Action, ReleasePolicy
from agent_release.canary import Analyzer, AnalyzerState, Counts, Verdict, sequential
from agent_release.manifests import load
from builders.traffic import Lean, Rates, Scenario, regressed, simulate

REPO = Path(__file__).resolve().parent.parent
PROD = load(REPO / "policies" / "prod.yaml", ReleasePolicy)
WEIGHTS = [s.weight for s in PROD.spec.canary.steps]


# -- the sequential tests ---------------------------------------------------------------


@pytest.mark.parametrize(("score", "information"), [(0.0, 100.0), (30.0, 400.0), (-5.0, 50.0)])
def test_the_mixture_is_the_integral_it_claims(score: float, information: float) -> None:
    tau = 0.1

    def weighted(delta: float) -> float:
        density = 2 * math.exp(-(delta**2) / (2 * tau**2)) / (tau * math.sqrt(2 * math.pi))
        return math.exp(delta * score - delta**2 * information / 2) * density

    value, _ = integrate.quad(weighted, 0, 2, limit=200)
    assert sequential.mixture(tau, score, information) == pytest.approx(math.log(value), abs=1e-6)


def test_the_bounds_hold_whenever_one_looks() -> None:
    """Brownian score paths looked at 400 times: Ville's bounds, whatever the schedule."""
    rng = np.random.default_rng(11)
    theta, alpha, beta, runs, looks = 0.1, 0.01, 0.05, 4000, 400
    dv = 20.0
    for delta, bound in ((0.0, alpha), (theta, beta)):
        steps = rng.normal(delta * dv, math.sqrt(dv), (runs, looks))
        score = np.cumsum(steps, axis=1)
        information = dv * np.arange(1, looks + 1)
        llr = theta * score - theta**2 * information / 2
        if delta == 0:
            rate = float(np.mean((llr >= sequential.reject_bound(alpha)).any(axis=1)))
        else:
            rate = float(np.mean((llr <= sequential.accept_bound(beta)).any(axis=1)))
        assert rate <= bound  # discrete looks make it conservative; never above


def test_the_passage_quantile_is_the_inverse_gaussian() -> None:
    distance, drift, spread = 3.0, 0.5, 2.0
    mean, shape = distance / drift, distance**2 / spread
    expected = stats.invgauss.median(mean / shape, scale=shape)
    assert sequential.passage_quantile(distance, drift, spread, 0.5) == pytest.approx(
        expected, rel=1e-6
    )


# -- steps, bakes and verdicts ------------------------------------------------------------


def healthy(tasks: float, seed: int) -> Counts:
    """A revision at the simulator's healthy rates, with a generous histogram."""
    rng = np.random.default_rng(seed)
    n = int(tasks)
    durations = np.sort(rng.lognormal(math.log(30), 0.67, n))
    bounds = [10, 20, 30, 45, 60, 90, 120, 180, 300]
    buckets = {float(b): float(np.searchsorted(durations, b, side="right")) for b in bounds}
    return Counts(
        tasks=n,
        successes=float(rng.binomial(n, 0.8)),
        interventions=float(rng.binomial(n, 0.03)),
        tool_calls=3.0 * n,
        tool_failures=float(rng.binomial(3 * n, 0.05)),
        cost_usd=0.4 * n * float(rng.normal(1, 0.02)),
        duration_buckets={**buckets, math.inf: float(n)},
    )


def test_a_hard_violation_rolls_back_at_the_first_look_whatever_the_samples() -> None:
    analyzer = Analyzer(PROD)
    bad = Counts(tasks=3, violations=1)
    decision = analyzer.look(60, bad, Counts(tasks=57))
    assert (decision.verdict, decision.reason) == (Verdict.ROLLBACK, ReasonCode.POLICY_VIOLATION)
    assert decision.metric == "policy_violation_rate"
    assert decision.trigger is not None
    assert decision.trigger.observed == 1


def test_between_looks_only_a_count_over_its_limit_decides_and_the_sums_stay() -> None:
    analyzer = Analyzer(PROD)
    analyzer.look(60, Counts(tasks=30), Counts(tasks=570))
    assert analyzer.between(75, 0) is None  # nothing new
    decision = analyzer.between(75, 1)
    assert decision is not None
    assert (decision.verdict, decision.reason) == (Verdict.ROLLBACK, ReasonCode.POLICY_VIOLATION)
    assert decision.trigger is not None
    assert decision.trigger.observed == 1
    assert "between looks" in decision.message
    assert (analyzer.violations, analyzer.state.looks) == (0, 1)  # the next look adds it
    later = analyzer.look(120, Counts(tasks=30, violations=1), Counts(tasks=570))
    assert later.verdict is Verdict.ROLLBACK


def test_below_min_samples_nothing_decides_and_past_max_bake_the_policy_acts() -> None:
    analyzer = Analyzer(PROD)
    for k in range(1, 121):  # 2 hours of one canary task a minute
        decision = analyzer.look(60.0 * k, healthy(1, k), healthy(19, 1000 + k))
        assert decision.verdict in (Verdict.CONTINUE, Verdict.HOLD)
    assert analyzer.canary_tasks < PROD.spec.canary.min_samples
    assert (decision.verdict, decision.reason) == (Verdict.HOLD, ReasonCode.INSUFFICIENT_TRAFFIC)
    assert "past maxBake" in decision.message
    strict = PROD.spec.canary.model_copy(update={"on_inconclusive": Action.ROLLBACK})
    analyzer = Analyzer(strict, state=AnalyzerState(step_began=-7200.0))
    decision = analyzer.look(60, healthy(1, 1), healthy(19, 2))
    assert (decision.verdict, decision.reason) == (
        Verdict.ROLLBACK,
        ReasonCode.INSUFFICIENT_TRAFFIC,
    )


def test_early_steps_screen_and_the_last_one_confirms() -> None:
    """600 tasks a minute: step 1 goes on at the end of its bake, once gross harm is ruled
    out; the 50% step needs every threshold settled on the pooled evidence."""
    analyzer = Analyzer(PROD)
    verdicts: list[tuple[int, int, bool]] = []
    k = 0
    while analyzer.state.step < 4 and k < 600:
        k += 1
        w = PROD.spec.canary.steps[analyzer.state.step - 1].weight / 100
        decision = analyzer.look(60.0 * k, healthy(600 * w, k), healthy(600 * (1 - w), 10**6 + k))
        if decision.verdict is Verdict.PROMOTE:
            settled = {g.metric for g in decision.guardrails if g.settled}
            verdicts.append((decision.step, k, len(settled) == 5))
        assert decision.verdict is not Verdict.ROLLBACK
    assert [s for s, _, _ in verdicts] == [1, 2, 3]
    assert [k for _, k, _ in verdicts][:2] == [30, 60]  # screens pass with their bake
    assert verdicts[-1][2]  # the confirming step promoted with every threshold settled
    assert analyzer.state.step_began == 60.0 * verdicts[-1][1]


def test_a_gross_regression_rolls_back_as_soon_as_min_samples_are_in() -> None:
    analyzer = Analyzer(PROD)
    for k in range(1, 30):
        canary = healthy(30, k)
        bad = replace(canary, interventions=round(canary.tasks * 0.13))
        decision = analyzer.look(60.0 * k, bad, healthy(570, 500 + k))
        if decision.verdict is not Verdict.CONTINUE:
            break
    assert (decision.verdict, decision.metric) == (Verdict.ROLLBACK, "human_intervention_rate")
    assert decision.step == 1
    assert analyzer.canary_tasks >= PROD.spec.canary.min_samples
    assert 60.0 * k <= 10 * 60
    trigger = decision.trigger
    assert trigger is not None
    assert trigger.result is Result.FAIL
    assert trigger.observed is not None
    assert trigger.observed > trigger.threshold


def test_a_policy_may_be_given_as_a_manifest_or_its_spec() -> None:
    spec = PROD.spec.wire()
    for given in (PROD, PROD.spec, PROD.wire(), spec, spec["canary"]):
        assert Analyzer(given).settings == PROD.spec.canary


def test_the_state_and_the_sums_rebuild_the_same_decision() -> None:
    """What a restarted operator does: status gives the state, history gives the sums."""
    first = Analyzer(PROD)
    intervals = [(healthy(30, k), healthy(570, 99 + k)) for k in range(1, 41)]
    for k, (c, s) in enumerate(intervals, start=1):
        live = first.look(60.0 * k, c, s)
    again = Analyzer(PROD, state=first.state)
    for c, s in intervals:
        again.add(c, s)
    rebuilt = again.decide(60.0 * len(intervals))
    assert first.state.step == 2  # step 1 promoted at 30 minutes, step 2 bakes
    assert (rebuilt.verdict, rebuilt.step) == (live.verdict, live.step) == (Verdict.CONTINUE, 2)
    assert [g.evidence for g in rebuilt.guardrails] == [g.evidence for g in live.guardrails]


# -- error rates in simulation --------------------------------------------------------------


def _run(scenario: Scenario, runs: int, seed: int, policy: ReleasePolicy = PROD) -> list[str]:
    weights = [s.weight for s in policy.spec.canary.steps]
    return [
        simulate(Lean(Analyzer(policy)), scenario, weights, seed + i).verdict.value
        for i in range(runs)
    ]


def test_a_healthy_canary_at_600_a_minute_promotes_within_four_hours() -> None:
    outcomes = _run(Scenario(600, horizon=4 * 3600), runs=200, seed=1)
    assert outcomes.count("Promote") / 200 >= 0.95
    assert outcomes.count("Rollback") / 200 <= 0.02


def test_a_regression_at_the_threshold_rarely_reaches_100_percent() -> None:
    """+0.5 pt human intervention, exactly prod's threshold: at most β = 5% promoted."""
    at_threshold = regressed(Rates(), intervention=0.005)
    outcomes = _run(Scenario(600, canary=at_threshold, horizon=8 * 3600), runs=200, seed=5000)
    assert outcomes.count("Promote") / 200 <= 0.08  # 5% and three standard errors of 200 runs


def test_tool_calls_failing_together_keep_both_error_rates() -> None:
    """Three calls a task with intra-task correlation 0.3: the interval-clustered variance
    keeps the healthy canary and the at-threshold regression within their error rates."""
    tool_only = PROD.model_copy(
        update={
            "spec": PROD.spec.model_copy(
                update={
                    "canary": PROD.spec.canary.model_copy(
                        update={
                            "guardrails": [
                                g
                                for g in PROD.spec.canary.guardrails
                                if g.metric.value in ("tool_failure_rate", "policy_violation_rate")
                            ]
                        }
                    )
                }
            )
        }
    )
    correlated = Rates(tool_correlation=0.3)
    worse = regressed(correlated, tool_failure=0.02)
    healthy_runs = _run(
        Scenario(600, stable=correlated, canary=correlated, horizon=4 * 3600), 200, 9000, tool_only
    )
    regressed_runs = _run(
        Scenario(600, stable=correlated, canary=worse, horizon=8 * 3600), 200, 9500, tool_only
    )
    assert healthy_runs.count("Rollback") / 200 <= 0.02
    assert regressed_runs.count("Promote") / 200 <= 0.08
