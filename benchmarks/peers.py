"""The peers' canary rules, as a user would configure them for the same guardrails.

Each is driven like the analyzer (`look(at, canary, stable)` per analysis interval) on the
same simulated traffic and steps, with the policy's thresholds; none is product code.

- Flagger: every interval, each metric is checked on that interval's data alone (Flagger
  queries `rate(...[interval])`); a check fails when the canary is beyond the threshold
  against stable. Five failed checks (Flagger's `threshold`) roll back; a step advances
  when its bake is over.
- Argo Rollouts: an AnalysisRun per step measures each metric every interval over the
  step so far (a query since the step began) and fails a measurement beyond the
  threshold; more than `failureLimit: 3` failed measurements roll back.
- Kayenta (Spinnaker's canary judge, NetflixACAJudge): at the end of each step's bake,
  each metric's per-interval values of canary and stable are compared by a Mann-Whitney
  U test at 5%; a metric fails when the canary is significantly worse, and the step
  promotes only with a score of 100 (all metrics pass), else rolls back.

Hard policy violations roll back at once under every rule (all three can express it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from scipy import stats

from agent_release.api.outcomes import ReasonCode
from agent_release.api.policy import CanaryPolicy, Guardrail, GuardrailMetric
from agent_release.api.types import parse_duration
from agent_release.canary import AnalyzerState, Counts, Decision, Verdict, histogram


def value(guardrail: Guardrail, counts: Counts) -> float | None:
    """The metric of one side over some counts: a rate, seconds, or USD per success."""
    metric = guardrail.metric
    if metric is GuardrailMetric.TASK_SUCCESS_RATE:
        return counts.successes / counts.tasks if counts.tasks else None
    if metric is GuardrailMetric.HUMAN_INTERVENTION_RATE:
        return counts.interventions / counts.tasks if counts.tasks else None
    if metric is GuardrailMetric.TOOL_FAILURE_RATE:
        return counts.tool_failures / counts.tool_calls if counts.tool_calls else None
    if metric is GuardrailMetric.COST_PER_SUCCESSFUL_TASK:
        return counts.cost_usd / counts.successes if counts.successes else None
    if metric is GuardrailMetric.P95_END_TO_END_LATENCY:
        return histogram.quantile(sorted(counts.duration_buckets.items()), 0.95)
    return None


def worse(guardrail: Guardrail, canary: float, stable: float) -> bool:
    """The canary beyond the threshold against stable, on point values."""
    if guardrail.min_delta is not None:
        return canary - stable < guardrail.min_delta
    if guardrail.max_ratio is not None:
        return stable > 0 and canary / stable > guardrail.max_ratio
    return canary - stable > guardrail.threshold


def _plus(a: Counts, b: Counts) -> Counts:
    buckets = dict(a.duration_buckets)
    for le, n in b.duration_buckets.items():
        buckets[le] = buckets.get(le, 0.0) + n
    return Counts(
        tasks=a.tasks + b.tasks,
        successes=a.successes + b.successes,
        interventions=a.interventions + b.interventions,
        tool_calls=a.tool_calls + b.tool_calls,
        tool_failures=a.tool_failures + b.tool_failures,
        violations=a.violations + b.violations,
        cost_usd=a.cost_usd + b.cost_usd,
        duration_buckets=buckets,
    )


@dataclass
class _Rule:
    settings: CanaryPolicy
    step: int = 1
    began: float = 0.0
    intervals: list[tuple[Counts, Counts]] = field(default_factory=list)  # this step's
    failures: int = 0

    @property
    def soft(self) -> list[Guardrail]:
        return [g for g in self.settings.guardrails if not g.hard]

    def _decision(self, verdict: Verdict, at: float, metric: str | None = None) -> Decision:
        weight = self.settings.steps[self.step - 1].weight
        reason = ReasonCode.GUARDRAIL_BREACHED if verdict is Verdict.ROLLBACK else None
        decision = Decision(verdict, self.step, weight, reason, metric, "", at, (), AnalyzerState())
        if verdict is Verdict.PROMOTE:
            self.step, self.began, self.intervals, self.failures = self.step + 1, at, [], 0
        return decision

    def look(self, at: float, canary: Counts, stable: Counts) -> Decision:
        if canary.violations > 0:
            return self._decision(Verdict.ROLLBACK, at, GuardrailMetric.POLICY_VIOLATION_RATE.value)
        self.intervals.append((canary, stable))
        breached = self.judge()
        if breached is not None:
            return self._decision(Verdict.ROLLBACK, at, breached)
        if at - self.began >= self.settings.steps[self.step - 1].bake_seconds():
            return self.finish(at)
        return self._decision(Verdict.CONTINUE, at)

    def judge(self) -> str | None:
        raise NotImplementedError

    def finish(self, at: float) -> Decision:
        return self._decision(Verdict.PROMOTE, at)


class Flagger(_Rule):
    THRESHOLD = 5  # failed checks before a rollback

    def judge(self) -> str | None:
        canary, stable = self.intervals[-1]
        for g in self.soft:
            c, s = value(g, canary), value(g, stable)
            if c is not None and s is not None and worse(g, c, s):
                self.failures += 1
                if self.failures >= self.THRESHOLD:
                    return g.metric.value
        return None


class Argo(_Rule):
    FAILURE_LIMIT = 3

    def judge(self) -> str | None:
        canary = stable = Counts()
        for c, s in self.intervals:
            canary, stable = _plus(canary, c), _plus(stable, s)
        for g in self.soft:
            cv, sv = value(g, canary), value(g, stable)
            if cv is not None and sv is not None and worse(g, cv, sv):
                self.failures += 1
                if self.failures > self.FAILURE_LIMIT:
                    return g.metric.value
        return None


class Kayenta(_Rule):
    ALPHA = 0.05

    def judge(self) -> str | None:
        return None  # Kayenta judges once, at the end of the bake

    def finish(self, at: float) -> Decision:
        for g in self.soft:
            pairs = [(value(g, c), value(g, s)) for c, s in self.intervals]
            canary = [c for c, _ in pairs if c is not None]
            stable = [s for _, s in pairs if s is not None]
            if len(canary) < 3 or len(stable) < 3:
                continue
            higher_is_worse = g.min_delta is None
            test = stats.mannwhitneyu(
                canary, stable, alternative="greater" if higher_is_worse else "less"
            )
            if float(test.pvalue) < self.ALPHA and not math.isnan(float(test.pvalue)):
                return self._decision(Verdict.ROLLBACK, at, g.metric.value)
        return self._decision(Verdict.PROMOTE, at)


RULES = {"flagger": Flagger, "argo": Argo, "kayenta": Kayenta}


def interval_seconds(settings: CanaryPolicy) -> float:
    return parse_duration(settings.analysis_interval)
