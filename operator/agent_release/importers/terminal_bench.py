"""Terminal-Bench (`tb run`): the run-level `results.json`, with `run_metadata.json` beside it.

PATH is a run folder, its `results.json`, or one trial's `results.json` (the same
per-trial schema, for a one-task look). Each trial becomes one row:

* `is_resolved: true` passes, whatever `failure_mode` says. The harness runs the
  tests after an agent timeout, so "resolved together with agent_timeout" means the
  work was done when the clock ran out; the release question is whether the task got
  done, so it counts (and a note names those trials).
* Otherwise `failure_mode` picks the class (`_FAILURE_MODES`), and a mode that says
  nothing (`unset`, `none`, `unknown`, or a new one) falls back on `is_resolved`:
  `false` means the tests ran and failed (wrong_result), `null` means the trial was
  never graded (infra_error).

The run file is parsed with one `json.loads` and a loop over plain dicts: it is what
every pull request imports, so it stays well under a millisecond per trial.
"""

from __future__ import annotations

import re
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
    load_json,
    trial_seeds,
)

_HINT = "a Terminal-Bench run folder or its results.json"

# Why each failure mode lands where it does (modes of terminal_bench/agents/failure_mode.py):
_FAILURE_MODES = {
    # A budget ran out before the agent finished: the wall clock of the agent or of
    # the tests, or the model's context/output window (the agent used it up).
    "agent_timeout": FailureClass.TIMEOUT,
    "test_timeout": FailureClass.TIMEOUT,
    "context_length_exceeded": FailureClass.TIMEOUT,
    "output_length_exceeded": FailureClass.TIMEOUT,
    # The agent's own machinery failed: the model kept emitting actions that could
    # not be parsed into commands, or the agent (part of the candidate) raised.
    "fatal_llm_parse_error": FailureClass.TOOL_ERROR,
    "unknown_agent_error": FailureClass.TOOL_ERROR,
    # The harness failed: it could not read the test output, or could not install
    # the agent in the task container. Neither says anything about the agent.
    "parse_error": FailureClass.INFRA_ERROR,
    "agent_installation_failed": FailureClass.INFRA_ERROR,
}
_TIMEOUT_MODES = frozenset(
    mode for mode, failure in _FAILURE_MODES.items() if failure is FailureClass.TIMEOUT
)
# "<task>.<attempt>-of-<attempts>.<run id>", as the harness names trials.
_ATTEMPT = re.compile(r"\.(\d+)-of-\d+\.")


def read(path: Path, _options: ReadOptions = NO_OPTIONS) -> ImportedRun:
    """Read one `tb run` (all its trials) from a run folder or a results.json."""
    file = path / "results.json" if path.is_dir() else path
    root = expect_object(load_json(file, _HINT), str(file), "a Terminal-Bench results.json")
    if "results" in root:
        trials: list[Record] = list(root.children("results"))
        metadata_file = file.parent / "run_metadata.json"
    elif "trial_name" in root:
        trials = [root]  # one trial's results.json: <run>/<task>/<trial>/results.json
        metadata_file = file.parent.parent.parent / "run_metadata.json"
    else:
        raise ImportFormatError(
            f"{file}: not a Terminal-Bench results.json: expected 'results' (a run) "
            "or 'trial_name' (one trial)"
        )
    if not trials:
        raise ImportFormatError(f"{file}: field 'results' is empty: the run has no trials")

    notes: list[str] = []
    rows: list[TaskResult] = []
    attempts: list[int | None] = []
    timed_out_passes: list[str] = []
    zero_tokens = 0
    for trial in trials:
        task_id = trial.text("task_id")
        resolved = trial.opt_flag("is_resolved")
        mode = trial.opt_text("failure_mode") or "unset"
        failure: FailureClass | None
        if resolved:
            failure = None
            if mode in _TIMEOUT_MODES:
                timed_out_passes.append(task_id)
        else:
            fallback = FailureClass.INFRA_ERROR if resolved is None else FailureClass.WRONG_RESULT
            failure = _FAILURE_MODES.get(mode, fallback)
        input_tokens = trial.opt_count("total_input_tokens")
        output_tokens = trial.opt_count("total_output_tokens")
        if input_tokens == 0 and output_tokens == 0:
            # Installed agents (Claude Code, Cursor, ...) hard-code 0: "not reported".
            input_tokens = output_tokens = None
            zero_tokens += 1
        duration = trial.seconds("agent_started_at", "agent_ended_at")
        if duration is None:
            duration = trial.seconds("trial_started_at", "trial_ended_at")
        rows.append(
            TaskResult(
                task_id=task_id,
                passed=bool(resolved),
                failure=failure,
                duration_seconds=duration,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
            )
        )
        attempt = _ATTEMPT.search(trial.opt_text("trial_name") or "")
        attempts.append(int(attempt.group(1)) if attempt else None)

    if "results" in root and "n_resolved" in root:
        reported = root.count("n_resolved")
        if reported != sum(row.passed for row in rows):
            raise ImportFormatError(
                f"{file}: field 'n_resolved' is {reported}, but "
                f"{sum(row.passed for row in rows)} trials have is_resolved true"
            )
    rows = trial_seeds(rows, attempts, str(file), "trial_name", notes)
    if timed_out_passes:
        notes.append(
            f"{len(timed_out_passes)} trial(s) resolved although the agent timed out "
            f"({', '.join(timed_out_passes)}): counted as passed, the tests passed"
        )
    if zero_tokens:
        notes.append(
            f"{zero_tokens} trial(s) report 0 input and 0 output tokens, which installed "
            "agents write when they do not count tokens: read as unknown"
        )
    meta = _metadata(metadata_file, notes)
    return ImportedRun(
        source=path,
        results=rows,
        benchmark=meta.opt_text("dataset_name") or "terminal-bench",
        capability=Capability.TERMINAL,
        model=meta.opt_text("model_name"),
        dataset_version=meta.opt_text("dataset_version"),
        harness_version=meta.opt_text("commit_hash"),
        run_id=meta.opt_text("run_id") or root.opt_text("id"),
        notes=notes,
    )


def _metadata(file: Path, notes: list[str]) -> Record:
    """`run_metadata.json` (dataset, harness commit, run id, model), or an empty record."""
    if not file.is_file():
        notes.append(
            "no run_metadata.json beside results.json: pass --dataset-version and --harness-version"
        )
        return Record({}, str(file))
    meta = expect_object(load_json(file, _HINT), str(file), "a Terminal-Bench run_metadata.json")
    if meta.opt_text("commit_hash") is not None:
        notes.append(
            "harness version is run_metadata.json commit_hash, the git HEAD of the folder "
            "'tb run' ran in; pass --harness-version if tb was installed as a package"
        )
    return meta
