"""Per-release windows cut out of batched query results.

Each point of a range query is the increase over the analysis interval ending at
that point; a release's bake window takes the points whose whole interval lies
inside it, so windows are exact to one interval and never count data from before
the step began. Numerator and denominator stay aligned per interval: the intervals
are the units of the ratio estimator's variance (cost per successful task).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from .queries import Points, SeriesKey

_SLACK = 1.0  # seconds: evaluation timestamps and step starts are not perfectly aligned


@dataclass(frozen=True, slots=True)
class SideWindow:
    """One revision, one guardrail, one bake window."""

    numerator: tuple[float, ...] = ()
    denominator: tuple[float, ...] = ()
    buckets: tuple[tuple[float, float], ...] = ()  # (le, cumulative count) over the window

    @property
    def numerator_total(self) -> float:
        return math.fsum(self.numerator)

    @property
    def denominator_total(self) -> float:
        return math.fsum(self.denominator)


def _inside(points: Points, start: float, interval: float) -> dict[float, float]:
    return {t: v for t, v in points if t - interval >= start - _SLACK}


def side(
    series: Mapping[SeriesKey, Points], agent: str, revision: str, start: float, interval: float
) -> SideWindow:
    """The window of one (agent, revision) from one guardrail's parsed results."""
    numerator = _inside(series.get(SeriesKey(agent, revision, "numerator"), ()), start, interval)
    denominator = _inside(
        series.get(SeriesKey(agent, revision, "denominator"), ()), start, interval
    )
    stamps = sorted(numerator.keys() | denominator.keys())
    buckets: dict[float, float] = defaultdict(float)
    for key, points in series.items():
        if key.agent != agent or key.revision != revision:
            continue
        if key.part in ("numerator", "denominator", "value"):
            continue
        bound = math.inf if key.part in ("+Inf", "Inf") else float(key.part)
        buckets[bound] += math.fsum(_inside(points, start, interval).values())
    return SideWindow(
        numerator=tuple(numerator.get(t, 0.0) for t in stamps),
        denominator=tuple(denominator.get(t, 0.0) for t in stamps),
        buckets=tuple(sorted(buckets.items())),
    )


def traffic(
    series: Mapping[SeriesKey, Points], agent: str, revision: str, start: float, interval: float
) -> float:
    """Tasks served by one revision in its window (for `minSamples`)."""
    points = series.get(SeriesKey(agent, revision, "value"), ())
    return math.fsum(_inside(points, start, interval).values())
