"""The canary analyzer: the only code that decides a canary, for the operator, `agent-release
replay` and the decision-quality benchmark alike.

    analyzer = Analyzer(policy)                       # a ReleasePolicy, its spec, or a mapping
    decision = analyzer.look(at, canary, stable)      # Counts of one analysis interval each
    decision.verdict                                  # Continue | Promote | Rollback | Hold

`at` is seconds since the canary began; each look brings the increases of one analysis
interval. The evidence is every interval since the canary began, across steps: steps
limit how many users see the canary, they do not throw evidence away. At each look:

1. A hard guardrail that is broken (one hard policy violation, say) rolls back at once;
   `between` looks, the operator checks hard violations at the speed of the scrape.
2. For every other guardrail, with θ its threshold as a harm (`Guardrail.harm`), α its
   false-rollback rate and β its missed-regression rate (`sequential` for the tests):
   - Wald's SPRT of a θ regression against none *settles* the guardrail when it rejects
     "θ" (error β): the canary is cleared of a regression of the threshold's size;
   - Wald's SPRT of a 1.5 θ regression against none rolls back when it rejects "none"
     (error ¾α): tuned half-way between the threshold and twice it, where regressions
     that must be caught live;
   - a one-sided normal-mixture SPRT rolls back on a regression of any size (error ¼α):
     the fast path for gross harm;
   - Wald's SPRT of a gross regression (grossFactor × θ) *screens* the guardrail when it
     rejects "gross" (error β).
   Below `minSamples` canary tasks nothing but a hard guardrail decides.
3. A step promotes once its bake is over and every guardrail met the step's requirement:
   `screen` (gross harm ruled out), or `confirm` (settled: no regression of the
   threshold's size), the default of the last step before 100%. Settled and screened are
   kept: looks are free, so evidence once conclusive stays conclusive, while a rollback
   may still come from later data.
4. Past the step's `maxBake` undecided, `onInconclusive` acts: `hold` says so and keeps
   looking (a later look may still promote or roll back; a person may approve), or
   `rollback`.

After a Promote the next look belongs to the next step. The analyzer holds running sums
(constant memory, whatever the canary's length) and an `AnalyzerState`, which the
operator keeps in the release's status: a restarted operator rebuilds the sums from
Prometheus history and goes on where it was.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from ..api.evalreport import Interval
from ..api.meta import MESSAGE_LIMIT
from ..api.outcomes import ReasonCode, Result
from ..api.policy import (
    Action,
    CanaryPolicy,
    Guardrail,
    GuardrailMetric,
    ReleasePolicy,
    ReleasePolicySpec,
    Requirement,
)
from ..api.release import GuardrailResult
from ..api.types import parse_duration
from . import sequential
from .counts import Counts
from .evidence import Evidence, Reading, evidence_for
from .forecast import Forecast, GuardrailState, assumed_information, forecast

# The rollback SPRT's alternative, in thresholds: a regression just at the threshold is
# kept from 100% by the settling test; the ones to catch fast are larger (the benchmark's
# 1.5 and 2 thresholds), and 1.5 loses under 10% on either against an SPRT tuned to it.
ROLLBACK_SIZE = 1.5
# The share of α the rollback SPRT gets; the normal mixture has the rest.
ROLLBACK_SHARE = 0.75
# The normal mixture's scale, in gross regressions: it detects fastest around a few times
# this size, and within a log factor of an SPRT tuned to any size above it.
MIXTURE_SCALE = 2.0

PolicyLike = ReleasePolicy | ReleasePolicySpec | CanaryPolicy | Mapping[str, Any]
CountsLike = Counts | Mapping[GuardrailMetric, Counts]


class Verdict(StrEnum):
    CONTINUE = "Continue"  # keep baking
    PROMOTE = "Promote"  # go to the next step
    ROLLBACK = "Rollback"
    HOLD = "Hold"  # past maxBake undecided and the policy says hold: keep looking


@dataclass(frozen=True, slots=True)
class AnalyzerState:
    """What the analyzer remembers beyond its running sums (kept in the release's status)."""

    step: int = 1
    step_began: float = 0.0  # `at` of the look that started the step
    screened: frozenset[str] = frozenset()
    settled: frozenset[str] = frozenset()
    looks: int = 0


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    step: int  # 1-based: the step this look belongs to
    weight: int
    reason: ReasonCode | None
    metric: str | None  # the guardrail behind a rollback or a hold
    message: str
    at: float
    guardrails: tuple[GuardrailResult, ...] = ()  # every guardrail, when explained
    state: AnalyzerState = field(default_factory=AnalyzerState)

    @property
    def trigger(self) -> GuardrailResult | None:
        """The guardrail behind a rollback or a hold, with its numbers."""
        return next((g for g in self.guardrails if g.metric == self.metric), None)


def canary_settings(policy: PolicyLike) -> CanaryPolicy:
    """The canary section of whatever describes a policy: an object, a spec, or a mapping
    of either (as YAML or JSON gives them)."""
    if isinstance(policy, CanaryPolicy):
        return policy
    if isinstance(policy, ReleasePolicy):
        return policy.spec.canary
    if isinstance(policy, ReleasePolicySpec):
        return policy.canary
    if "spec" in policy:
        return ReleasePolicy.model_validate(policy).spec.canary
    if "environment" in policy:
        return ReleasePolicySpec.model_validate(policy).canary
    return CanaryPolicy.model_validate(policy)


@dataclass(frozen=True, slots=True)
class _Judgement:
    """One guardrail at one look, before it is worded."""

    guardrail: Guardrail
    result: Result
    reason: ReasonCode | None
    reading: Reading | None = None
    llr: float | None = None  # the settling test's log LR (threshold against none)
    # what rolled back: the test, its log LR and the bound it crossed
    rolled_by: str | None = None
    statistic: float | None = None
    bound: float | None = None
    why: str = ""  # for Inconclusive without a reading
    screened: bool = False
    settled: bool = False


class Analyzer:
    """Decides one canary, one look at a time. See the module's documentation."""

    def __init__(self, policy: PolicyLike, state: AnalyzerState | None = None) -> None:
        self.settings = canary_settings(policy)
        self.state = state or AnalyzerState()
        s = self.settings
        self._reject = sequential.reject_bound(s.false_rollback * ROLLBACK_SHARE)
        self._reject_any = sequential.reject_bound(s.false_rollback * (1 - ROLLBACK_SHARE))
        self._accept = sequential.accept_bound(s.missed_regression)
        self._interval = parse_duration(s.analysis_interval)
        self._evidence: dict[GuardrailMetric, Evidence] = {
            g.metric: evidence_for(g.metric) for g in s.guardrails if not _counted(g)
        }
        self._tests: dict[GuardrailMetric, tuple[float, float]] = {}  # (Z, V) at the last look
        self.violations = 0.0
        self.stable_violations = 0.0
        self.canary_tasks = 0.0
        self.stable_tasks = 0.0
        self.pairs = 0.0  # Σ n_c·n_s/(n_c + n_s) of tasks: what information grows with
        self.last_total_rate = 0.0  # tasks per second, both revisions, last interval added

    # -- input ------------------------------------------------------------------------------

    def add(self, canary: CountsLike, stable: CountsLike, seconds: float | None = None) -> None:
        """Add one analysis interval. A mapping by metric gives each guardrail its own
        Counts (guardrails with queries of their own); `tasks` is read from any."""
        for metric, evidence in self._evidence.items():
            evidence.add(_of(canary, metric), _of(stable, metric))
        violations = GuardrailMetric.POLICY_VIOLATION_RATE
        self.violations += _of(canary, violations).violations
        self.stable_violations += _of(stable, violations).violations
        c, s = _any(canary).tasks, _any(stable).tasks
        self.canary_tasks += c
        self.stable_tasks += s
        if c > 0 and s > 0:
            self.pairs += c * s / (c + s)
        self.last_total_rate = (c + s) / (seconds or self._interval)

    # -- decisions --------------------------------------------------------------------------

    def look(
        self, at: float, canary: CountsLike, stable: CountsLike, *, explain: bool = True
    ) -> Decision:
        """Add one interval and decide; after a Promote the next look is the next step's.

        `explain=False` leaves out the per-guardrail records (a simulation's speed)."""
        self.add(canary, stable)
        decision = self.decide(at, explain=explain)
        if decision.verdict is Verdict.PROMOTE:
            self.promoted(at)
        return decision

    def promoted(self, at: float) -> None:
        """The canary went to the next step at `at` (on a Promote, or by a person)."""
        self.state = replace(self.state, step=self.state.step + 1, step_began=at)

    def decide(self, at: float, *, explain: bool = True) -> Decision:
        """What to do with the current step, on everything added so far."""
        settings, state = self.settings, self.state
        step = min(state.step, len(settings.steps))
        weight = settings.steps[step - 1].weight
        judged = [self._judge(g) for g in settings.guardrails]
        screened = set(state.screened) | {j.guardrail.metric.value for j in judged if j.screened}
        settled = set(state.settled) | {j.guardrail.metric.value for j in judged if j.settled}
        screened |= settled
        self.state = state = replace(
            state, screened=frozenset(screened), settled=frozenset(settled), looks=state.looks + 1
        )

        def decision(
            verdict: Verdict, reason: ReasonCode | None, cause: _Judgement | None, why: str
        ) -> Decision:
            told = tuple(self._record(j, state) for j in judged) if explain else ()
            if not explain and cause is not None:
                told = (self._record(cause, state),)
            metric = None if cause is None else cause.guardrail.metric.value
            return Decision(verdict, step, weight, reason, metric, why, at, told, state)

        failed = [j for j in judged if j.result is Result.FAIL]
        if failed:
            cause = next((j for j in failed if j.guardrail.hard), failed[0])
            record = self._record(cause, state)
            reason = cause.reason or ReasonCode.GUARDRAIL_BREACHED
            return decision(Verdict.ROLLBACK, reason, cause, record.message)
        if step >= len(settings.steps):
            return decision(Verdict.CONTINUE, None, None, "at 100%: nothing left to decide")
        spec = settings.steps[step - 1]
        requirement = settings.requirement(step)
        elapsed = at - state.step_began
        met = settled if requirement is Requirement.CONFIRM else screened
        missing = [
            j for j in judged if _tested(j.guardrail) and j.guardrail.metric.value not in met
        ]
        short = self.canary_tasks < settings.min_samples
        if elapsed >= spec.bake_seconds() and not missing and not short:
            what = "settled" if requirement is Requirement.CONFIRM else "ruled out gross harm"
            why = (
                f"step {step} ({weight}%): bake over, every guardrail {what} on "
                f"{self.canary_tasks:.0f} canary tasks"
            )
            return decision(Verdict.PROMOTE, None, None, why)
        if elapsed < spec.max_bake_seconds(requirement):
            return decision(Verdict.CONTINUE, None, None, "baking")
        reason = ReasonCode.INSUFFICIENT_TRAFFIC if short else ReasonCode.INSUFFICIENT_EVIDENCE
        undecided = missing[0] if missing else None
        why = (
            f"{self.canary_tasks:.0f} canary tasks of the {settings.min_samples} needed"
            if short or undecided is None
            else self._record(undecided, state).message
        )
        verdict = Verdict.ROLLBACK if settings.on_inconclusive is Action.ROLLBACK else Verdict.HOLD
        return decision(
            verdict, reason, undecided, f"past maxBake without {requirement.value}: {why}"
        )

    def between(self, at: float, violations: float) -> Decision | None:
        """A check between looks, of the counted guardrail alone: `violations` is what the
        canary committed since the last interval added (an instant query, at the speed of
        the scrape). A Rollback once the total is over the limit; None otherwise.

        Only a count can be judged on a partial interval: one violation is a violation
        whenever it is seen, while a rate's tests need the interval's denominators. The
        sums are left as they are: the next look adds the whole interval."""
        guardrail = next((g for g in self.settings.guardrails if _counted(g)), None)
        if guardrail is None or round(self.violations + violations) <= guardrail.threshold:
            return None
        step = min(self.state.step, len(self.settings.steps))
        counted = self.violations
        self.violations += violations
        try:
            cause = _Judgement(guardrail, Result.FAIL, ReasonCode.POLICY_VIOLATION)
            record = self._record(cause, self.state)
        finally:
            self.violations = counted
        record = record.model_copy(
            update={"message": f"{record.message} (seen between looks)"[:MESSAGE_LIMIT]}
        )
        return Decision(
            Verdict.ROLLBACK,
            step,
            self.settings.steps[step - 1].weight,
            ReasonCode.POLICY_VIOLATION,
            guardrail.metric.value,
            record.message,
            at,
            (record,),
            self.state,
        )

    def forecast(self, at: float) -> Forecast | None:
        """When this canary should be done, if it is healthy, at the traffic of the last
        interval (`canary.forecast`). A guardrail without a reading yet (below minSamples)
        counts with the information the default base rates would bring; None without
        traffic."""
        settings, state = self.settings, self.state
        if self.last_total_rate <= 0 or state.step >= len(settings.steps):
            return None
        states = []
        for guardrail in settings.guardrails:
            if not _tested(guardrail):
                continue
            theta = guardrail.harm
            score, information = self._tests.get(guardrail.metric, (0.0, 0.0))
            per_pair = (
                information / self.pairs
                if information > 0 and self.pairs > 0
                else assumed_information(guardrail.metric, {})
            )
            states.append(
                GuardrailState(
                    metric=guardrail.metric,
                    theta=theta,
                    information_per_pair=per_pair,
                    llr=sequential.wald(theta, score, information),
                    gross_llr=sequential.wald(settings.gross_factor * theta, score, information),
                    screened=guardrail.metric.value in state.screened,
                    settled=guardrail.metric.value in state.settled,
                )
            )
        return forecast(
            settings,
            states,
            step=state.step,
            elapsed=at - state.step_began,
            tasks_per_second=self.last_total_rate,
        )

    # -- one guardrail ----------------------------------------------------------------------

    def _judge(self, guardrail: Guardrail) -> _Judgement:
        if _counted(guardrail):
            ok = round(self.violations) <= guardrail.threshold
            return _Judgement(
                guardrail,
                Result.PASS if ok else Result.FAIL,
                None if ok else ReasonCode.POLICY_VIOLATION,
            )
        if not guardrail.hard and self.canary_tasks < self.settings.min_samples:
            why = f"{self.canary_tasks:.0f} canary tasks of the {self.settings.min_samples} needed"
            return _Judgement(
                guardrail, Result.INCONCLUSIVE, ReasonCode.INSUFFICIENT_TRAFFIC, why=why
            )
        evidence = self._evidence[guardrail.metric]
        reading = evidence.reading()
        if reading is None or reading.variance <= 0:
            why = evidence.why() if reading is None else "no spread in the data yet"
            return _Judgement(
                guardrail, Result.INCONCLUSIVE, ReasonCode.INSUFFICIENT_TRAFFIC, why=why
            )
        if guardrail.hard:  # decides on the estimate as it is
            bad = reading.harm > guardrail.harm
            reason = ReasonCode.GUARDRAIL_BREACHED if bad else None
            return _Judgement(guardrail, Result.FAIL if bad else Result.PASS, reason, reading)
        theta, gross = guardrail.harm, self.settings.gross_factor * guardrail.harm
        information = 1 / reading.variance
        score = reading.harm * information
        self._tests[guardrail.metric] = (score, information)
        llr = sequential.wald(theta, score, information)
        screened = sequential.wald(gross, score, information) <= self._accept
        settled = llr <= self._accept
        rollback = sequential.wald(ROLLBACK_SIZE * theta, score, information)
        if rollback >= self._reject:
            return _Judgement(
                guardrail,
                Result.FAIL,
                ReasonCode.GUARDRAIL_BREACHED,
                reading,
                llr,
                f"the SPRT of {ROLLBACK_SIZE:g}× the threshold against none",
                rollback,
                self._reject,
                screened=screened,
            )
        mix = sequential.mixture(MIXTURE_SCALE * gross, score, information)
        if mix >= self._reject_any:
            return _Judgement(
                guardrail,
                Result.FAIL,
                ReasonCode.GUARDRAIL_BREACHED,
                reading,
                llr,
                "the mixture SPRT of any regression against none",
                mix,
                self._reject_any,
                screened=screened,
            )
        if settled:
            return _Judgement(
                guardrail, Result.PASS, None, reading, llr, screened=True, settled=True
            )
        return _Judgement(
            guardrail,
            Result.INCONCLUSIVE,
            ReasonCode.INSUFFICIENT_EVIDENCE,
            reading,
            llr,
            screened=screened,
        )

    # -- wording ------------------------------------------------------------------------------

    def _record(self, j: _Judgement, state: AnalyzerState) -> GuardrailResult:
        """The status record of one judgement, with the numbers a person needs."""
        g, reading = j.guardrail, j.reading
        metric = g.metric.value
        if _counted(g):
            return GuardrailResult(
                metric=metric,
                hard=g.hard,
                result=j.result,
                reason=j.reason,
                canary=self.violations,
                stable=self.stable_violations,
                observed=self.violations,
                threshold=g.threshold,
                canary_samples=round(self.canary_tasks),
                stable_samples=round(self.stable_tasks),
                message=(
                    f"{metric}: {self.violations:.0f} hard violations in "
                    f"{self.canary_tasks:.0f} canary tasks (stable: {self.stable_violations:.0f} "
                    f"in {self.stable_tasks:.0f}); "
                    f"{'within' if j.result is Result.PASS else 'over'} the limit of "
                    f"{g.threshold:.0f}"
                ),
            )
        interval = None
        if reading is None:
            message = f"{metric}: {j.why}"
        else:
            half = 1.96 * math.sqrt(reading.variance)
            ends = sorted((_observed(g, reading.harm - half), _observed(g, reading.harm + half)))
            interval = Interval(low=ends[0], high=ends[1])
            message = f"{_numbers(g, reading)}: {self._verdict_words(j)}"
        return GuardrailResult(
            metric=metric,
            hard=g.hard,
            result=j.result,
            reason=j.reason,
            canary=None if reading is None else reading.canary,
            stable=None if reading is None else reading.stable,
            observed=None if reading is None else reading.observed,
            threshold=g.threshold,
            interval=interval,
            evidence=None if j.llr is None else round(j.llr, 3),
            screened=metric in state.screened,
            settled=metric in state.settled,
            canary_samples=round(self.canary_tasks),
            stable_samples=round(self.stable_tasks),
            message=message[:MESSAGE_LIMIT],
        )

    def _verdict_words(self, j: _Judgement) -> str:
        limit = _limit(j.guardrail)
        if j.guardrail.hard:
            return f"{'exceeds' if j.result is Result.FAIL else 'within'} {limit} (hard)"
        if j.result is Result.FAIL:
            return (
                f"a regression is established, exceeds {limit}: log LR {j.statistic:.1f} ≥ "
                f"{j.bound:.1f} in {j.rolled_by}"
            )
        if j.result is Result.PASS:
            return f"a regression of {limit} is ruled out (log LR {j.llr:.1f} ≤ {self._accept:.1f})"
        gross = "gross harm ruled out, " if j.screened else ""
        return (
            f"{gross}cannot yet tell it from {limit} (log LR {j.llr:.1f}, "
            f"≤ {self._accept:.1f} settles)"
        )


def _counted(guardrail: Guardrail) -> bool:
    return guardrail.metric is GuardrailMetric.POLICY_VIOLATION_RATE


def _tested(guardrail: Guardrail) -> bool:
    """Decided by the sequential tests (the others decide on what they see)."""
    return not guardrail.hard and not _counted(guardrail)


def _limit(guardrail: Guardrail) -> str:
    if guardrail.max_ratio is not None:
        return f"×{guardrail.max_ratio:.2f}"
    return f"{guardrail.threshold * 100:+.2f} pts"


def _numbers(guardrail: Guardrail, reading: Reading) -> str:
    metric = guardrail.metric
    if guardrail.max_ratio is not None:
        unit = "s" if metric is GuardrailMetric.P95_END_TO_END_LATENCY else " USD"
        return (
            f"{metric.value}: canary {reading.canary:.4g}{unit} vs stable "
            f"{reading.stable:.4g}{unit} ({reading.detail}), ×{reading.observed:.3f} "
            "interval by interval"
        )
    return (
        f"{metric.value}: canary {reading.canary * 100:.2f}% vs stable "
        f"{reading.stable * 100:.2f}% ({reading.detail}), {reading.observed * 100:+.2f} pts "
        "interval by interval"
    )


def _observed(guardrail: Guardrail, harm: float) -> float:
    """A harm back in the threshold's unit: canary − stable, or canary / stable."""
    if guardrail.max_ratio is not None:
        return math.exp(harm)
    return -harm if guardrail.min_delta is not None else harm


def _of(counts: CountsLike, metric: GuardrailMetric) -> Counts:
    if isinstance(counts, Counts):
        return counts
    return counts.get(metric) or _any(counts)


def _any(counts: CountsLike) -> Counts:
    if isinstance(counts, Counts):
        return counts
    return next(iter(counts.values()), Counts())
