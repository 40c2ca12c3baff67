"""How strict each look at a bake window is, so repeated looks stay honest.

A canary is looked at every analysis interval while it bakes; testing each look at
the nominal level would roll back a healthy release far more often than the policy's
confidence promises (30 looks at 5% each reject an A/A canary most of the time).

The error budget is α = 1 − confidence, and a rollback is a one-sided error:
- During the bake, a non-hard guardrail may roll back at a look only if its interval
  at level 1 − α_k lies wholly on the wrong side. The α_k spend α/2 with a
  Lan–DeMets O'Brien–Fleming-type function of the fraction of the bake elapsed,
  α*(t) = 2 − 2Φ(z_{1−α/4} / √t), each look taking the increment
  α*(t_k) − α*(t_{k−1}) (a Bonferroni bound over looks: conservative, and valid for
  any spacing of looks, such as after an operator restart). Early looks, with little
  data, need overwhelming evidence; a gross regression still trips them.
- At the end of the bake the decision (promote, roll back or inconclusive) is taken
  once at the policy's level: the two-sided 1 − α interval the policy describes,
  whose wrong-side error is α/2.
- When `onInconclusive: hold` keeps the step baking, the j-th look after the end
  tests at α/(j(j+1)), so all the extra looks together add at most α/2 more. The
  level falls polynomially while the evidence grows like √n, so a hold resolves as
  data accumulates (a geometric α/2^j would outrun the data and could hold forever).
The interim levels are two-sided, so their wrong-side share is α/4. A healthy canary
is therefore rolled back with probability at most 3α/4 per step (α/4 during the bake,
α/2 at its end), and at most 5α/4 with any number of hold looks. In simulation the
rate is lower still (tests/test_canary.py), because the Bonferroni bound ignores how
correlated successive looks are.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class Look:
    """One look at a step: how far into the bake it is and how strict it must be."""

    alpha: float
    final: bool  # at or past the end of the bake: a promotion decision may be taken


def _spent(alpha: float, fraction: float) -> float:
    if fraction <= 0:
        return 0.0
    z = _NORMAL.inv_cdf(1 - alpha / 4)
    return 2 - 2 * _NORMAL.cdf(z / min(1.0, fraction) ** 0.5)


def look(alpha: float, elapsed: float, previous: float | None, bake: float, holds: int) -> Look:
    """The level of a look `elapsed` seconds into a bake of `bake` seconds.

    `previous` is the elapsed time of the step's previous look (None for the first);
    `holds` counts looks already taken after the end of the bake.
    """
    if elapsed >= bake:
        return Look(alpha=alpha if holds == 0 else alpha / (holds * (holds + 1)), final=True)
    increment = _spent(alpha, elapsed / bake) - _spent(alpha, (previous or 0.0) / bake)
    return Look(alpha=max(increment, 1e-12), final=False)
