"""Decision quality: the whole canary under the shipped prod policy, with known truth.

Simulated traffic (`builders.traffic`: Poisson tasks, success 0.80, intervention 0.03,
tool failure 0.05 with 3 calls a task failing together at intra-task correlation 0.3,
lognormal latency, gamma cost) at 10, 60, 600 and 6000 tasks a minute, a canary that is
healthy or regressed, stepped 5 → 20 → 50 → 100 by each rule: the operator's analyzer
(the same code the operator runs) and the peers' rules (`peers`). For each, over the
runs: the share rolled back, the share promoted and the median minutes to 100%, the mean
canary tasks served before a rollback (exposure), and, for regressions, that exposure
against Wald's SPRT for the same two hypotheses (no regression, and the regression that
is there) with the policy's error rates: the information limit. For healthy canaries the
forecast (`agent-release plan`) is printed next to the simulated median.

Seeds are fixed: the same code prints the same table. `--quick` runs fewer scenarios and
runs (about a minute and a half on 2 cores); the full table takes ten to twenty minutes.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from agent_release.api.policy import ReleasePolicy
from agent_release.canary import Analyzer, Verdict
from agent_release.canary.forecast import plan
from agent_release.manifests import load
from builders.traffic import Lean, Outcome, Rates, Scenario, regressed, simulate

from . import peers

REPO = Path(__file__).resolve().parent.parent
POLICY = REPO / "policies" / "prod.yaml"
BASE = Rates()  # the simulator's defaults: the rates named in the module's docstring
HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class Truth:
    name: str
    canary: Rates
    metric: str | None  # the guardrail a regression is on (None: healthy)
    p0: float = 0.0  # the rate without and with the regression, for the SPRT reference
    p1: float = 0.0
    trials: float = 1.0  # Bernoulli trials a task brings (tool calls)
    design: float = 1.0  # their design effect: calls of a task fail together


TRUTHS = {
    "healthy": Truth("healthy", BASE, None),
    "intervention +0.5 pt (threshold)": Truth(
        "intervention +0.5 pt (threshold)",
        regressed(BASE, intervention=0.005),
        "human_intervention_rate",
        0.03,
        0.035,
    ),
    "intervention +1 pt (2× threshold)": Truth(
        "intervention +1 pt (2× threshold)",
        regressed(BASE, intervention=0.01),
        "human_intervention_rate",
        0.03,
        0.04,
    ),
    "success −3 pts": Truth(
        "success −3 pts", regressed(BASE, success=-0.03), "task_success_rate", 0.80, 0.77
    ),
    "tool failure +3 pts": Truth(
        "tool failure +3 pts",
        regressed(BASE, tool_failure=0.03),
        "tool_failure_rate",
        0.05,
        0.08,
        BASE.tool_calls,
        1 + (BASE.tool_calls - 1) * BASE.tool_correlation,
    ),
    "intervention +10 pts (gross)": Truth(
        "intervention +10 pts (gross)",
        regressed(BASE, intervention=0.10),
        "human_intervention_rate",
        0.03,
        0.13,
    ),
}
RULES = ("analyzer", "flagger", "argo", "kayenta")


def _policy() -> ReleasePolicy:
    return load(POLICY, ReleasePolicy)


def _judge(rule: str, policy: ReleasePolicy) -> object:
    if rule == "analyzer":
        return Lean(Analyzer(policy))
    return peers.RULES[rule](policy.spec.canary)


def _batch(job: tuple[str, str, float, int, int]) -> list[Outcome]:
    rule, truth, per_minute, runs, seed = job
    policy = _policy()
    weights = [s.weight for s in policy.spec.canary.steps]
    scenario = Scenario(per_minute, canary=TRUTHS[truth].canary, horizon=24 * HOUR)
    return [
        simulate(_judge(rule, policy), scenario, weights, seed + i)  # type: ignore[arg-type]
        for i in range(runs)
    ]


def sprt_tasks(truth: Truth, alpha: float, beta: float) -> float:
    """Wald's expected canary tasks to reject 'no regression' when the regression is
    there, with the stable rate known exactly: the least any sequential test can need.
    Tool calls of a task that fail together carry the information of trials/design
    independent ones."""
    p0, p1 = truth.p0, truth.p1
    kl = p1 * math.log(p1 / p0) + (1 - p1) * math.log((1 - p1) / (1 - p0))
    a, b = math.log((1 - beta) / alpha), math.log(beta / (1 - alpha))
    return ((1 - beta) * a + beta * b) / (kl * truth.trials / truth.design)


@dataclass(frozen=True, slots=True)
class Row:
    rule: str
    outcomes: list[Outcome]

    def share(self, verdict: Verdict) -> float:
        return sum(o.verdict is verdict for o in self.outcomes) / len(self.outcomes)

    def promoted_within(self, hours: float) -> float:
        ok = [
            o for o in self.outcomes if o.verdict is Verdict.PROMOTE and o.seconds <= hours * HOUR
        ]
        return len(ok) / len(self.outcomes)

    def median_minutes(self) -> float:
        times = [o.seconds / 60 for o in self.outcomes if o.verdict is Verdict.PROMOTE]
        return statistics.median(times) if times else math.nan

    def exposure(self) -> float:
        served = [o.canary_tasks for o in self.outcomes if o.verdict is Verdict.ROLLBACK]
        return statistics.fmean(served) if served else math.nan

    def rollback_minutes(self) -> float:
        times = [o.seconds / 60 for o in self.outcomes if o.verdict is Verdict.ROLLBACK]
        return statistics.median(times) if times else math.nan

    def rolled_back_at_first_step(self) -> float:
        return sum(o.verdict is Verdict.ROLLBACK and o.step == 1 for o in self.outcomes) / len(
            self.outcomes
        )


def run(quick: bool = False) -> Iterator[str]:
    policy = _policy()
    settings = policy.spec.canary
    traffics = (60.0, 600.0, 6000.0) if quick else (10.0, 60.0, 600.0, 6000.0)
    truths = (
        ("healthy", "intervention +1 pt (2× threshold)", "intervention +10 pts (gross)")
        if quick
        else tuple(TRUTHS)
    )
    runs = {"analyzer": 100 if quick else 400, "peer": 40 if quick else 100}
    jobs = []
    for name in truths:
        for per_minute in traffics:
            for index, rule in enumerate(RULES):
                n = runs["analyzer" if rule == "analyzer" else "peer"]
                seed = 1_000_000 * (1 + index) + int(per_minute) * 1000
                for start in range(0, n, 20):  # chunks, so both cores share the long ones
                    jobs.append((rule, name, per_minute, min(20, n - start), seed + start))
    began = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_batch, jobs))
    outcomes: dict[tuple[str, str, float], list[Outcome]] = {}
    for (rule, name, per_minute, _, _), batch in zip(jobs, results, strict=True):
        outcomes.setdefault((rule, name, per_minute), []).extend(batch)
    alpha, beta = settings.false_rollback, settings.missed_regression
    yield (
        f"decision quality: prod policy ({' → '.join(f'{s.weight}%' for s in settings.steps)}, "
        f"per guardrail falseRollback {alpha:g}, missedRegression {beta:g}), "
        f"{runs['analyzer']} runs of the analyzer and {runs['peer']} of each peer per cell, "
        f"24 h horizon, {time.perf_counter() - began:.0f} s"
    )
    for truth_name in truths:
        truth = TRUTHS[truth_name]
        yield ""
        yield f"  {truth_name}"
        if truth.metric is None:
            yield (
                f"    {'tasks/min':>9}  {'rule':<8}  {'rolled back':>11}  {'≤2h':>5}  {'≤4h':>5}  "
                f"{'≤24h':>5}  {'median to 100%':>14}  {'forecast':>8}"
            )
        else:
            yield (
                f"    {'tasks/min':>9}  {'rule':<8}  {'rolled back':>11}  {'at 5%':>5}  "
                f"{'reached 100%':>12}  {'median to rollback':>18}  {'exposure':>8}  "
                f"{'SPRT':>6}  {'ratio':>5}"
            )
        for per_minute in traffics:
            forecast = plan(settings, per_minute / 60, {}).forecast.seconds_to_full / 60
            reference = sprt_tasks(truth, alpha, beta) if truth.metric else math.nan
            for rule in RULES:
                row = Row(rule, outcomes[(rule, truth_name, per_minute)])
                if truth.metric is None:
                    yield (
                        f"    {per_minute:>9g}  {rule:<8}  {row.share(Verdict.ROLLBACK):>10.1%}  "
                        f"{row.promoted_within(2):>5.0%}  {row.promoted_within(4):>5.0%}  "
                        f"{row.promoted_within(24):>5.0%}  {row.median_minutes():>12.0f} m  "
                        + (f"{forecast:>6.0f} m" if rule == "analyzer" else "")
                    )
                else:
                    ratio = row.exposure() / reference if rule == "analyzer" else math.nan
                    yield (
                        f"    {per_minute:>9g}  {rule:<8}  {row.share(Verdict.ROLLBACK):>10.1%}  "
                        f"{row.rolled_back_at_first_step():>5.0%}  "
                        f"{row.share(Verdict.PROMOTE):>11.1%}  {row.rollback_minutes():>16.0f} m  "
                        f"{row.exposure():>8.0f}  {reference:>6.0f}  "
                        + (f"{ratio:>5.2f}" if not math.isnan(ratio) else "")
                    )
