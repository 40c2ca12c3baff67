"""Simulated canaries with known truth, for the analyzer's tests and the decision benchmark.

Traffic is Poisson at `per_minute` tasks a minute in all, split by the canary's weight
(binomially, task by task). Each task succeeds, needs a human and commits a hard policy
violation independently; it makes `tool_calls` tool calls whose failures are correlated
inside the task (a beta-binomial with intra-task correlation `tool_correlation`: calls
of one task fail together); its duration is lognormal and its cost gamma. A regression
shifts the canary's rates or multiplies its latency and cost.

Draws are vectorised over up to `_CHUNK` intervals of a step at a time (the weight
depends on the decisions, so a step's draws end with it), so a whole canary costs a few
numpy calls per half hour and the analyzer's `look` per interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
from scipy.special import ndtr

from agent_release.canary import Analyzer, Counts, Decision, Verdict

BOUNDS = (1, 2, 5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 90, 105, 120, 150, 180, 240, 300, 600)
Z95 = 1.6448536269514722


@dataclass(frozen=True, slots=True)
class Rates:
    """One revision's behaviour, per task."""

    success: float = 0.80
    intervention: float = 0.03
    violation: float = 0.0
    tool_failure: float = 0.05
    tool_calls: int = 3
    tool_correlation: float = 0.3
    latency_p50: float = 30.0
    latency_p95: float = 90.0
    cost: float = 0.40  # USD per task, mean
    cost_cv: float = 0.75


@dataclass(frozen=True, slots=True)
class Scenario:
    per_minute: float
    stable: Rates = field(default_factory=Rates)
    canary: Rates = field(default_factory=Rates)
    interval: float = 60.0
    horizon: float = 24 * 3600.0  # seconds after which an undecided canary is left as is


def regressed(base: Rates, **changes: float) -> Rates:
    """`base` with some rates moved by these amounts (latency and cost: multiplied)."""
    moved: dict[str, float] = {}
    for name, by in changes.items():
        value = getattr(base, name)
        if name in ("latency_p50", "latency_p95", "cost"):
            moved[name] = value * by
        else:
            moved[name] = min(1.0, max(0.0, value + by))
    return replace(base, **moved)  # type: ignore[arg-type]


class Judge(Protocol):
    """The analyzer, or a peer's rule, as the simulation drives it."""

    def look(self, at: float, canary: Counts, stable: Counts) -> Decision: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict  # Promote (reached 100%), Rollback, or Continue/Hold (undecided at horizon)
    step: int  # the step it ended at
    seconds: float  # when
    canary_tasks: float  # tasks the canary served, exposure
    reason: str | None = None
    metric: str | None = None


def _draw(rng: np.random.Generator, rates: Rates, tasks: np.ndarray) -> dict[str, np.ndarray]:
    n = tasks.astype(np.int64)
    out: dict[str, np.ndarray] = {"tasks": tasks.astype(float)}
    out["successes"] = rng.binomial(n, rates.success).astype(float)
    out["interventions"] = rng.binomial(n, rates.intervention).astype(float)
    out["violations"] = (
        rng.binomial(n, rates.violation).astype(float) if rates.violation else 0 * tasks
    )
    # tool calls: each task's failure probability is Beta-distributed around the rate, so
    # its calls fail together with correlation ρ (beta-binomial with a + b = 1/ρ − 1)
    calls = n * rates.tool_calls
    out["tool_calls"] = calls.astype(float)
    if rates.tool_correlation > 0 and n.sum() > 0 and rates.tool_failure > 0:
        spread = 1 / rates.tool_correlation - 1
        a, b = rates.tool_failure * spread, (1 - rates.tool_failure) * spread
        per_task = rng.binomial(rates.tool_calls, rng.beta(a, b, int(n.sum())))
        ends = np.cumsum(n)
        sums = np.concatenate(([0], np.cumsum(per_task)))
        out["tool_failures"] = (sums[ends] - sums[ends - n]).astype(float)
    else:
        out["tool_failures"] = rng.binomial(calls, rates.tool_failure).astype(float)
    # durations: lognormal through p50 and p95, counted into cumulative buckets
    mu = math.log(rates.latency_p50)
    sigma = (math.log(rates.latency_p95) - mu) / Z95
    edges = np.array([-np.inf, *(math.log(b) for b in BOUNDS), np.inf])
    cdf = ndtr((edges - mu) / sigma)
    probs = np.diff(cdf)
    probs = probs / probs.sum()
    counts = rng.multinomial(n, probs)  # intervals × (len(BOUNDS) + 1)
    out["buckets"] = np.cumsum(counts, axis=1).astype(float)
    shape = 1 / rates.cost_cv**2
    costs = np.where(n > 0, rng.gamma(np.maximum(n, 1) * shape, rates.cost / shape), 0.0)
    out["cost_usd"] = costs
    return out


def _counts(draws: dict[str, np.ndarray], k: int) -> Counts:
    buckets = draws["buckets"][k]
    return Counts(
        tasks=float(draws["tasks"][k]),
        successes=float(draws["successes"][k]),
        interventions=float(draws["interventions"][k]),
        tool_calls=float(draws["tool_calls"][k]),
        tool_failures=float(draws["tool_failures"][k]),
        violations=float(draws["violations"][k]),
        cost_usd=float(draws["cost_usd"][k]),
        duration_buckets={
            **dict(zip(BOUNDS, buckets[:-1].tolist(), strict=True)),
            math.inf: float(buckets[-1]),
        },
    )


_CHUNK = 30  # intervals drawn at once: a step's draws stop being useful when it ends


def simulate(
    judge: Judge,
    scenario: Scenario,
    weights: list[int],
    seed: int,
    *,
    on_look: Callable[[Decision], None] | None = None,
) -> Outcome:
    """Run one canary through `judge` until it reaches 100%, rolls back, or the horizon.

    `weights` are the policy's step weights; the last is 100 (reaching it ends the run).
    """
    rng = np.random.default_rng(seed)
    intervals = int(scenario.horizon // scenario.interval)
    lam = scenario.per_minute * scenario.interval / 60
    step, k, exposure = 1, 0, 0.0
    last: Decision | None = None
    while k < intervals:
        w = weights[step - 1] / 100
        remaining = min(intervals - k, _CHUNK)
        total = rng.poisson(lam, remaining)
        canary_tasks = rng.binomial(total, w)
        canary = _draw(rng, scenario.canary, canary_tasks)
        stable = _draw(rng, scenario.stable, total - canary_tasks)
        for j in range(remaining):
            k += 1
            at = k * scenario.interval
            exposure += float(canary["tasks"][j])
            decision = judge.look(at, _counts(canary, j), _counts(stable, j))
            last = decision
            if on_look is not None:
                on_look(decision)
            if decision.verdict is Verdict.ROLLBACK:
                return Outcome(
                    Verdict.ROLLBACK, step, at, exposure, decision.reason, decision.metric
                )
            if decision.verdict is Verdict.PROMOTE:
                step += 1
                if step >= len(weights):
                    return Outcome(Verdict.PROMOTE, step, at, exposure)
                break  # the next step's draws, at its weight
    verdict = last.verdict if last is not None else Verdict.CONTINUE
    return Outcome(verdict, step, intervals * scenario.interval, exposure)


@dataclass(frozen=True, slots=True)
class Lean:
    """The analyzer without its per-guardrail records: verdicts only, for speed."""

    analyzer: Analyzer

    def look(self, at: float, canary: Counts, stable: Counts) -> Decision:
        return self.analyzer.look(at, canary, stable, explain=False)
