"""`agent-release import`: real benchmark outputs to an EvalReport manifest.

Every PATH is one run of the same slice and becomes one seed. Per-task rows can be
written beside the report (`--results`), and the report then points at them with a
digest, so `agent-release gate` can compare candidate and baseline task by task.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from ..api.types import Capability, Stage
from ..importers import (
    FORMATS,
    ImportedRun,
    ImportInputError,
    PassRule,
    ReadOptions,
    ReportFlags,
    build_report,
    read_runs,
    slice_rows,
)
from ..taskresults import dump_task_lines
from .errors import UsageError


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "import",
        help="convert benchmark outputs into an EvalReport",
        description=(
            "Convert real benchmark outputs into an EvalReport manifest. Several PATHs of "
            "the same slice become several seeds. Formats: " + ", ".join(FORMATS) + "."
        ),
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    parser.add_argument("--format", required=True, choices=list(FORMATS), dest="fmt")
    parser.add_argument(
        "--scorer",
        help="inspect: the scorer that decides a pass; harbor: the reward key; lm-eval: the "
        "metric[,filter] (default: the first)",
    )
    parser.add_argument(
        "--pass",
        dest="pass_rule",
        choices=[rule.value for rule in PassRule],
        help="mle-bench: the medal that counts as a pass (default: the report's medals, any)",
    )
    parser.add_argument("--slice", dest="slice_name", help="slice name (default: the benchmark)")
    parser.add_argument("--capability", choices=[c.value for c in Capability])
    parser.add_argument("--agent", help="the agent service evaluated")
    parser.add_argument("--model", help="the model evaluated (default: as the files say)")
    parser.add_argument("--runtime", help="the agent runtime version")
    parser.add_argument(
        "--tool", action="append", default=[], metavar="NAME=VERSION", help="repeatable"
    )
    parser.add_argument("--run-id", help="eval run ID (default: as the files say)")
    parser.add_argument("--stage", choices=[s.value for s in Stage])
    parser.add_argument("--suite", dest="suite_name", help="suite name (default: the slice)")
    parser.add_argument("--dataset-version")
    parser.add_argument("--harness-version")
    parser.add_argument("--holdout", action="store_true", help="the suite is a private holdout")
    parser.add_argument("--name", help="metadata.name (default: <agent>-<run id>)")
    parser.add_argument("--namespace")
    parser.add_argument("-o", "--output", type=Path, help="report file (default: stdout)")
    parser.add_argument(
        "--results",
        type=Path,
        help="also write the per-task rows (jsonl) here and point the report at them",
    )
    parser.set_defaults(run=run)


def _tools(pairs: list[str]) -> dict[str, str]:
    tools = {}
    for pair in pairs:
        name, sep, version = pair.partition("=")
        if not sep or not name or not version:
            raise UsageError(f"agent-release import: --tool {pair!r}: expected NAME=VERSION")
        tools[name] = version
    return tools


def run(args: argparse.Namespace) -> int:
    tools = _tools(args.tool)  # the command line first: no file is read for a bad one
    options = ReadOptions(
        scorer=args.scorer,
        pass_rule=PassRule(args.pass_rule) if args.pass_rule else None,
    )
    runs = read_runs(args.fmt, args.paths, options)
    flags = ReportFlags(
        slice_name=args.slice_name,
        capability=Capability(args.capability) if args.capability else None,
        agent=args.agent,
        model=args.model,
        runtime=args.runtime,
        tools=tools,
        run_id=args.run_id,
        stage=Stage(args.stage) if args.stage else None,
        suite_name=args.suite_name,
        dataset_version=args.dataset_version,
        harness_version=args.harness_version,
        holdout=args.holdout,
        name=args.name,
        namespace=args.namespace,
    )
    if args.results is not None:
        flags = _write_results(args, runs, flags)
    report = build_report(runs, flags)
    text = yaml.safe_dump(report.wire(), sort_keys=False, allow_unicode=True)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    for imported in runs:
        for note in imported.notes:
            print(f"note: {note}", file=sys.stderr)
    item = report.spec.slices[0]
    print(
        f"{args.output or 'stdout'}: slice {item.name} ({item.capability.value}), "
        f"{len(item.seeds)} seed(s), {item.tasks} tasks, {item.passed} passed",
        file=sys.stderr,
    )
    return 0


def _write_results(
    args: argparse.Namespace, runs: list[ImportedRun], flags: ReportFlags
) -> ReportFlags:
    """Write the per-task rows and return the flags that point the report at them."""
    counts_only = [r.source for r in runs if not r.per_task]
    if counts_only:
        raise ImportInputError(
            f"--results: {counts_only[0]} has only aggregate counts, not per-task results"
        )
    text = dump_task_lines(slice_rows(runs, flags))
    try:
        args.results.write_text(text, encoding="utf-8")
    except OSError as error:
        raise ImportInputError(
            f"--results: cannot write {args.results}: {error.strerror}"
        ) from None
    base = args.output.parent if args.output else Path.cwd()
    return replace(
        flags,
        results_uri=os.path.relpath(args.results.resolve(), base.resolve()),
        results_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )
