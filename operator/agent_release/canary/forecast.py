"""How long a healthy canary still needs: per step, per guardrail, and until 100%.

Information accrues in proportion to the traffic and to w(1−w) at canary weight w (for a
difference between two groups, n_c·n_s/(n_c + n_s)), times a per-guardrail constant k:
the information one pair of tasks brings, which is measured on the canary so far (or,
for `agent-release plan`, derived from assumed base rates). Under a healthy canary each
test's log likelihood ratio drifts towards its clearing bound by θ²/2 per unit of
information with variance θ² (`sequential`), so the information still needed is an
inverse Gaussian first-passage; the forecast takes its median, and a step lasts until
its bake is over and every guardrail met the step's requirement (the slowest guardrail's
median, then the step's bake as a floor). Steps are forecast in order, each guardrail's
log likelihood ratios carried along their expected path.

It is an approximation (medians of each guardrail rather than of the slowest, a constant
traffic): the decision-quality benchmark prints it next to the simulated median.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..api.policy import CanaryPolicy, GuardrailMetric, Requirement
from . import sequential


@dataclass(frozen=True, slots=True)
class GuardrailState:
    """One soft guardrail as the forecast sees it."""

    metric: GuardrailMetric
    theta: float  # the threshold as a harm
    information_per_pair: float  # k: information per n_c·n_s/(n_c+n_s) task
    llr: float = 0.0  # the threshold test's log LR now
    gross_llr: float = 0.0  # the gross test's log LR now
    screened: bool = False
    settled: bool = False


@dataclass(frozen=True, slots=True)
class StepPlan:
    step: int
    weight: int
    requirement: Requirement
    seconds: float  # how long the step lasts from its start (or from now, for the current one)
    bound_by: str  # "bake", or the metric that needs the longest


@dataclass(frozen=True, slots=True)
class Forecast:
    steps: tuple[StepPlan, ...]
    seconds_to_full: float  # from now to 100%
    # canary tasks each guardrail still needs to meet the current step's requirement
    tasks_needed: Mapping[str, float]


def _needed(theta: float, llr: float, beta: float) -> float:
    """Median information for a test at `llr` to reach log β under a healthy canary."""
    distance = llr - sequential.accept_bound(beta)
    return sequential.passage_quantile(distance, theta * theta / 2, theta * theta, 0.5)


def forecast(
    settings: CanaryPolicy,
    guardrails: Sequence[GuardrailState],
    *,
    step: int,
    elapsed: float,
    tasks_per_second: float,
) -> Forecast:
    """The rest of a canary at `step`, `elapsed` seconds into it, at this total traffic."""
    beta = settings.missed_regression
    gross = settings.gross_factor
    state = {g.metric: g for g in guardrails}
    plans: list[StepPlan] = []
    tasks_needed: dict[str, float] = {}
    total = 0.0
    last = len(settings.steps)
    for s in range(step, last):
        spec = settings.steps[s - 1]
        w = spec.weight / 100
        requirement = settings.requirement(s)
        pairs_per_second = tasks_per_second * w * (1 - w)
        longest, bound_by = max(0.0, spec.bake_seconds() - (elapsed if s == step else 0.0)), "bake"
        for g in state.values():
            done = g.settled if requirement is Requirement.CONFIRM else (g.screened or g.settled)
            if done:
                need = 0.0
            elif requirement is Requirement.CONFIRM:
                need = _needed(g.theta, g.llr, beta)
            else:
                need = _needed(gross * g.theta, g.gross_llr, beta)
            rate = pairs_per_second * g.information_per_pair
            seconds = need / rate if rate > 0 else (0.0 if need == 0 else math.inf)
            if s == step:
                per_canary_task = g.information_per_pair * (1 - w)
                tasks_needed[g.metric.value] = (
                    need / per_canary_task if per_canary_task > 0 else math.inf
                )
            if seconds > longest:
                longest, bound_by = seconds, g.metric.value
        plans.append(StepPlan(s, spec.weight, requirement, longest, bound_by))
        total += longest
        if math.isinf(total):
            break
        for metric, g in state.items():  # carry each test along its expected path
            information = pairs_per_second * g.information_per_pair * longest
            llr = g.llr - g.theta**2 / 2 * information
            gross_llr = g.gross_llr - (gross * g.theta) ** 2 / 2 * information
            state[metric] = GuardrailState(
                g.metric,
                g.theta,
                g.information_per_pair,
                llr,
                gross_llr,
                g.screened or gross_llr <= sequential.accept_bound(beta),
                g.settled or llr <= sequential.accept_bound(beta),
            )
    return Forecast(tuple(plans), total, tasks_needed)


# -- assumed base rates, for planning ----------------------------------------------------

DEFAULT_RATES: dict[str, float] = {
    "success": 0.80,
    "intervention": 0.03,
    "tool_failure": 0.05,
    "tool_calls": 3.0,  # tool calls per task
    "tool_correlation": 0.3,  # intra-task correlation of tool-call failures
    "latency_p50": 30.0,
    "latency_p95": 90.0,
    "cost_cv": 0.75,  # coefficient of variation of one task's cost
}
_PROBABILITIES = ("success", "intervention", "tool_failure")


def rates_problem(rates: Mapping[str, float]) -> str | None:
    """Why these base rates (over the defaults) cannot be planned with, or None.

    A rate of exactly 0 or 1 has no variance and plans a division by zero; NaN would
    plan silently with nonsense.
    """
    r = {**DEFAULT_RATES, **rates}
    for name, value in r.items():
        if not math.isfinite(value):
            return f"{name} must be a finite number, got {value}"
    for name in _PROBABILITIES:
        if not 0 < r[name] < 1:
            return f"{name} must be between 0 and 1 (exclusive), got {r[name]:g}"
    if r["tool_calls"] < 1:
        return f"tool_calls must be at least 1, got {r['tool_calls']:g}"
    if not 0 <= r["tool_correlation"] <= 1:
        return f"tool_correlation must be between 0 and 1, got {r['tool_correlation']:g}"
    if not 0 < r["latency_p50"] < r["latency_p95"]:
        return "latency_p50 must be positive and below latency_p95"
    if r["cost_cv"] < 0:
        return f"cost_cv must not be negative, got {r['cost_cv']:g}"
    return None


def assumed_information(metric: GuardrailMetric, rates: Mapping[str, float]) -> float:
    """Information per task pair of each guardrail under these base rates (1 / the
    variance one pair of tasks brings), matching what `evidence` estimates from data."""
    r = {**DEFAULT_RATES, **rates}
    if metric is GuardrailMetric.TASK_SUCCESS_RATE:
        return 1 / (r["success"] * (1 - r["success"]))
    if metric is GuardrailMetric.HUMAN_INTERVENTION_RATE:
        return 1 / (r["intervention"] * (1 - r["intervention"]))
    if metric is GuardrailMetric.TOOL_FAILURE_RATE:
        calls, p = r["tool_calls"], r["tool_failure"]
        design = 1 + (calls - 1) * r["tool_correlation"]
        return calls / (p * (1 - p) * design)
    if metric is GuardrailMetric.COST_PER_SUCCESSFUL_TASK:
        p = r["success"]
        return 1 / (r["cost_cv"] ** 2 + (1 - p) / p)
    if metric is GuardrailMetric.P95_END_TO_END_LATENCY:
        z = 1.6448536269514722
        sigma = (math.log(r["latency_p95"]) - math.log(r["latency_p50"])) / z
        density = math.exp(-z * z / 2) / math.sqrt(2 * math.pi) / sigma
        return density * density / (0.95 * 0.05)
    return 0.0


@dataclass(frozen=True, slots=True)
class GuardrailPlan:
    """Canary tasks one guardrail needs (means, pooled since the canary began)."""

    metric: GuardrailMetric
    screen: float  # healthy: to rule out gross harm, at the first step's weight
    settle: float  # healthy: to rule out a threshold-size regression, at the confirming weight
    rollback: float  # a regression exactly at the threshold: to roll it back, first weight


@dataclass(frozen=True, slots=True)
class Plan:
    forecast: Forecast
    guardrails: tuple[GuardrailPlan, ...]


def plan(settings: CanaryPolicy, tasks_per_second: float, rates: Mapping[str, float]) -> Plan:
    """A canary under `settings` at this traffic and these base rates, before it starts."""
    states = [
        GuardrailState(g.metric, g.harm, assumed_information(g.metric, rates))
        for g in settings.guardrails
        if not g.hard and g.metric is not GuardrailMetric.POLICY_VIOLATION_RATE
    ]
    expected = forecast(settings, states, step=1, elapsed=0.0, tasks_per_second=tasks_per_second)
    paused = range(1, len(settings.steps))
    first = settings.steps[0].weight / 100
    confirming = (
        next(
            (
                settings.steps[i - 1].weight
                for i in paused
                if settings.requirement(i) is Requirement.CONFIRM
            ),
            settings.steps[-1].weight,
        )
        / 100
    )
    alpha, beta, gross = settings.false_rollback, settings.missed_regression, settings.gross_factor

    def tasks(information: float, weight: float, k: float) -> float:
        return information / (k * (1 - weight)) if k > 0 and weight < 1 else math.inf

    guardrails = tuple(
        GuardrailPlan(
            s.metric,
            tasks(
                sequential.information_to_settle(gross * s.theta, beta),
                first,
                s.information_per_pair,
            ),
            tasks(
                sequential.information_to_settle(s.theta, beta), confirming, s.information_per_pair
            ),
            tasks(
                sequential.information_to_reject(s.theta, s.theta, alpha / 2),
                first,
                s.information_per_pair,
            ),
        )
        for s in states
    )
    return Plan(expected, guardrails)
