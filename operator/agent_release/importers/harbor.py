"""Harbor (`harbor run`, the Terminal-Bench 2.x harness): job and trial `result.json` files.

PATH is a job folder (its `result.json` and one folder per trial, each with its own
`result.json`), a job-level `result.json`, or one trial's `result.json`; the two
levels share the name and differ in shape (`n_total_trials` vs `trial_name`). Each
trial is one row; a task run several times (`--n-attempts`) has its k-th attempt, in
start order, as seed k. A trial passes when its reward (`verifier_result.rewards`,
keyed by strings: `reward` by default, `--scorer KEY` for another) is 1 (within
1e-6). Otherwise (`_verdict`):

* any exception that is not the agent's own (environment, sandbox, model API,
  verifier) -> infra_error, whatever the reward: Harbor counts such a trial as
  completed *and* errored, drops its reward and still averages it as 0.0, but
  nothing was learned about the agent;
* an exception the agent caused, when the reward is below 1: `AgentTimeoutError` and
  the context or output window exceptions -> timeout; `NonZeroAgentExitCodeError`
  (the agent process failed) -> tool_error; a refusal or content-policy stop ->
  wrong_result;
* no reward and no exception (never verified) -> infra_error;
* a reward below 1 -> wrong_result.

Carried: the agent's time (`agent_execution`, else the trial's), tokens
(`agent_result.n_input_tokens`, which include cached ones, and `n_output_tokens`),
and cost (`agent_result.cost_usd`, else a cost the agent put in its `metadata`). The
dataset (`source`, e.g. `terminal-bench/terminal-bench-2-1`) names the slice and its
version (`_dataset`); the Harbor version is in the job's `lock.json`.

A job file alone (no trial folders, no embedded `trial_results`) only lists trial
names by reward value and exception (`stats.evals`); the rows then come from there,
with task ids taken from the trial names (`<task>__<suffix>`, the task's last name
part cut at 32 characters by Harbor).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
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
    expect_object,
    first_lines,
    load_json,
    reward_passed,
)
from .report import ImportInputError

_HINT = "a Harbor job folder or a job or trial result.json"
_DEFAULT_REWARD = "reward"
# Exceptions of the agent itself (names of harbor's exception classes); every other
# exception is the harness's, the environment's or the model provider's.
_AGENT_EXCEPTIONS = {
    "AgentTimeoutError": FailureClass.TIMEOUT,
    "ContextWindowExceededError": FailureClass.TIMEOUT,
    "ContextLengthExceededError": FailureClass.TIMEOUT,
    "OutputTokenExceededError": FailureClass.TIMEOUT,
    "OutputLengthExceededError": FailureClass.TIMEOUT,
    "NonZeroAgentExitCodeError": FailureClass.TOOL_ERROR,
    # The model refused or was stopped by its provider's content policy: its answer.
    "AgentSafetyRefusalError": FailureClass.WRONG_RESULT,
    "ContentPolicyViolationError": FailureClass.WRONG_RESULT,
}
# Cost keys agents write into agent_result.metadata when cost_usd is null (an agent
# on a subscription reports what the same calls would cost on the API).
_METADATA_COSTS = ("cost_usd", "total_cost_usd", "api_equivalent_cost_usd")
# `<org>/<name>-<major>-<minor>`: Harbor's package datasets carry the version in the name.
_VERSIONED = re.compile(r"^(?P<name>.+?)-(?P<version>\d+(?:-\d+)*)$")


def read(path: Path, options: ReadOptions = NO_OPTIONS) -> ImportedRun:
    """Read one Harbor job (all its trials) or one trial."""
    file = path / "result.json" if path.is_dir() else path
    root = expect_object(load_json(file, _HINT), str(file), "a Harbor result.json")
    key = options.scorer or _DEFAULT_REWARD
    notes: list[str] = []
    job_dir: Path | None = None
    if "trial_name" in root:  # <job>/<trial>/result.json
        trials = [root]
        job_dir = file.parent.parent
    elif "n_total_trials" in root:
        # Trial folders sit beside the job's own result.json; a job file renamed or
        # copied elsewhere stands alone.
        job_dir = file.parent if file.name == "result.json" else None
        trials = _trials_of_job(root, job_dir, notes)
    else:
        raise ImportFormatError(
            f"{file}: not a Harbor result.json: expected 'n_total_trials' (a job) "
            "or 'trial_name' (a trial)"
        )
    if trials:
        rows, meta = _trial_rows(trials, key, notes)
    else:
        rows, meta = _stats_rows(root, key, notes)
    if not rows:
        raise ImportFormatError(f"{file}: the job has no finished trial")
    benchmark, dataset_version = _dataset(meta.source, notes)
    return ImportedRun(
        source=path,
        results=rows,
        benchmark=benchmark,
        capability=Capability.TERMINAL if benchmark.startswith("terminal-bench") else None,
        model=meta.model,
        dataset_version=dataset_version,
        harness_version=_harbor_version(job_dir, notes),
        run_id=meta.job_id or root.opt_text("id"),
        notes=notes,
    )


class _Meta:
    """What every trial of a run must agree on."""

    def __init__(self) -> None:
        self.source: str | None = None
        self.model: str | None = None
        self.job_id: str | None = None

    def agree(self, field: str, value: str | None, trial: Record) -> None:
        current = getattr(self, field)
        if value is not None and current is not None and value != current:
            raise ImportFormatError(
                f"{trial.file}: trials of one run disagree on the {field.replace('_', ' ')} "
                f"({current} and {value}): import each agent, model and dataset separately"
            )
        setattr(self, field, current or value)


def _trials_of_job(root: Record, job_dir: Path | None, notes: list[str]) -> list[Record]:
    """The trials of a job: its trial folders, else the job's embedded `trial_results`."""
    folders = (
        sorted(d for d in job_dir.iterdir() if (d / "result.json").is_file()) if job_dir else []
    )
    trials = [
        expect_object(load_json(d / "result.json", _HINT), str(d / "result.json"), "a trial result")
        for d in folders
    ]
    if not trials and root.raw("trial_results"):
        trials = list(root.children("trial_results"))
    total = root.count("n_total_trials")
    if trials and len(trials) < total:
        notes.append(
            f"{len(trials)} of the job's {total} trial(s) have finished; only those are counted"
        )
    return trials


def _trial_rows(trials: list[Record], key: str, notes: list[str]) -> tuple[list[TaskResult], _Meta]:
    meta = _Meta()
    ordered = sorted(trials, key=lambda t: t.opt_time("started_at") or datetime.min)
    attempts: Counter[str] = Counter()
    why: Counter[str] = Counter()
    rows: list[TaskResult] = []
    metadata_cost = 0
    for trial in ordered:
        task = trial.text("task_name")
        attempts[task] += 1
        meta.agree("source", trial.opt_text("source"), trial)
        meta.agree("model", _model(trial), trial)
        config = trial.opt_child("config")
        meta.agree("job_id", config.opt_text("job_id") if config else None, trial)
        failure, reason = _verdict(trial, _reward(trial, key))
        if failure is not None:
            why[reason] += 1
        agent = trial.opt_child("agent_result")
        cost, from_metadata = _cost(agent)
        metadata_cost += from_metadata
        duration = _span(trial.opt_child("agent_execution"))
        rows.append(
            TaskResult(
                task_id=task,
                passed=failure is None,
                seed=attempts[task],
                failure=failure,
                duration_seconds=duration
                if duration is not None
                else trial.seconds("started_at", "finished_at"),
                cost_usd=cost,
                input_tokens=agent.opt_count("n_input_tokens") if agent else None,
                output_tokens=agent.opt_count("n_output_tokens") if agent else None,
            )
        )
    for reason, count in sorted(why.items()):
        notes.append(f"{count} trial(s) {reason}")
    if metadata_cost:
        notes.append(
            f"{metadata_cost} trial(s) have cost_usd null: their cost is the one the agent "
            "reports in agent_result.metadata"
        )
    if max(attempts.values(), default=1) > 1:
        notes.append("tasks run more than once: the k-th attempt of a task (by start) is seed k")
    return rows, meta


def _reward(trial: Record, key: str) -> float | None:
    """The trial's reward under `key`, or None when it was never verified."""
    verifier = trial.opt_child("verifier_result")
    rewards = verifier.opt_child("rewards") if verifier else None
    if rewards is None or not rewards.data:
        return None
    if key not in rewards:
        raise ImportInputError(
            f"--scorer: {trial.file} has no reward {key!r} (its rewards: {', '.join(rewards.data)})"
        )
    return rewards.number(key, upper=REWARD_MAX)


def _exceptions(trial: Record) -> list[str]:
    """Exception types of the trial and of its steps (multi-step trials), in order."""
    found = []
    info = trial.opt_child("exception_info")
    if info is not None:
        found.append(info.text("exception_type"))
    if trial.raw("step_results") is not None:
        for step in trial.children("step_results"):
            step_info = step.opt_child("exception_info")
            if step_info is not None:
                found.append(step_info.text("exception_type"))
    return found


def _verdict(trial: Record, reward: float | None) -> tuple[FailureClass | None, str]:
    """Passed (None) or the failure class of a trial, and the reason a note counts.

    The reward stands only when every exception of the trial is the agent's own:
    Harbor itself drops the reward of a trial that hit an environment, API or
    verifier error.
    """
    exceptions = _exceptions(trial)
    foreign = [name for name in exceptions if name not in _AGENT_EXCEPTIONS]
    if foreign:
        return FailureClass.INFRA_ERROR, f"errored ({foreign[0]}): infra_error"
    if reward is not None and reward_passed(reward):
        return None, "passed"
    for name in exceptions:
        failure = _AGENT_EXCEPTIONS[name]
        return failure, f"raised {name}: {failure.value}"
    if reward is None:
        return FailureClass.INFRA_ERROR, "have no reward (never verified): infra_error"
    return FailureClass.WRONG_RESULT, "with a reward below 1: wrong_result"


def _model(trial: Record) -> str | None:
    config = trial.opt_child("config")
    agent = config.opt_child("agent") if config else None
    if agent is not None and agent.opt_text("model_name"):
        return agent.opt_text("model_name")
    info = trial.opt_child("agent_info")
    model = info.opt_child("model_info") if info else None
    if model is None:
        return None
    provider = model.opt_text("provider")
    return f"{provider}/{model.text('name')}" if provider else model.text("name")


def _cost(agent: Record | None) -> tuple[float | None, bool]:
    """The trial's cost, and whether it came from the agent's metadata."""
    if agent is None:
        return None, False
    cost = agent.opt_number("cost_usd")
    if cost is not None:
        return cost, False
    metadata = agent.opt_child("metadata")
    for name in _METADATA_COSTS if metadata else ():
        assert metadata is not None
        value = metadata.raw(name)
        if value is not None:
            return metadata.number(name), True
    return None, False


def _span(timing: Record | None) -> float | None:
    return timing.seconds("started_at", "finished_at") if timing else None


def _stats_rows(root: Record, key: str, notes: list[str]) -> tuple[list[TaskResult], _Meta]:
    """Rows from a job file's `stats.evals`, which name trials by reward and exception."""
    meta = _Meta()
    evals = root.child("stats").child("evals")
    if len(evals.data) != 1:
        raise ImportFormatError(
            f"{root.file}: field 'stats.evals' holds {len(evals.data)} agent/model/dataset "
            "runs: import the job folder (its trials), one run at a time"
        )
    name = next(iter(evals.data))
    stats = evals.child(name)
    parts = name.split("__")
    meta.source = parts[-1]
    meta.model = parts[1] if len(parts) == 3 else None
    verdicts: dict[str, FailureClass | None] = {}
    rewards = stats.child("reward_stats")
    by_value = rewards.opt_child(key)
    if by_value is None and rewards.data:
        raise ImportInputError(
            f"--scorer: {root.file} has no reward {key!r} (its rewards: {', '.join(rewards.data)})"
        )
    for value in by_value.data if by_value else ():
        assert by_value is not None
        try:
            reward = float(value)
        except ValueError:
            raise ImportFormatError(
                f"{root.file}: field 'stats.evals.{name}.reward_stats.{key}' has the key "
                f"{value!r}, not a reward"
            ) from None
        for trial in by_value.texts(value):
            verdicts[trial] = None if reward_passed(reward) else FailureClass.WRONG_RESULT
    exceptions = stats.opt_child("exception_stats") or Record({}, root.file)
    # As in _verdict: the agent's own exceptions explain a reward below 1 (or none);
    # any other exception makes the trial infra_error whatever its reward.
    for exception in sorted(exceptions.data, key=lambda name: name not in _AGENT_EXCEPTIONS):
        for trial in exceptions.texts(exception):
            if exception not in _AGENT_EXCEPTIONS:
                verdicts[trial] = FailureClass.INFRA_ERROR
            elif verdicts.get(trial, FailureClass.INFRA_ERROR) is not None:
                verdicts[trial] = _AGENT_EXCEPTIONS[exception]
    attempts: Counter[str] = Counter()
    rows = []
    for trial, failure in verdicts.items():
        task = trial.rsplit("__", 1)[0]
        attempts[task] += 1
        rows.append(TaskResult(task, failure is None, attempts[task], failure))
    notes.append(
        "no trial results beside the job file: rows come from stats.evals, task ids from "
        f"trial names ({first_lines(sorted(verdicts))}); import the job folder for full task "
        "names, durations, tokens and costs"
    )
    total = root.count("n_total_trials")
    if len(rows) < total:
        notes.append(
            f"{len(rows)} of the job's {total} trial(s) are listed; only those are counted"
        )
    return rows, meta


def _dataset(source: str | None, notes: list[str]) -> tuple[str, str | None]:
    """The slice name and dataset version a trial's `source` gives.

    `terminal-bench/terminal-bench-2-1` (a Harbor package dataset: org/name, the
    version in the name) is terminal-bench version 2.1; a source without a version
    suffix is the slice name, and its version must come from --dataset-version.
    """
    if source is None:
        notes.append("the trials name no dataset (source): pass --slice and --dataset-version")
        return "harbor", None
    name = source.rsplit("/", 1)[-1]
    match = _VERSIONED.match(name)
    if match is None:
        return name, None
    return match.group("name"), match.group("version").replace("-", ".")


def _harbor_version(job_dir: Path | None, notes: list[str]) -> str | None:
    """`harbor.version` of the job's `lock.json` (with the git commit of an editable install)."""
    lock_file = job_dir / "lock.json" if job_dir else None
    if lock_file is None or not lock_file.is_file():
        notes.append("no lock.json in the job folder: pass --harness-version (Harbor's version)")
        return None
    lock = expect_object(load_json(lock_file, _HINT), str(lock_file), "a Harbor lock.json")
    harbor = lock.opt_child("harbor")
    version = harbor.opt_text("version") if harbor else None
    commit = harbor.opt_text("git_commit_hash") if harbor else None
    if version and commit:
        return f"{version}+{commit}"
    return version or commit
