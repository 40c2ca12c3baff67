"""The special functions the statistics need, in plain Python: the normal CDF and its
log, the regularized incomplete beta function and its inverse, and Student t quantiles.

They used to come from scipy.special, whose import alone (with numpy and its LAPACK)
was 38 MiB of the operator's 100 MiB resident at start. Five functions do not need it:
each is a few lines over `math`, accurate to 1e-9 relative or better over the ranges
the gates and the canary analysis use, and well beyond (tests/test_special.py compares
them with scipy's: tail probabilities down to 1e-12, shapes from 0.5 to 10^7, fractional
degrees of freedom from 0.5 to 10^6).

Methods: Φ from `math.erfc`; log Φ from it down to x = −30 and from the asymptotic
series of Mills' ratio below (Abramowitz & Stegun 26.2.12); the incomplete beta
function by its continued fraction, evaluated with the modified Lentz method (Press et
al., Numerical Recipes, 3rd ed., 6.4), with the prefactor's log-gamma terms taken
through Stirling's series for large shapes so that no precision is lost to
cancellation; its inverse by Newton's method inside a shrinking bracket, so that it
never leaves (0, 1) and falls back to bisection where Newton would overshoot; t
quantiles through the beta function (A&S 26.7.1).
"""

from __future__ import annotations

import math

__all__ = ["betainc", "betaincinv", "log_ndtr", "ndtr", "stdtrit"]

_SQRT2 = math.sqrt(2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_TINY = 1e-300
_EPS = 1e-15
_MAX_TERMS = 100_000  # the continued fraction needs O(sqrt(max(a, b))) terms


class ConvergenceError(ArithmeticError):
    """A series did not converge: an argument far outside what the statistics use."""


# -- the normal distribution -----------------------------------------------------------


def ndtr(x: float) -> float:
    """Φ(x), the standard normal CDF."""
    return 0.5 * math.erfc(-x / _SQRT2)


def log_ndtr(x: float) -> float:
    """log Φ(x), accurate in both tails (Φ underflows below x ≈ −38; its log does not)."""
    if x > 0.0:  # Φ near 1: its log from the small upper tail
        return math.log1p(-0.5 * math.erfc(x / _SQRT2))
    if x > -30.0:
        return math.log(0.5 * math.erfc(-x / _SQRT2))
    # Φ(x) = φ(x)/|x| · (1 − 1/x² + 3/x⁴ − 15/x⁶ + ...): at |x| ≥ 30 eight terms are
    # far below double precision
    z = 1.0 / (x * x)
    series, term = 1.0, 1.0
    for k in range(1, 9):
        term *= -(2 * k - 1) * z
        series += term
    return -0.5 * x * x - math.log(-x) - _LOG_SQRT_2PI + math.log(series)


# -- the incomplete beta function ------------------------------------------------------


def _stirling_tail(a: float) -> float:
    """lgamma(a) minus its Stirling approximation, for a ≥ 10 (A&S 6.1.41)."""
    z = 1.0 / (a * a)
    return (1.0 / 12 - z * (1.0 / 360 - z * (1.0 / 1260 - z * (1.0 / 1680 - z / 1188)))) / a


def _log_beta_prefix(a: float, b: float, x: float) -> float:
    """log( x^a (1−x)^b / B(a, b) ), without the cancellation of lgamma(a + b) against
    lgamma(a) + lgamma(b) when a shape is large (lgamma(10^7) is 1.5e8 where the result
    is ~1): each large shape's log-gamma goes through Stirling's series, and the big terms
    meet in logs of ratios near 1."""
    total = a + b
    if a >= 10.0 and b >= 10.0:
        # log B(a,b) = ½log(2π) + (a−½)log a + (b−½)log b − (a+b−½)log(a+b) + tails,
        # so the big terms meet as a·log(x/p₀) + b·log((1−x)/q₀), p₀ = a/(a+b), q₀ = 1 − p₀
        tails = _stirling_tail(a) + _stirling_tail(b) - _stirling_tail(total)
        return (
            a * _log_ratio(x, a / total)
            + b * _log_ratio(1.0 - x, b / total)
            + 0.5 * math.log(a * b / total)
            - _LOG_SQRT_2PI
            - tails
        )
    if b >= 10.0:  # lgamma(a+b) − lgamma(b) = (b−½)·log1p(a/b) + a·log(a+b) − a + tails
        tails = _stirling_tail(total) - _stirling_tail(b)
        return (
            a * math.log(x * total)
            - a
            + (b - 0.5) * math.log1p(a / b)
            + b * math.log1p(-x)
            - math.lgamma(a)
            + tails
        )
    if a >= 10.0:  # the same, the shapes' roles swapped (x near 1)
        tails = _stirling_tail(total) - _stirling_tail(a)
        return (
            b * math.log((1.0 - x) * total)
            - b
            + (a - 0.5) * math.log1p(b / a)
            + a * math.log(x)
            - math.lgamma(b)
            + tails
        )
    return (
        math.lgamma(total) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )


def _log_ratio(value: float, center: float) -> float:
    """log(value/center), through log1p near 1 (where log would lose the small part)."""
    if abs(value - center) < 0.5 * center:
        return math.log1p((value - center) / center)
    return math.log(value / center)


def _continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) (Numerical Recipes' betacf), by modified Lentz."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_TERMS + 1):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            delta = d * c
            h *= delta
        if abs(delta - 1.0) < _EPS:
            return h
    raise ConvergenceError(f"incomplete beta: no convergence for a={a}, b={b}, x={x}")


def betainc(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularized incomplete beta function (a, b > 0, 0 ≤ x ≤ 1)."""
    if not (a > 0 and b > 0):
        raise ValueError(f"betainc: shapes must be positive, got a={a}, b={b}")
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(_log_beta_prefix(a, b, x)) * _continued_fraction(a, b, x) / a
    return 1.0 - math.exp(_log_beta_prefix(b, a, 1.0 - x)) * _continued_fraction(b, a, 1.0 - x) / b


def _log_beta(a: float, b: float) -> float:
    """log B(a, b): the prefix at x = ½ gives it without cancellation."""
    return -_log_beta_prefix(a, b, 0.5) - (a + b) * math.log(2.0)


def _log_density(a: float, b: float, x: float) -> float:
    """log of the Beta(a, b) density at x."""
    return _log_beta_prefix(a, b, x) - math.log(x) - math.log1p(-x)


def betaincinv(a: float, b: float, y: float) -> float:
    """The x with I_x(a, b) = y: the y-quantile of Beta(a, b)."""
    if not (a > 0 and b > 0):
        raise ValueError(f"betaincinv: shapes must be positive, got a={a}, b={b}")
    if y <= 0.0:
        return 0.0
    if y >= 1.0:
        return 1.0
    if y > 0.5:  # the upper tail: solved as the lower tail of the mirror image
        x = 1.0 - betaincinv(b, a, 1.0 - y)
        if x >= 0.5:
            return x
        # a small answer lost digits to 1 − x: polished below, where it is well conditioned
    else:
        x = _first_guess(a, b, y)
    low, high = 0.0, 1.0
    for _ in range(200):
        f = betainc(a, b, x) - y
        if f == 0.0:
            return x
        if f > 0:
            high = x
        else:
            low = x
        log_density = _log_density(a, b, x)
        step = f * math.exp(-log_density) if log_density > -700 else math.copysign(math.inf, f)
        nxt = x - step
        if not low < nxt < high:  # Newton would leave the bracket: bisect instead,
            # geometrically towards 0 (a tail quantile can be 1e-120)
            nxt = 0.5 * (low + high) if low > 0 else 1e-3 * high
        if abs(nxt - x) <= 1e-15 * max(x, 1e-300) or high - low <= 1e-15 * high:
            return nxt
        x = nxt
    raise ConvergenceError(f"betaincinv: no convergence for a={a}, b={b}, y={y}")


def _first_guess(a: float, b: float, y: float) -> float:
    """A starting point for Newton: where I_x ≈ x^a/(a·B(a, b)) (small x), its root;
    otherwise Numerical Recipes' invbetai guess (after A&S 26.5.22)."""
    log_small = (math.log(y) + math.log(a) + _log_beta(a, b)) / a
    if log_small < math.log(1e-3):
        return max(math.exp(log_small), 1e-300)
    if a >= 1.0 and b >= 1.0:
        pp = y if y < 0.5 else 1.0 - y
        t = math.sqrt(-2.0 * math.log(pp))
        z = (2.30753 + t * 0.27061) / (1.0 + t * (0.99229 + t * 0.04481)) - t
        if y < 0.5:
            z = -z
        al = (z * z - 3.0) / 6.0
        h = 2.0 / (1.0 / (2.0 * a - 1.0) + 1.0 / (2.0 * b - 1.0))
        w = z * math.sqrt(al + h) / h - (1.0 / (2.0 * b - 1) - 1.0 / (2.0 * a - 1.0)) * (
            al + 5.0 / 6.0 - 2.0 / (3.0 * h)
        )
        x = a / (a + b * math.exp(2.0 * w))
    else:
        lna, lnb = math.log(a / (a + b)), math.log(b / (a + b))
        t, u = math.exp(a * lna) / a, math.exp(b * lnb) / b
        w = t + u
        x = (a * w * y) ** (1.0 / a) if y < t / w else 1.0 - (b * w * (1.0 - y)) ** (1.0 / b)
    return min(max(x, 1e-300), 1.0 - 1e-16)


# -- Student t -------------------------------------------------------------------------


def stdtrit(df: float, p: float) -> float:
    """The p-quantile of Student's t with `df` degrees of freedom (fractional allowed)."""
    if not df > 0:
        raise ValueError(f"stdtrit: degrees of freedom must be positive, got {df}")
    if not 0.0 < p < 1.0:
        if p == 0.0:
            return -math.inf
        if p == 1.0:
            return math.inf
        raise ValueError(f"stdtrit: p must be in [0, 1], got {p}")
    if p == 0.5:
        return 0.0
    tail = min(p, 1.0 - p)  # P(T > t) = ½ I_{df/(df+t²)}(df/2, ½)
    x = betaincinv(0.5 * df, 0.5, 2.0 * tail)  # x = df/(df + t²)
    if x < 0.5 or tail < 5e-4:
        t = math.sqrt(df * (1.0 - x) / x)
    else:  # t² < df: y = 1 − x = t²/(df + t²) keeps the digits 1 − x would lose (and
        # 1 − 2·tail loses none worth having while the tail is not small)
        y = betaincinv(0.5, 0.5 * df, 1.0 - 2.0 * tail)
        t = math.sqrt(df * y / (1.0 - y))
    return t if p > 0.5 else -t
