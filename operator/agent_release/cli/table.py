"""The text form of a gate decision: a compact table a person reads at a glance.

Colour only when stdout is a terminal (and NO_COLOR is unset), so CI logs and
pipes get plain text.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TextIO

from ..api.outcomes import Bound, Check, GateReport, Result, Unit

_COLOURS = {
    Result.PASS: "32",
    Result.FAIL: "31",
    Result.INCONCLUSIVE: "33",
    Result.NOT_APPLICABLE: "2",
}


def use_colour(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


def _paint(text: str, result: Result, colour: bool) -> str:
    return f"\033[{_COLOURS[result]}m{text}\033[0m" if colour else text


def _number(value: float | None, unit: Unit | None, as_baseline: bool = False) -> str:
    if value is None:
        return ""
    if unit is Unit.RATE or (unit is Unit.DELTA and as_baseline):
        return f"{value * 100:.1f}%"
    if unit is Unit.DELTA:
        return f"{value * 100:+.1f} pts"
    if unit is Unit.RATIO and not as_baseline:
        return f"×{value:.2f}"
    if unit is Unit.COUNT:
        return f"{value:g}"
    return f"{value:.4g}"


def _observed(check: Check) -> str:
    text = _number(check.observed, check.unit)
    if check.interval is None or check.unit is None:
        return text
    low, high = check.interval.low, check.interval.high
    if check.unit is Unit.RATE:
        return f"{text} [{low * 100:.1f}, {high * 100:.1f}]"
    if check.unit is Unit.DELTA:
        return f"{text} [{low * 100:+.1f}, {high * 100:+.1f}]"
    return f"{text} [{low:.2f}, {high:.2f}]"


def _threshold(check: Check) -> str:
    if check.threshold is None:
        return ""
    sign = "≤" if check.bound is Bound.MAX else "≥"
    return f"{sign} {_number(check.threshold, check.unit)}"


def _metric(check: Check) -> str:
    if check.unit is Unit.DELTA:
        return f"Δ {check.metric}"
    if check.unit is Unit.RATIO:
        return f"{check.metric} ratio"
    return check.metric


def render(report: GateReport, header: Sequence[str], colour: bool) -> str:
    """Header lines, the table of checks, then the message of each non-passing check.

    Not-applicable checks (no baseline, a metric neither run reports) are summed up
    in one line under the table instead of filling it with empty rows.
    """
    reasons = f" ({', '.join(r.value for r in report.reasons)})" if report.reasons else ""
    title = f"{report.stage.value} gate: {_paint(report.decision.value, report.decision, colour)}"
    lines = [title + reasons, *header, ""]
    shown = [c for c in report.checks if c.result is not Result.NOT_APPLICABLE]
    heads = ("SLICE", "METRIC", "OBSERVED [CI]", "BASELINE", "THRESHOLD", "RESULT")
    rows = [
        (
            c.slice or "-",
            _metric(c),
            _observed(c),
            _number(c.baseline, c.unit, as_baseline=True),
            _threshold(c),
            c.result.value,
        )
        for c in shown
    ]
    widths = [max(len(r[i]) for r in (heads, *rows)) for i in range(len(heads))]
    lines.append("  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)).rstrip())
    for check, row in zip(shown, rows, strict=True):
        cells = [cell.ljust(w) for cell, w in zip(row[:-1], widths[:-1], strict=True)]
        lines.append("  ".join([*cells, _paint(row[-1], check.result, colour)]))
    skipped: dict[str, list[str]] = {}
    for check in report.checks:
        if check.result is Result.NOT_APPLICABLE:
            why = check.message.split(": ", 1)[-1]
            skipped.setdefault(why, []).append(check.name)
    for why, names in skipped.items():
        lines.append(f"not applicable ({len(names)}): {why} — {', '.join(sorted(set(names)))}")
    notable = [c for c in shown if c.result in (Result.FAIL, Result.INCONCLUSIVE)]
    if notable:
        lines.append("")
        lines.extend(
            f"{_paint(c.result.value, c.result, colour)} [{c.reason.value if c.reason else '-'}] "
            f"{c.message}"
            for c in notable
        )
    return "\n".join(lines) + "\n"


def write(report: GateReport, header: Sequence[str], stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    out.write(render(report, header, use_colour(out)))
