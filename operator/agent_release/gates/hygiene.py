"""Checks of evaluation hygiene that both gates apply: seeds and version drift."""

from __future__ import annotations

from ..api.evalreport import Slice
from ..api.outcomes import Bound, Check, ReasonCode, Result, Unit


def seeds_check(item: Slice, minimum: int) -> Check:
    count = len(item.seeds)
    ok = count >= minimum
    return Check(
        name="seeds",
        slice=item.name,
        metric="seeds",
        unit=Unit.COUNT,
        observed=count,
        threshold=minimum,
        bound=Bound.MIN,
        result=Result.PASS if ok else Result.FAIL,
        reason=None if ok else ReasonCode.INSUFFICIENT_SEEDS,
        message=f"{item.name}: {count} seed{'s' if count != 1 else ''}"
        + ("" if ok else f", the policy requires at least {minimum}"),
    )


def version_drift(what: str, candidate: tuple[str, str], baseline: tuple[str, str]) -> Check | None:
    """Inconclusive when the runs used different dataset or harness versions.

    Scores from different dataset or harness versions are not comparable (tasks are
    added, fixed or re-graded between versions), so the comparison is refused rather
    than made: the decision cannot be Pass, and the candidate is not blamed either.
    """
    if candidate == baseline:
        return None
    parts = []
    for label, c, b in zip(("dataset", "harness"), candidate, baseline, strict=True):
        if c != b:
            parts.append(f"{label} {c} vs baseline {b}")
    return Check(
        name="version-drift",
        slice=what if what != "suite" else None,
        metric="versions",
        result=Result.INCONCLUSIVE,
        reason=ReasonCode.VERSION_DRIFT,
        message=f"{what}: baseline comparison refused, {'; '.join(parts)}",
    )
