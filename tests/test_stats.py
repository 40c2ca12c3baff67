"""The interval estimators: published values, coverage in simulation, edge cases."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_release.stats import (
    ProportionInterval,
    difference_interval,
    jeffreys,
    mean_and_sem,
    paired_difference,
    ratio_estimate,
    ratio_of_ratios,
    t_value,
    wilson,
)


@pytest.mark.parametrize(
    ("df", "expected"), [(1, 12.7062), (2, 4.3027), (4, 2.7764), (30, 2.0423), (1e6, 1.9600)]
)
def test_t_quantiles_match_the_tables(df: float, expected: float) -> None:
    assert t_value(0.95, df) == pytest.approx(expected, abs=1e-4)


def test_wilson_matches_newcombe_1998() -> None:
    assert wilson(81, 263, 0.95) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert wilson(0, 10, 0.95) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson(0, 0, 0.95) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((6, 7, 2, 7), (0.0582, 0.8062)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
        ((0, 10, 0, 20), (-0.1611, 0.2775)),
        ((10, 10, 0, 20), (0.6791, 1.0000)),
    ],
)
def test_hybrid_construction_matches_the_published_table(
    counts: tuple[int, int, int, int], expected: tuple[float, float]
) -> None:
    """With Wilson components the hybrid is Newcombe (1998), Stat Med 17:873, Table II,
    method 10: this pins the square-and-add construction the Jeffreys version shares."""
    assert difference_interval(*counts, 0.95, component=wilson) == pytest.approx(expected, abs=1e-4)


def test_jeffreys_matches_the_beta_quantiles() -> None:
    """Brown, Cai & DasGupta (2001): x = 0 keeps 0 as the lower bound."""
    assert jeffreys(0, 10, 0.95).low == 0.0
    assert jeffreys(10, 10, 0.95).high == 1.0
    low, high = jeffreys(3, 10, 0.95)
    # independent check: integrate the Beta(3.5, 7.5) density with Simpson's rule
    norm = math.gamma(11) / (math.gamma(3.5) * math.gamma(7.5))

    def cdf(x: float, steps: int = 20000) -> float:
        h = x / steps
        f = [norm * (i * h) ** 2.5 * (1 - i * h) ** 6.5 for i in range(steps + 1)]
        return float(h / 3 * (f[0] + f[-1] + 4 * sum(f[1:-1:2]) + 2 * sum(f[2:-1:2])))

    assert cdf(low) == pytest.approx(0.025, abs=1e-6)
    assert cdf(high) == pytest.approx(0.975, abs=1e-6)


def _exact_wilson_coverage(n: int, p: float) -> float:
    return sum(
        math.comb(n, x) * p**x * (1 - p) ** (n - x)
        for x in range(n + 1)
        if wilson(x, n, 0.95).contains(p)
    )


@pytest.mark.parametrize("n", [30, 100, 400])
def test_wilson_reaches_nominal_coverage(n: int) -> None:
    """Exact coverage over p in [0.05, 0.95]: near 95% on average, never far below."""
    coverage = [_exact_wilson_coverage(n, p / 100) for p in range(5, 96)]
    assert sum(coverage) / len(coverage) == pytest.approx(0.95, abs=0.006)
    assert min(coverage) > 0.925


def _binomial(rng: random.Random, n: int, p: float) -> int:
    return sum(rng.random() < p for _ in range(n))


@settings(max_examples=12, deadline=None, derandomize=True)
@given(
    p1=st.floats(0.1, 0.9),
    p2=st.floats(0.1, 0.9),
    n1=st.integers(40, 300),
    n2=st.integers(40, 300),
)
def test_difference_reaches_nominal_coverage_in_simulation(
    p1: float, p2: float, n1: int, n2: int
) -> None:
    rng = random.Random(f"{p1}{p2}{n1}{n2}")
    trials = 600
    hits = sum(
        difference_interval(_binomial(rng, n1, p1), n1, _binomial(rng, n2, p2), n2, 0.95).contains(
            p1 - p2
        )
        for _ in range(trials)
    )
    # 600 trials: the standard error of an estimated 95% coverage is 0.9 points.
    assert hits / trials > 0.92


@settings(max_examples=10, deadline=None, derandomize=True)
@given(shift=st.floats(-0.15, 0.15), tasks=st.integers(80, 400))
def test_paired_interval_reaches_nominal_coverage_in_simulation(shift: float, tasks: int) -> None:
    """Tasks of varying difficulty, both runs see the same tasks: the paired setting."""
    rng = random.Random(f"{shift}{tasks}")
    difficulty = [rng.uniform(0.15, 0.85) for _ in range(tasks)]
    candidate_p = [min(0.99, max(0.01, d + shift)) for d in difficulty]
    truth = sum(c - b for c, b in zip(candidate_p, difficulty, strict=True)) / tasks
    trials, hits = 400, 0
    for _ in range(trials):
        diffs = [
            float(rng.random() < c) - float(rng.random() < b)
            for c, b in zip(candidate_p, difficulty, strict=True)
        ]
        bounds = paired_difference(diffs, 0.95)
        assert bounds is not None
        hits += bounds.contains(truth)
    assert hits / trials > 0.92


def test_ratio_interval_reaches_nominal_coverage_in_simulation() -> None:
    """Five seeds a side, lognormal per-seed costs, true ratio 1.2."""
    rng = random.Random(7)
    trials, hits = 1000, 0
    for _ in range(trials):
        c_cost = [rng.lognormvariate(math.log(120), 0.1) for _ in range(5)]
        b_cost = [rng.lognormvariate(math.log(100), 0.1) for _ in range(5)]
        ones = [1.0] * 5
        point, bounds = ratio_of_ratios(
            ratio_estimate(c_cost, ones), ratio_estimate(b_cost, ones), 0.95
        )
        assert bounds is not None
        assert bounds.contains(point)
        hits += bounds.contains(1.2)  # ratio of the lognormal means: the scale cancels
    assert hits / trials > 0.92


def test_ratio_without_replicates_has_no_interval() -> None:
    point, bounds = ratio_of_ratios(
        ratio_estimate([10.0], [4.0]), ratio_estimate([5.0], [4.0]), 0.95
    )
    assert point == pytest.approx(2.0)
    assert bounds is None


def test_ratio_needs_positive_totals() -> None:
    with pytest.raises(ValueError, match="positive"):
        ratio_estimate([0.0, 0.0], [1.0, 1.0])


def test_sem_needs_two_values() -> None:
    assert mean_and_sem([0.5]) == (0.5, None)
    mean, sem = mean_and_sem([0.6, 0.7, 0.8])
    assert mean == pytest.approx(0.7)
    assert sem == pytest.approx(0.1 / math.sqrt(3))


def test_paired_needs_two_tasks() -> None:
    assert paired_difference([1.0], 0.95) is None


def _tail_errors(
    component: ProportionInterval, n1: int, p: float, runs: int
) -> tuple[float, float]:
    rng = random.Random(f"{n1}{p}")
    n2 = 19 * n1
    low_errors = high_errors = 0
    for _ in range(runs):
        x1 = _binomial(rng, n1, p)
        x2 = round(rng.gauss(n2 * p, math.sqrt(n2 * p * (1 - p))))  # n2 is large
        low, high = difference_interval(x1, n1, x2, n2, 0.95, component=component)
        low_errors += low > 0
        high_errors += high < 0
    return low_errors / runs, high_errors / runs


@pytest.mark.parametrize(("n1", "p"), [(270, 0.03), (1000, 0.03), (270, 0.3)])
def test_each_tail_errs_at_half_alpha(n1: int, p: float) -> None:
    """A small canary against a 19× larger stable, equal rates: every decision is
    one-sided, so each tail must err at about α/2 = 2.5%. Wilson components do not."""
    runs = 4000
    low, high = _tail_errors(jeffreys, n1, p, runs)
    # 4000 runs: the standard error of an estimated 2.5% is 0.25 points.
    assert low < 0.031
    assert high < 0.031
    if p < 0.1:
        wilson_low, _ = _tail_errors(wilson, n1, p, runs)
        assert wilson_low > low


def test_a_ratio_interval_too_wide_to_mean_anything_is_none() -> None:
    """An interim canary look tests at a tiny α with few units: t explodes, no overflow."""
    c = ratio_estimate([10.0, 30.0, 5.0], [1.0, 1.0, 1.0])
    b = ratio_estimate([10.0, 11.0, 9.0], [1.0, 1.0, 1.0])
    point, bounds = ratio_of_ratios(c, b, 1 - 1e-12)
    assert point == pytest.approx(1.5)
    assert bounds is None
