"""The offline and pre-release gates: every reason code, both decision modes,
first releases, paired comparisons, and monotonicity."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_release.api.evalreport import Candidate
from agent_release.api.outcomes import GateReport, ReasonCode, Result
from agent_release.api.types import Stage
from agent_release.gates import candidate_mismatch, evaluate, report_invalid, report_missing
from agent_release.taskresults import TaskResult, tally
from builders.objects import policy, report, seed, slice_, uniform

OFFLINE = {
    "requiredCapabilities": ["code", "terminal"],
    "minSeeds": 2,
    "floors": {"code": 0.40, "terminal": 0.30},
    "maxPassRateDrop": 0.02,
    "maxDurationP95Ratio": 1.10,
    "maxCostPerSuccessRatio": 1.10,
}
PRERELEASE = {
    "requireHoldout": True,
    "minSeeds": 2,
    "successRate": {"minDelta": 0.02},
    "interventionRate": {"maxDelta": 0.005},
    "costPerTask": {"maxRatio": 1.10},
    "latencyP95": {"maxRatio": 1.10},
    "policyViolations": {"max": 0},
    "rollbackTriggers": {"max": 0},
}


def offline_policy(mode: str = "interval", **changes: Any) -> Any:
    return policy(offline={**OFFLINE, **changes}, decision={"mode": mode}).spec


def prerelease_policy(mode: str = "interval", **changes: Any) -> Any:
    return policy(prerelease={**PRERELEASE, **changes}, decision={"mode": mode}).spec


def by_name(decision: GateReport, name: str, slice_name: str | None = None) -> list[Any]:
    return [c for c in decision.checks if c.name == name and c.slice == slice_name]


def portfolio(code: list[int], terminal: list[int] | None = None, **per_seed: Any) -> Any:
    slices = [uniform("swe", "code", 500, code, **per_seed)]
    if terminal is not None:
        slices.append(uniform("tb", "terminal", 80, terminal))
    return report(*slices)


# -- offline -----------------------------------------------------------------------------


def test_healthy_first_release_passes_with_baseline_checks_not_applicable() -> None:
    decision = evaluate(Stage.OFFLINE, portfolio([330, 335, 328], [40, 38, 41]), offline_policy())
    assert decision.decision is Result.PASS
    assert decision.reasons == []
    skipped = [c for c in decision.checks if c.result is Result.NOT_APPLICABLE]
    assert {c.name for c in skipped} == {"pass-rate-drop", "duration-p95", "cost-per-success"}
    assert all("first release" in c.message for c in skipped)


def test_missing_capability_fails_with_slice_missing() -> None:
    decision = evaluate(Stage.OFFLINE, portfolio([330, 335]), offline_policy())
    assert decision.decision is Result.FAIL
    assert decision.reasons == [ReasonCode.SLICE_MISSING]
    (check,) = [c for c in decision.checks if c.result is Result.FAIL]
    assert "terminal" in check.message


def test_too_few_seeds_fails() -> None:
    decision = evaluate(Stage.OFFLINE, portfolio([330], [40]), offline_policy())
    assert decision.decision is Result.FAIL
    assert ReasonCode.INSUFFICIENT_SEEDS in decision.reasons
    (check,) = by_name(decision, "seeds", "swe")
    assert (check.observed, check.threshold) == (1, 2)


def test_slice_below_floor_fails_however_good_the_others_are() -> None:
    decision = evaluate(Stage.OFFLINE, portfolio([480, 490], [10, 12]), offline_policy())
    assert decision.decision is Result.FAIL
    assert decision.reasons == [ReasonCode.SLICE_BELOW_FLOOR]
    (check,) = by_name(decision, "floor", "tb")
    assert check.observed == pytest.approx(22 / 160)
    assert check.interval is not None
    assert check.interval.high < 0.30
    assert "below the minimum of 30.0%" in check.message


def test_interval_straddling_the_floor_is_inconclusive_but_point_mode_decides() -> None:
    near_floor = report(
        uniform("swe", "code", 50, [21, 20]), uniform("tb", "terminal", 80, [40, 40])
    )
    interval = evaluate(Stage.OFFLINE, near_floor, offline_policy("interval"))
    assert interval.decision is Result.INCONCLUSIVE
    assert interval.reasons == [ReasonCode.INSUFFICIENT_EVIDENCE]
    assert "more seeds or tasks" in by_name(interval, "floor", "swe")[0].message
    point = evaluate(Stage.OFFLINE, near_floor, offline_policy("point"))
    assert point.decision is Result.PASS


def test_point_mode_fails_where_interval_mode_is_unsure() -> None:
    below = report(uniform("swe", "code", 50, [19, 20]), uniform("tb", "terminal", 80, [40, 40]))
    assert evaluate(Stage.OFFLINE, below, offline_policy("point")).decision is Result.FAIL
    assert (
        evaluate(Stage.OFFLINE, below, offline_policy("interval")).decision is Result.INCONCLUSIVE
    )


def test_slice_floor_overrides_the_capability_floor() -> None:
    candidate = portfolio([330, 335], [40, 38])
    decision = evaluate(Stage.OFFLINE, candidate, offline_policy(sliceFloors={"swe": 0.80}))
    assert decision.reasons == [ReasonCode.SLICE_BELOW_FLOOR]
    assert by_name(decision, "floor", "swe")[0].threshold == 0.80


def test_pass_rate_regression_against_the_baseline_fails() -> None:
    baseline = portfolio([350, 355, 352], [40, 40, 40])
    candidate = portfolio([300, 305, 298], [40, 40, 40])
    decision = evaluate(Stage.OFFLINE, candidate, offline_policy(), baseline=baseline)
    assert decision.decision is Result.FAIL
    # The unchanged terminal slice (240 attempts a side) cannot rule out a 2-point drop.
    assert decision.reasons == [ReasonCode.SUCCESS_REGRESSION, ReasonCode.INSUFFICIENT_EVIDENCE]
    assert by_name(decision, "pass-rate-drop", "tb")[0].result is Result.INCONCLUSIVE
    (check,) = by_name(decision, "pass-rate-drop", "swe")
    assert check.observed == pytest.approx((903 - 1057) / 1500)
    assert check.baseline == pytest.approx(1057 / 1500)
    assert check.threshold == -0.02
    assert "unpaired" in check.message


def test_latency_and_cost_regressions_fail() -> None:
    def run(p95: float, cost: float) -> Any:
        return report(
            slice_(
                "swe",
                "code",
                *(
                    seed(
                        i,
                        500,
                        330,
                        durationSeconds={"p50": p95 / 3, "p95": p95 + i},
                        costUSD=cost + i,
                    )
                    for i in (1, 2, 3)
                ),
            ),
            uniform("tb", "terminal", 80, [40, 40, 40]),
        )

    pol = offline_policy(maxPassRateDrop=None)
    decision = evaluate(Stage.OFFLINE, run(1000, 600), pol, baseline=run(800, 400))
    assert decision.decision is Result.FAIL
    assert set(decision.reasons) == {ReasonCode.LATENCY_REGRESSION, ReasonCode.COST_REGRESSION}
    (latency,) = by_name(decision, "duration-p95", "swe")
    assert latency.observed == pytest.approx(1002 / 802)
    assert latency.interval is not None
    assert latency.interval.low > 1.10
    same = evaluate(Stage.OFFLINE, run(800, 400), pol, baseline=run(800, 400))
    assert by_name(same, "duration-p95", "swe")[0].result is Result.PASS
    assert by_name(same, "cost-per-success", "swe")[0].result is Result.PASS


def test_version_drift_refuses_the_comparison() -> None:
    baseline = report(
        uniform("swe", "code", 500, [350, 352]),
        uniform("tb", "terminal", 80, [40, 40]),
        dataset="2026.10",
    )
    candidate = portfolio([330, 330], [40, 40])
    decision = evaluate(Stage.OFFLINE, candidate, offline_policy(), baseline=baseline)
    assert decision.decision is Result.INCONCLUSIVE
    assert decision.reasons == [ReasonCode.VERSION_DRIFT]
    drift = [c for c in decision.checks if c.reason is ReasonCode.VERSION_DRIFT]
    assert len(drift) == 2
    assert "dataset 2026.11 vs baseline 2026.10" in drift[0].message
    assert not by_name(decision, "pass-rate-drop", "swe")


def test_slice_override_of_the_harness_version_counts_as_drift() -> None:
    candidate = report(
        slice_("swe", "code", seed(1, 500, 330), seed(2, 500, 331), harnessVersion="5.0.0"),
        uniform("tb", "terminal", 80, [40, 40]),
    )
    baseline = portfolio([330, 331], [40, 40])
    decision = evaluate(Stage.OFFLINE, candidate, offline_policy(), baseline=baseline)
    assert [c.slice for c in decision.checks if c.reason is ReasonCode.VERSION_DRIFT] == ["swe"]
    assert by_name(decision, "pass-rate-drop", "tb")[0].result is not Result.NOT_APPLICABLE


def _per_task(rows: list[TaskResult], name: str) -> dict[str, Any]:
    return {name: tally(rows, name)}


def test_paired_comparison_is_decisive_where_unpaired_is_not() -> None:
    """Same 400 tasks; the candidate fixes 12 and breaks none."""
    base_rows = [TaskResult(f"t{i}", passed=i < 200) for i in range(400)]
    cand_rows = [TaskResult(f"t{i}", passed=i < 212) for i in range(400)]
    base = report(uniform("swe", "code", 400, [200]), uniform("tb", "terminal", 80, [40]))
    cand = report(uniform("swe", "code", 400, [212]), uniform("tb", "terminal", 80, [40]))
    loose = offline_policy(minSeeds=1)
    unpaired = evaluate(Stage.OFFLINE, cand, loose, baseline=base)
    assert by_name(unpaired, "pass-rate-drop", "swe")[0].result is Result.INCONCLUSIVE
    paired = evaluate(
        Stage.OFFLINE,
        cand,
        loose,
        baseline=base,
        per_task=_per_task(cand_rows, "swe"),
        baseline_per_task=_per_task(base_rows, "swe"),
    )
    (check,) = by_name(paired, "pass-rate-drop", "swe")
    assert check.result is Result.PASS
    assert "paired over 400 tasks" in check.message
    assert check.interval is not None
    assert check.interval.low > -0.02


def test_baseline_without_the_slice_is_not_applicable() -> None:
    baseline = report(
        uniform("other", "code", 500, [300, 300]), uniform("tb", "terminal", 80, [40, 40])
    )
    decision = evaluate(
        Stage.OFFLINE, portfolio([330, 331], [40, 40]), offline_policy(), baseline=baseline
    )
    (check,) = by_name(decision, "pass-rate-drop", "swe")
    assert check.result is Result.NOT_APPLICABLE
    assert "baseline has no slice" in check.message


# -- pre-release -------------------------------------------------------------------------


def suite(
    passed: list[int],
    interventions: list[int],
    *,
    holdout: bool = True,
    violations: int | None = 0,
    rollbacks: int | None = 0,
    cost: float = 100.0,
    p95: float = 60.0,
    dataset: str = "2026.11",
) -> Any:
    seeds = [
        seed(
            i + 1,
            1000,
            p,
            humanInterventions=h,
            costUSD=cost + i,
            durationSeconds={"p50": p95 / 2, "p95": p95 + i},
            **({} if violations is None else {"policyViolations": violations if i == 0 else 0}),
            **({} if rollbacks is None else {"rollbackTriggers": rollbacks if i == 0 else 0}),
        )
        for i, (p, h) in enumerate(zip(passed, interventions, strict=True))
    ]
    return report(
        slice_("refunds", "business", *seeds),
        stage="prerelease",
        holdout=holdout,
        suite="private-regression",
        dataset=dataset,
    )


BASELINE_SUITE = suite([700, 705, 698], [20, 22, 19])


def test_prerelease_improvement_passes() -> None:
    decision = evaluate(
        Stage.PRERELEASE,
        suite([790, 800, 795], [15, 14, 16]),
        prerelease_policy(),
        baseline=BASELINE_SUITE,
    )
    assert decision.decision is Result.PASS, [c.message for c in decision.checks]
    (success,) = by_name(decision, "success-rate")
    assert success.observed == pytest.approx((2385 - 2103) / 3000)


def test_holdout_is_required() -> None:
    decision = evaluate(
        Stage.PRERELEASE, suite([790, 800, 795], [15, 14, 16], holdout=False), prerelease_policy()
    )
    assert decision.decision is Result.FAIL
    assert ReasonCode.HOLDOUT_MISSING in decision.reasons


def test_intervention_regression_blocks() -> None:
    decision = evaluate(
        Stage.PRERELEASE,
        suite([790, 800, 795], [60, 58, 65]),
        prerelease_policy(),
        baseline=BASELINE_SUITE,
    )
    assert decision.decision is Result.FAIL
    assert decision.reasons == [ReasonCode.INTERVENTION_REGRESSION]
    (check,) = by_name(decision, "intervention-rate")
    assert check.observed == pytest.approx((183 - 61) / 3000)
    assert check.interval is not None
    assert check.interval.low > 0.005


def test_success_regression_blocks() -> None:
    decision = evaluate(
        Stage.PRERELEASE,
        suite([600, 610, 605], [20, 22, 19]),
        prerelease_policy(),
        baseline=BASELINE_SUITE,
    )
    assert ReasonCode.SUCCESS_REGRESSION in decision.reasons


def test_cost_and_latency_regressions_block() -> None:
    decision = evaluate(
        Stage.PRERELEASE,
        suite([790, 800, 795], [15, 14, 16], cost=200.0, p95=90.0),
        prerelease_policy(),
        baseline=BASELINE_SUITE,
    )
    assert set(decision.reasons) == {ReasonCode.COST_REGRESSION, ReasonCode.LATENCY_REGRESSION}


def test_hard_policy_violation_and_rollback_triggers_fail_whatever_else() -> None:
    decision = evaluate(
        Stage.PRERELEASE,
        suite([790, 800, 795], [15, 14, 16], violations=1, rollbacks=2),
        prerelease_policy(),
        baseline=BASELINE_SUITE,
    )
    assert decision.decision is Result.FAIL
    assert set(decision.reasons) == {ReasonCode.POLICY_VIOLATION, ReasonCode.ROLLBACK_TRIGGERS}
    (violations,) = by_name(decision, "policy-violations")
    assert (violations.observed, violations.threshold) == (1, 0)


def test_uncounted_violations_are_inconclusive_not_passed() -> None:
    decision = evaluate(
        Stage.PRERELEASE,
        suite([790, 800, 795], [15, 14, 16], violations=None),
        prerelease_policy(),
        baseline=BASELINE_SUITE,
    )
    assert decision.decision is Result.INCONCLUSIVE
    (check,) = by_name(decision, "policy-violations")
    assert check.reason is ReasonCode.INSUFFICIENT_EVIDENCE


def test_prerelease_version_drift() -> None:
    decision = evaluate(
        Stage.PRERELEASE,
        suite([790, 800, 795], [15, 14, 16], dataset="2027.01"),
        prerelease_policy(),
        baseline=BASELINE_SUITE,
    )
    assert decision.reasons == [ReasonCode.VERSION_DRIFT]


def test_prerelease_first_release() -> None:
    decision = evaluate(Stage.PRERELEASE, suite([790, 800, 795], [15, 14, 16]), prerelease_policy())
    assert decision.decision is Result.PASS
    assert len([c for c in decision.checks if c.result is Result.NOT_APPLICABLE]) == 4


# -- report-level reasons used by the operator -------------------------------------------


def test_report_level_reasons() -> None:
    missing = report_missing(Stage.OFFLINE, "none matches agent support-agent")
    assert (missing.decision, missing.reasons) == (Result.FAIL, [ReasonCode.REPORT_MISSING])
    invalid = report_invalid(Stage.PRERELEASE, "r1", "field spec.slices: required")
    assert invalid.reasons == [ReasonCode.REPORT_INVALID]
    wanted = Candidate(model="m2", runtime="1.0", tools={"crm": "2"})
    assert candidate_mismatch(Stage.OFFLINE, "r", wanted, wanted) is None
    wrong = Candidate(model="m1", runtime="1.0", tools={"crm": "1"})
    mismatch = candidate_mismatch(Stage.OFFLINE, "r", wrong, wanted)
    assert mismatch is not None
    assert mismatch.reasons == [ReasonCode.CANDIDATE_MISMATCH]
    assert "model 'm1' (release wants 'm2')" in mismatch.checks[0].message
    assert "tools" in mismatch.checks[0].message


# -- monotonicity ------------------------------------------------------------------------

RANK = {Result.FAIL: 0, Result.INCONCLUSIVE: 1, Result.PASS: 2}


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    base=st.lists(st.integers(0, 200), min_size=1, max_size=4),
    cand=st.lists(st.integers(0, 200), min_size=1, max_size=4),
    gain=st.integers(1, 60),
    mode=st.sampled_from(["point", "interval"]),
)
def test_more_passes_never_turn_pass_into_fail_offline(
    base: list[int], cand: list[int], gain: int, mode: str
) -> None:
    pol = offline_policy(mode, minSeeds=1, requiredCapabilities=["code"])
    baseline = report(uniform("swe", "code", 200, base))
    worse = report(uniform("swe", "code", 200, cand))
    better = report(uniform("swe", "code", 200, [min(200, p + gain) for p in cand]))
    a = evaluate(Stage.OFFLINE, worse, pol, baseline=baseline)
    b = evaluate(Stage.OFFLINE, better, pol, baseline=baseline)
    assert RANK[b.decision] >= RANK[a.decision]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    passed=st.lists(st.integers(500, 1000), min_size=2, max_size=3),
    interventions=st.lists(st.integers(0, 100), min_size=3, max_size=3),
    fewer=st.integers(1, 50),
    extra=st.integers(0, 100),
    mode=st.sampled_from(["point", "interval"]),
)
def test_better_prerelease_candidates_never_do_worse(
    passed: list[int], interventions: list[int], fewer: int, extra: int, mode: str
) -> None:
    pol = prerelease_policy(mode, minSeeds=1, costPerTask=None, latencyP95=None)
    n = len(passed)
    worse = suite(passed, interventions[:n])
    better = suite(
        [min(1000, p + extra) for p in passed], [max(0, h - fewer) for h in interventions[:n]]
    )
    a = evaluate(Stage.PRERELEASE, worse, pol, baseline=BASELINE_SUITE)
    b = evaluate(Stage.PRERELEASE, better, pol, baseline=BASELINE_SUITE)
    assert RANK[b.decision] >= RANK[a.decision]
