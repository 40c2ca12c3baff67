"""How numbers read in check messages: rates in percent, differences in points,
ratios with a multiplication sign, intervals in brackets. One place, so every
message in conditions, Events, CLI tables and logs reads the same way."""

from __future__ import annotations

from ..stats import Bounds


def pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def pts(value: float) -> str:
    return f"{value * 100:+.1f} pts"


def times(value: float) -> str:
    return f"×{value:.2f}"


def seconds(value: float) -> str:
    return f"{value:.1f}s"


def usd(value: float) -> str:
    return f"${value:.4g}"


def interval(bounds: Bounds | None, fmt: str, confidence: float) -> str:
    """' (95% CI 61.9%–70.2%)' or '' when there is no interval."""
    if bounds is None:
        return ""
    low, high = _FORMATS[fmt](bounds.low), _FORMATS[fmt](bounds.high)
    return f" ({confidence * 100:g}% CI {low} to {high})"


_FORMATS = {"pct": pct, "pts": pts, "times": times, "seconds": seconds, "usd": usd}


def fmt(value: float, kind: str) -> str:
    return _FORMATS[kind](value)
