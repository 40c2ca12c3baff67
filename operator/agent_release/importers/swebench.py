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

from collections import Counter
from pathlib import Path

from ..api.types import Capability, FailureClass
from ..taskresults import TaskResult
from .base import (
    NO_OPTIONS,
    ImportedRun,
    ImportFormatError,
    ReadOptions,
    expect_object,
    first_lines,
    load_json,
    read_bytes,
)

_HINT = "the SWE-bench run report <model>.<run_id>.json"
_REQUIRED_LISTS = (
    "submitted_ids",
    "resolved_ids",
    "unresolved_ids",
    "error_ids",
    "empty_patch_ids",
)
_OPTIONAL_LISTS = ("completed_ids", "incomplete_ids")
_COUNTS = {
    "resolved_instances": "resolved_ids",
    "unresolved_instances": "unresolved_ids",
    "error_instances": "error_ids",
    "empty_patch_instances": "empty_patch_ids",
    "completed_instances": "completed_ids",
    "submitted_instances": "submitted_ids",
}
# Markers swebench.harness writes into run_instance.log (harness/constants).
_PATCH_APPLY_FAILED = ">>>>> Patch Apply Failed"
_TESTS_TIMED_OUT = "Test timed out after"


def read(path: Path, options: ReadOptions = NO_OPTIONS) -> ImportedRun:
    """Read one SWE-bench evaluation run from its run report."""
    file = str(path)
    root = expect_object(load_json(path, _HINT), file, "a SWE-bench run report")
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
    logs, model, run_id = _locate_logs(path, notes)
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
        if logs is not None and iid in graded:
            _check_instance(logs / iid / "report.json", iid, failure is None, all_tests_failed)
        rows.append(TaskResult(task_id=iid, passed=failure is None, failure=failure))
    if not rows:
        raise ImportFormatError(f"{file}: the run report lists no instances")

    errors = Counter(row.failure for row in rows if row.task_id in lists["error_ids"])
    unevaluated = len(rows) - len(lists["resolved_ids"] | lists["error_ids"] | not_done)
    for count, text in (
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
        benchmark="swe-bench",
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
