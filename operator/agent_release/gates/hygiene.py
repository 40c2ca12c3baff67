"""Checks of evaluation hygiene that both gates apply: seeds and version drift."""

from __future__ import annotations

from ..api.evalreport import Candidate, Slice
from ..api.outcomes import Bound, Check, GateReport, ReasonCode, Result, Unit
from ..api.types import Stage


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


def _refused(stage: Stage, name: str, reason: ReasonCode, message: str) -> GateReport:
    """A gate decided by one failed check about the report itself."""
    check = Check(name=name, metric=name, result=Result.FAIL, reason=reason, message=message)
    return GateReport.of(stage, [check])


def report_missing(stage: Stage, detail: str) -> GateReport:
    """The gate's decision when its EvalReport cannot be found (yet)."""
    message = f"no {stage.value} EvalReport: {detail}"
    return _refused(stage, "report", ReasonCode.REPORT_MISSING, message)


def report_invalid(stage: Stage, name: str, problem: str) -> GateReport:
    message = f"EvalReport {name} is invalid: {problem}"
    return _refused(stage, "report", ReasonCode.REPORT_INVALID, message)


def candidate_mismatch(
    stage: Stage, name: str, evaluated: Candidate, wanted: Candidate
) -> GateReport | None:
    """A failed gate when the report evaluated something other than the candidate.

    Model and runtime must be equal; tools are compared when the release names any,
    and then every tool version must be equal too (a tool upgrade is a new candidate).
    """
    differences = [
        f"{field} {getattr(evaluated, field)!r} (release wants {getattr(wanted, field)!r})"
        for field in ("model", "runtime")
        if getattr(evaluated, field) != getattr(wanted, field)
    ]
    if wanted.tools and evaluated.tools != wanted.tools:
        differences.append(f"tools {evaluated.tools} (release wants {wanted.tools})")
    if not differences:
        return None
    message = f"EvalReport {name} evaluated {'; '.join(differences)}"
    return _refused(stage, "candidate", ReasonCode.CANDIDATE_MISMATCH, message)
