"""SWE-bench (`swebench.harness.run_evaluation`): the run report `<model>.<run_id>.json`.

Every instance the report names is one task; only `resolved_ids` pass. The rest:

* `error_ids` -> infra_error: the harness has no report.json for the instance
  (container build failure, a crash, a test run past the timeout, a patch that does
  not apply). When the `logs/run_evaluation/<run_id>/<model>/` folder the harness
  writes beside the report is present, its `run_instance.log` tells two agent-caused
  errors apart: a patch that does not apply is wrong_result, a test run that hit the
  harness timeout is timeout.
* `empty_patch_ids` -> wrong_result: the agent submitted no change at all.
* `unresolved_ids` -> wrong_result: the patch was graded and tests still fail.
* `incomplete_ids` (dataset instances without a prediction) -> wrong_result, like
  an empty patch: SWE-bench's own score divides by the whole evaluated dataset.
* submitted ids in none of the lists (the harness was asked for fewer instances
  than were submitted: `total_instances` < `submitted_instances`) -> infra_error:
  the harness never evaluated them, and a pass rate must not silently drop them.

The report carries no dataset or harness version (`schema_version` is the version
of the report's own layout), no durations, tokens or costs: those come from flags.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from ..api.types import Capability, FailureClass
from ..taskresults import TaskResult
from .base import (
    NO_OPTIONS,
    ImportedRun,
    ImportFormatError,
    ReadOptions,
    Record,
    expect_object,
    first_lines,
    load_json,
    placeholder_rows,
    read_bytes,
)

_HINT = "a SWE-bench run report (<model>.<run_id>.json) or a leaderboard results.json"
_REQUIRED_LISTS = (
    "submitted_ids",
    "resolved_ids",
    "unresolved_ids",
    "error_ids",
    "empty_patch_ids",
)
_OPTIONAL_LISTS = ("completed_ids", "incomplete_ids", "infra_failure_ids")
_COUNTS = {
    "resolved_instances": "resolved_ids",
    "unresolved_instances": "unresolved_ids",
    "error_instances": "error_ids",
    "empty_patch_instances": "empty_patch_ids",
    "completed_instances": "completed_ids",
    "submitted_instances": "submitted_ids",
}
# sb-cli get-report names its report `<subset>__<split>__<run_id>.json`.
_SB_CLI_NAME = re.compile(r"^(?P<subset>[^_].*?)__(?P<split>dev|test)__(?P<run_id>.+)\.json$")
# Leaderboard results.json (SWE-bench/experiments, evaluation/<split>/<run>/results/):
# the lists it may hold, in the order a verdict is taken, and their class.
_LEADERBOARD = {
    "resolved": None,
    "test_timeout": FailureClass.TIMEOUT,
    "no_apply": FailureClass.WRONG_RESULT,  # the agent's patch does not apply
    "install_fail": FailureClass.INFRA_ERROR,
    "reset_failed": FailureClass.INFRA_ERROR,
    "test_errored": FailureClass.INFRA_ERROR,
    "no_logs": FailureClass.INFRA_ERROR,  # never evaluated
    "no_generation": FailureClass.WRONG_RESULT,  # no patch at all
    "generated": FailureClass.WRONG_RESULT,  # a patch, graded, not resolved
    "with_logs": FailureClass.WRONG_RESULT,
    "applied": FailureClass.WRONG_RESULT,
}
# The leaderboard files list resolved ids but not the dataset: its size per split.
_SPLIT_SIZES = {"verified": 500, "lite": 300, "test": 2294, "multilingual": 300}
# Markers swebench.harness writes into run_instance.log (harness/constants).
_PATCH_APPLY_FAILED = ">>>>> Patch Apply Failed"
_TESTS_TIMED_OUT = "Test timed out after"


def read(path: Path, _options: ReadOptions = NO_OPTIONS) -> ImportedRun:
    """Read one SWE-bench evaluation run: a run report, or a leaderboard results.json."""
    file = str(path)
    root = expect_object(load_json(path, _HINT), file, "a SWE-bench report")
    if "resolved_ids" not in root and "resolved" in root:
        return _leaderboard(path, root)
    if "resolved_ids" not in root:
        raise ImportFormatError(
            f"{file}: not a SWE-bench report: expected 'resolved_ids' (a run report of the "
            "harness, sb-cli or Multi-SWE-bench) or 'resolved' (a leaderboard results.json)"
        )
    return _run_report(path, root)


def _run_report(path: Path, root: Record) -> ImportedRun:
    """The harness's `<model>.<run_id>.json`, sb-cli's and Multi-SWE-bench's reports."""
    file = str(path)
    multi = "incomplete_instances" in root and "schema_version" not in root
    sb_cli = _SB_CLI_NAME.match(path.name) if "pending_instances" in root else None
    ordered = {key: root.texts(key) for key in _REQUIRED_LISTS}
    ordered |= {key: root.opt_texts(key) for key in _OPTIONAL_LISTS}
    lists = {key: set(ids) for key, ids in ordered.items()}
    for count_key, list_key in _COUNTS.items():
        if count_key in root and root.count(count_key) != len(lists[list_key]):
            raise ImportFormatError(
                f"{file}: field '{count_key}' is {root.count(count_key)}, "
                f"but '{list_key}' lists {len(lists[list_key])}"
            )
    notes: list[str] = []
    benchmark = "swe-bench"
    if multi:
        # Multi-SWE-bench lists its failed tasks as both incomplete and error ids.
        benchmark, model, run_id, logs = "multi-swe-bench", None, None, None
        lists["error_ids"] |= lists["incomplete_ids"]
        lists["incomplete_ids"] = set()
        notes.append("a Multi-SWE-bench final report: its incomplete (failed) tasks: infra_error")
    elif sb_cli is not None:
        benchmark = sb_cli.group("subset").replace("_", "-")
        model, run_id, logs = None, sb_cli.group("run_id"), None
        pending = root.opt_count("pending_instances") or 0
        if pending:
            notes.append(
                f"{pending} instance(s) still pending in sb-cli: the report is not final, and "
                "unlisted submitted instances are infra_error"
            )
    else:
        logs, model, run_id = _locate_logs(path, notes)
    environment = lists["infra_failure_ids"] & lists["unresolved_ids"]
    lists["unresolved_ids"] -= environment
    lists["error_ids"] |= environment
    graded = lists["resolved_ids"] | lists["unresolved_ids"]
    not_done = lists["unresolved_ids"] | lists["empty_patch_ids"] | lists["incomplete_ids"]

    rows: list[TaskResult] = []
    all_tests_failed: list[str] = []
    for iid in dict.fromkeys(iid for ids in ordered.values() for iid in ids):
        failure: FailureClass | None
        if iid in lists["resolved_ids"]:
            failure = None
        elif iid in lists["error_ids"]:
            failure = _error_class(logs, iid)
        elif iid in not_done:
            failure = FailureClass.WRONG_RESULT
        else:  # submitted, but outside the dataset the harness evaluated
            failure = FailureClass.INFRA_ERROR
        if iid in environment:
            failure = FailureClass.INFRA_ERROR
        if logs is not None and iid in graded:
            _check_instance(logs / iid / "report.json", iid, failure is None, all_tests_failed)
        rows.append(TaskResult(task_id=iid, passed=failure is None, failure=failure))
    if not rows:
        raise ImportFormatError(f"{file}: the run report lists no instances")

    errors = Counter(row.failure for row in rows if row.task_id in lists["error_ids"])
    unevaluated = len(rows) - len(lists["resolved_ids"] | lists["error_ids"] | not_done)
    errors[FailureClass.INFRA_ERROR] -= len(environment)
    for count, text in (
        (
            len(environment),
            "unresolved instance(s) the harness flags as environment failures "
            "(infra_failure_ids): infra_error",
        ),
        (errors[FailureClass.INFRA_ERROR], "error instance(s) without report.json: infra_error"),
        (
            errors[FailureClass.WRONG_RESULT],
            "error instance(s) whose patch does not apply (run_instance.log): wrong_result",
        ),
        (
            errors[FailureClass.TIMEOUT],
            "error instance(s) whose tests ran past the harness "
            "timeout (run_instance.log): timeout",
        ),
        (len(lists["empty_patch_ids"]), "empty patch(es): wrong_result"),
        (
            len(lists["incomplete_ids"]),
            "dataset instance(s) without a prediction (incomplete_ids): wrong_result",
        ),
        (
            unevaluated,
            "submitted instance(s) the harness never evaluated "
            "(total_instances < submitted_instances): infra_error",
        ),
    ):
        if count:
            notes.append(f"{count} {text}")
    if all_tests_failed:
        notes.append(
            f"{len(all_tests_failed)} unresolved instance(s) fail every test in report.json, "
            f"often a broken test environment: {first_lines(all_tests_failed)}"
        )
    return ImportedRun(
        source=path,
        results=rows,
        benchmark=benchmark,
        capability=Capability.CODE,
        model=model,
        run_id=run_id,
        notes=notes,
    )


def _locate_logs(path: Path, notes: list[str]) -> tuple[Path | None, str | None, str | None]:
    """The per-instance log folder, the model and the run id of a run report.

    The harness names the report `<model>.<run_id>.json` (with "/" in the model
    written as "__") and writes `logs/run_evaluation/<run_id>/<model>/<instance>/`
    in the same working directory. Both names may contain dots, so the log folder,
    when present, is what splits the file name; without it only a name with a single
    dot is unambiguous.
    """
    stem = path.name.removesuffix(".json")
    runs = path.parent / "logs" / "run_evaluation"
    if runs.is_dir():
        for run_dir in sorted(runs.iterdir()):
            model_dir = stem.removesuffix(f".{run_dir.name}")
            if model_dir != stem and (run_dir / model_dir).is_dir():
                return run_dir / model_dir, model_dir.replace("__", "/"), run_dir.name
    if stem.count(".") == 1:
        model_dir, run_id = stem.split(".")
        return None, model_dir.replace("__", "/"), run_id
    notes.append(
        f"cannot split {path.name!r} into <model>.<run_id> without its logs folder: "
        "pass --model and --run-id"
    )
    return None, None, None


def _error_class(logs: Path | None, iid: str) -> FailureClass:
    """Why an error instance has no report: the agent's patch, a timeout, or the harness."""
    log = None if logs is None else logs / iid / "run_instance.log"
    if log is None or not log.is_file():
        return FailureClass.INFRA_ERROR
    text = read_bytes(log, _HINT).decode("utf-8", errors="replace")
    if _PATCH_APPLY_FAILED in text:
        return FailureClass.WRONG_RESULT
    if _TESTS_TIMED_OUT in text:
        return FailureClass.TIMEOUT
    return FailureClass.INFRA_ERROR


def _check_instance(report: Path, iid: str, resolved: bool, all_failed: list[str]) -> None:
    """Cross-check an instance's report.json with the run report, and spot dead test runs.

    The harness builds the run report from these files, so a disagreement means the
    two come from different runs: refused rather than guessed.
    """
    if not report.is_file():
        return
    file = str(report)
    status = expect_object(load_json(report, _HINT), file, "a SWE-bench instance report")
    instance = status.child(iid)
    if instance.flag("resolved") != resolved:
        raise ImportFormatError(
            f"{file}: field '{iid}.resolved' is {str(not resolved).lower()}, but the run "
            f"report lists {iid} as {'resolved' if resolved else 'unresolved'}"
        )
    tests = instance.opt_child("tests_status")
    if tests is None or resolved:
        return
    groups = [tests.opt_child(name) for name in ("FAIL_TO_PASS", "PASS_TO_PASS")]
    if all(g is not None and not g.opt_texts("success") and g.opt_texts("failure") for g in groups):
        all_failed.append(iid)


def _leaderboard(path: Path, root: Record) -> ImportedRun:
    """A leaderboard `results.json`: resolved id lists, the rest of the split unresolved.

    The file names only some instances (resolved, no generation, no logs, ...); the
    others of the split were graded unresolved. The split comes from the folder the
    file sits in (`evaluation/<split>/<run>/results/results.json`), whose size is
    known; elsewhere the file is refused, since a pass rate over the listed ids alone
    would be inflated.
    """
    file = str(path)
    verdicts: dict[str, FailureClass | None] = {}
    for key, failure in _LEADERBOARD.items():
        for iid in root.opt_texts(key):
            verdicts.setdefault(iid, failure)
    parts = path.resolve().parts
    split = parts[parts.index("evaluation") + 1] if "evaluation" in parts[:-1] else None
    size = _SPLIT_SIZES.get(split or "")
    if size is None:
        raise ImportFormatError(
            f"{file}: a leaderboard results.json names only some instances of its split; "
            "it must sit in evaluation/<split>/<run>/results/ with split "
            f"{', '.join(_SPLIT_SIZES)} to count the others"
        )
    if len(verdicts) > size:
        raise ImportFormatError(
            f"{file}: lists {len(verdicts)} instances, more than the {size} of split {split}"
        )
    rows = [TaskResult(iid, failure is None, 1, failure) for iid, failure in verdicts.items()]
    unlisted = size - len(rows)
    rows += placeholder_rows("unlisted", [(FailureClass.WRONG_RESULT, unlisted)])
    run = path.parent.parent.name if path.parent.name == "results" else None
    return ImportedRun(
        source=path,
        results=rows,
        benchmark=f"swe-bench-{split}",
        capability=Capability.CODE,
        run_id=run,
        notes=[
            f"a leaderboard results.json: {unlisted} instance(s) of the {size} of split "
            f"{split} are not listed and count as unresolved (wrong_result), under "
            "placeholder ids"
        ],
        per_task=unlisted == 0,
    )
