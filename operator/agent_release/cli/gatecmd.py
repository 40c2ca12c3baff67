"""`agent-release gate`: one EvalReport against a ReleasePolicy, no cluster needed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..api.evalreport import EvalReport
from ..api.outcomes import Result
from ..api.policy import ReleasePolicy
from ..api.types import Stage
from ..gates import evaluate
from ..manifests import ManifestError, load
from ..taskresults import load_per_task
from . import table

EXIT = {Result.PASS: 0, Result.FAIL: 1, Result.INCONCLUSIVE: 2}


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "gate",
        help="evaluate an EvalReport against a ReleasePolicy",
        description=(
            "Evaluate one EvalReport manifest against a ReleasePolicy manifest. Exit 0 Pass, "
            "1 Fail, 2 Inconclusive, 64 usage error, 65 invalid input."
        ),
    )
    parser.add_argument("--policy", required=True, type=Path, help="ReleasePolicy manifest")
    parser.add_argument("--report", required=True, type=Path, help="EvalReport manifest")
    parser.add_argument("--baseline", type=Path, help="EvalReport of the baseline release")
    parser.add_argument(
        "--stage",
        choices=[s.value for s in Stage],
        help="gate to apply (default: the report's spec.stage)",
    )
    parser.add_argument("--output", "-o", choices=["text", "json"], default="text")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    policy = load(args.policy, ReleasePolicy)
    report = load(args.report, EvalReport)
    baseline = load(args.baseline, EvalReport) if args.baseline else None
    stage = Stage(args.stage) if args.stage else report.spec.stage
    if baseline is not None and baseline.spec.stage is not report.spec.stage:
        raise ManifestError(
            f"{args.baseline}: field spec.stage: is {baseline.spec.stage.value}, the report's is "
            f"{report.spec.stage.value}; a baseline must be of the same stage"
        )
    per_task, notes = load_per_task(report.spec, args.report.parent)
    baseline_per_task: dict[str, Any] = {}
    if baseline is not None:
        baseline_per_task, more = load_per_task(baseline.spec, args.baseline.parent)
        notes += more
    decision = evaluate(
        stage,
        report.spec,
        policy.spec,
        baseline=baseline.spec if baseline else None,
        per_task=per_task,
        baseline_per_task=baseline_per_task,
    )
    if args.output == "json":
        json.dump(decision.model_dump(mode="json", by_alias=True), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        mode = policy.spec.decision
        header = [
            f"report   {report.metadata.name} (run {report.spec.run_id}) "
            f"agent {report.spec.agent}, {report.spec.candidate.describe()}",
            f"policy   {policy.metadata.name} ({mode.mode.value}, {mode.confidence * 100:g}%)",
            "baseline "
            + (
                f"{baseline.metadata.name} (run {baseline.spec.run_id})"
                if baseline
                else "none (first release)"
            ),
            *(f"note     {n}" for n in notes),
        ]
        table.write(decision, header)
    return EXIT[decision.decision]
