"""tau-bench (v1): the checkpoint file `tau_bench.run` writes, a JSON array of task results.

Each element is `{task_id, reward, info, traj, trial}`; each becomes one row:

* `info.error` -> infra_error. tau-bench wraps the whole episode in one `except` and
  records only the exception: the user simulator, the LLM provider and the agent all
  fail the same way, so the task has no outcome to blame on the agent.
* `reward` of 1 (within 1e-6, tau-bench's own test) -> passed.
* no `info.reward_info` -> timeout. The environment computes the reward only when
  the episode ends (the user says ###STOP### or a terminating tool is called), so a
  result without one ran out of steps (`max_num_steps`) before finishing.
* otherwise -> wrong_result: the episode ended and the outcome was graded wrong.

`trial` (0-based) is the seed when tasks repeat; see `trial_seeds`. The file holds no
agent cost (`info.user_cost` is the user simulator's, not what is released), no
durations and no tokens. The model is read from the checkpoint's file name,
`<strategy>-<model>-<temperature>_range_<start>-<end>_user-<user model>-<user
strategy>_<time>.json`.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..api.types import Capability, FailureClass
from ..taskresults import TaskResult
from .base import (
    NO_OPTIONS,
    REWARD_MAX,
    ImportedRun,
    ImportFormatError,
    ReadOptions,
    Record,
    load_json,
    reward_passed,
    show,
    trial_seeds,
)

_HINT = "a tau-bench results file (a JSON array)"
_FILE_NAME = re.compile(
    r"^(?:tool-calling|orchestrated-tool-calling|act|react|few-shot)-(?P<model>.+)"
    r"-\d+(?:\.\d+)?_range_-?\d+--?\d+_user-"
)


def read(path: Path, _options: ReadOptions = NO_OPTIONS) -> ImportedRun:
    """Read one tau-bench run (all its trials) from its results file."""
    file = str(path)
    data = load_json(path, _HINT)
    if not isinstance(data, list):
        raise ImportFormatError(f"{file}: expected a tau-bench results array, got {show(data)}")
    if not data:
        raise ImportFormatError(f"{file}: the results array is empty")
    rows: list[TaskResult] = []
    trials: list[int | None] = []
    crashes: list[str] = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise ImportFormatError(
                f"{file}: field '[{index}]' must be an object, got {show(item)}"
            )
        result = Record(item, file, f"[{index}]")
        reward = result.number("reward", upper=REWARD_MAX)
        info = result.child("info")
        failure: FailureClass | None
        if "error" in info:
            failure = FailureClass.INFRA_ERROR
            crashes.append(str(info.raw("error")))
        elif reward_passed(reward):
            failure = None
        elif info.opt_child("reward_info") is None:
            failure = FailureClass.TIMEOUT
        else:
            failure = FailureClass.WRONG_RESULT
        rows.append(
            TaskResult(task_id=result.ident("task_id"), passed=failure is None, failure=failure)
        )
        trial = result.opt_count("trial")
        trials.append(None if trial is None else trial + 1)

    notes: list[str] = []
    rows = trial_seeds(rows, trials, file, "trial", notes)
    if crashes:
        notes.append(
            f"{len(crashes)} task(s) crashed (info.error, e.g. {crashes[0][:80]!r}): infra_error"
        )
    timeouts = sum(row.failure is FailureClass.TIMEOUT for row in rows)
    if timeouts:
        notes.append(f"{timeouts} task(s) ended without a reward (step limit): timeout")
    name = _FILE_NAME.match(path.name)
    return ImportedRun(
        source=path,
        results=rows,
        benchmark="tau-bench",
        capability=Capability.TOOL_DIALOG,
        model=name.group("model") if name else None,
        notes=notes,
    )
