"""Sequential tests whose looks are free: Wald's SPRT and a one-sided normal mixture.

Every soft guardrail reduces the canary's evidence so far to a harm estimate δ̂ (positive
means the canary is worse than stable: a rise of a rate that should be low, a drop of one
that should be high, the log of a ratio) with a variance σ̂², hence the information
V = 1/σ̂² and the score Z = δ̂·V. By the central limit theorem the score, as information
grows, is a Brownian motion with drift δ: Z(V) ≈ δ·V + W(V) (Whitehead 1997, ch. 3: the
"Z and V" of a sequential trial). On it:

- `wald(θ)`, the log likelihood ratio of δ = θ against δ = 0, ℓ = θZ − θ²V/2 (Wald 1945).
  Under δ = 0, e^ℓ is a nonnegative martingale, so by Ville's inequality (Ville 1939)
  P(ℓ ever ≥ log 1/α) ≤ α however often and whenever one looks. Under δ = θ, e^−ℓ is one,
  so P(ℓ ever ≤ log β) ≤ β. A regression as large as θ is caught, no regression is
  cleared, each with its own error rate, and the looks cost nothing.
- `mixture(τ)`, the likelihood ratio mixed over every regression δ > 0 with a half-normal
  weight of scale τ (the mixture SPRT of Robbins 1970; Johari, Pekelis & Walsh 2017 for
  its use on A/B tests): log Λ = log 2 − ½·log(1 + τ²V) + Z²/(2a) + log Φ(Z/√a) with
  a = V + 1/τ². Under any δ ≤ 0 it is a nonnegative supermartingale, so again
  P(ever ≥ log 1/α) ≤ α. It detects a large regression in about the information an SPRT
  tuned to that very size would need, whatever the size: it is the fast path for gross
  harm.

The bounds are Ville's (log 1/α and log β) rather than Wald's approximate
log((1−β)/α) and log(β/(1−α)): they hold exactly, not up to overshoot, for any schedule
of looks, and differ from Wald's by under 5% at the rates used here. Discrete looks only
make the tests more conservative: the process can cross a bound between two looks and
come back unseen.
"""

from __future__ import annotations

import math

from .. import special


def wald(theta: float, score: float, information: float) -> float:
    """log LR of δ = θ versus δ = 0 given Z (score) and V (information)."""
    return theta * score - theta * theta * information / 2


def mixture(tau: float, score: float, information: float) -> float:
    """log of the half-normal(τ) mixture of LR(δ) over δ > 0, versus δ = 0."""
    a = information + 1 / (tau * tau)
    return (
        math.log(2)
        - 0.5 * math.log1p(tau * tau * information)
        + score * score / (2 * a)
        + float(special.log_ndtr(score / math.sqrt(a)))
    )


def reject_bound(alpha: float) -> float:
    """The log LR at which H0 (no regression) is rejected with error at most α."""
    return math.log(1 / alpha)


def accept_bound(beta: float) -> float:
    """The log LR at which H1 (a regression of θ) is rejected with error at most β."""
    return math.log(beta)


# -- what a test needs, for forecasts -------------------------------------------------------


def information_to_settle(theta: float, beta: float, llr: float = 0.0) -> float:
    """Expected information, from log LR `llr`, until wald(θ) clears δ = θ when δ = 0.

    Under δ = 0 the log LR drifts by −θ²/2 per unit of information (Wald's approximation
    of the expected sample size, without overshoot).
    """
    return max(0.0, llr - accept_bound(beta)) / (theta * theta / 2)


def information_to_reject(theta: float, delta: float, alpha: float, llr: float = 0.0) -> float:
    """Expected information, from log LR `llr`, until wald(θ) rejects δ = 0 when the
    regression is δ (> θ/2, else the drift points the other way: infinite)."""
    drift = theta * delta - theta * theta / 2
    if drift <= 0:
        return math.inf
    return max(0.0, reject_bound(alpha) - llr) / drift


def passage_quantile(distance: float, drift: float, spread: float, q: float) -> float:
    """Quantile `q` of the information until a Brownian motion with `drift` (> 0, towards
    the bound) and variance `spread` per unit of information first travels `distance`:
    an inverse Gaussian with mean distance/drift and shape distance²/spread."""
    if distance <= 0:
        return 0.0
    if drift <= 0:
        return math.inf
    mean, shape = distance / drift, distance * distance / spread
    lo, hi = 0.0, mean
    while _inverse_gaussian_cdf(hi, mean, shape) < q:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        if _inverse_gaussian_cdf(mid, mean, shape) < q:
            lo = mid
        else:
            hi = mid
    return hi


def _inverse_gaussian_cdf(x: float, mean: float, shape: float) -> float:
    if x <= 0:
        return 0.0
    root = math.sqrt(shape / x)
    first = float(special.ndtr(root * (x / mean - 1)))
    # exp(2λ/μ)·Φ(−√(λ/x)(x/μ + 1)), computed in logs: the exponential alone overflows
    log_second = 2 * shape / mean + float(special.log_ndtr(-root * (x / mean + 1)))
    return min(1.0, first + math.exp(log_second))
