"""The operator's special functions against scipy.special (a test dependency only).

The grids reach well beyond what the statistics ask (tails of 0.0005 to 0.05 for the
gates' intervals, about 1e-6 for the canary's variance inflation): tail probabilities
down to 1e-12, shapes from 0.5 to 10^7 (a Jeffreys interval on ten million tasks),
fractional degrees of freedom from 0.5 (Welch on two seeds) to 10^6.
"""

from __future__ import annotations

import math

import pytest
from scipy import special as scipy_special

from agent_release import special

SHAPES = (0.5, 0.9, 1.0, 1.5, 2.5, 7.0, 10.0, 33.3, 250.0, 1e4, 2.5e5, 1e7)
LEVELS = (1e-12, 1e-10, 1e-6, 1e-4, 0.0125, 0.025, 0.3, 0.5, 0.7, 0.975, 0.9999, 1 - 1e-12)
FREEDOM = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 9.3, 29.0, 100.0, 1e4, 1e6)
QUANTILES = (1e-12, 1e-4, 0.0005, 0.025, 0.1, 0.3, 0.45, 0.5, 0.55, 0.8, 0.975, 0.99999)


def close(ours: float, theirs: float, rel: float = 1e-10, abs_: float = 1e-300) -> bool:
    return math.isclose(ours, theirs, rel_tol=rel, abs_tol=abs_)


@pytest.mark.parametrize(
    "x", [-60.0, -38.5, -30.0, -29.9, -12.0, -3.0, -0.5, 0.0, 0.7, 4.9, 5.1, 9.0]
)
def test_the_normal_cdf_and_its_log_match_scipy(x: float) -> None:
    # Φ's condition number in the lower tail is about x²: an argument rounded by one ulp
    # moves Φ(−30) by 1e-13 relative, in scipy's computation as in ours
    conditioning = 4e-16 * max(1.0, x * x)
    assert close(special.ndtr(x), float(scipy_special.ndtr(x)), rel=max(1e-14, conditioning))
    assert close(special.log_ndtr(x), float(scipy_special.log_ndtr(x)), rel=1e-13)


@pytest.mark.parametrize("a", SHAPES)
@pytest.mark.parametrize("b", SHAPES)
def test_the_incomplete_beta_and_its_inverse_match_scipy(a: float, b: float) -> None:
    # the continued fraction needs ~sqrt(max(a, b)) terms, and their rounding adds up:
    # 1e-9 relative up to shapes of 2.5e5 (a gate on 250,000 tasks), 1e-8 at 10^7
    rel = 1e-9 if max(a, b) <= 2.5e5 else 1e-8
    for y in LEVELS:
        x = special.betaincinv(a, b, y)
        theirs = float(scipy_special.betaincinv(a, b, y))
        if math.isnan(theirs):  # scipy gives up in a few far tails: check ours alone
            assert close(float(scipy_special.betainc(a, b, x)), y, rel=rel), (a, b, y, x)
            continue
        assert close(x, theirs, rel=rel), (a, b, y, x, theirs)
        if 0.0 < theirs < 1.0:
            assert close(
                special.betainc(a, b, theirs), float(scipy_special.betainc(a, b, theirs)), rel=rel
            ), (a, b, theirs)


@pytest.mark.parametrize("df", FREEDOM)
def test_t_quantiles_match_scipy(df: float) -> None:
    for p in QUANTILES:
        ours, theirs = special.stdtrit(df, p), float(scipy_special.stdtrit(df, p))
        assert close(ours, theirs, rel=1e-9, abs_=1e-12), (df, p, ours, theirs)


def test_the_ends_and_bad_arguments() -> None:
    assert special.betaincinv(2.0, 3.0, 0.0) == 0.0
    assert special.betaincinv(2.0, 3.0, 1.0) == 1.0
    assert special.stdtrit(5.0, 0.5) == 0.0
    assert special.stdtrit(5.0, 1.0) == math.inf
    with pytest.raises(ValueError, match="shapes must be positive"):
        special.betaincinv(0.0, 1.0, 0.5)
    with pytest.raises(ValueError, match="degrees of freedom"):
        special.stdtrit(-1.0, 0.5)
