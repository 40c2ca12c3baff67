"""tau2-bench (`tau2 run`): the results file `{timestamp, info, tasks, simulations}`.

PATH is the results file or the run folder. Newer tau2 versions may write the
"dir" layout instead: results.json without `simulations` but with a
`simulation_index`, and one `simulations/<id>.json` per simulation beside it
(`_split_simulations`); both layouts give the same rows.

Only `simulations` are counted: `tasks` may list tasks that were never simulated
(an interrupted run, or `--num-tasks`), and a task without a simulation has no
outcome; a note names how many. Each simulation becomes one row:

* `reward_info.reward` of 1 (within 1e-6) -> passed. The reward is tau2's verdict
  under the task's `reward_basis`; it is never recomputed from `db_check.db_match`,
  which may disagree when the basis leaves the database out.
* otherwise `termination_reason` picks the class (`_TERMINATIONS`); a conversation
  that ended normally but carries no reward was never evaluated (infra_error), and a
  reason this importer does not know is wrong_result, with a note.

`trial` (0-based) is the seed when tasks repeat (`--num-trials`); the per-simulation
`seed` is the random seed of the user simulator, not a trial number. Carried: the
simulation's `duration`, the agent's cost (`agent_cost`; `user_cost` is the user
simulator's and is not what is released) and the agent's tokens (`_agent_tokens`).
`info.git_commit` is the commit of the calling repository, not of tau2, so it is not
a harness version.
"""

from __future__ import annotations

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
    trial_seeds,
)

_HINT = "a tau2-bench results JSON file or run folder"
_TERMINATIONS = {
    # A budget ran out: the step limit, the wall clock, or the model's context window.
    "max_steps": FailureClass.TIMEOUT,
    "timeout": FailureClass.TIMEOUT,
    "context_window_exceeded": FailureClass.TIMEOUT,
    # The conversation ended on its own and the outcome was graded wrong.
    "user_stop": FailureClass.WRONG_RESULT,
    "agent_stop": FailureClass.WRONG_RESULT,
    # The agent's tool calls kept failing (the environment stops after max_errors),
    # or the agent itself (part of the candidate) failed to produce a valid turn.
    "too_many_errors": FailureClass.TOOL_ERROR,
    "agent_error": FailureClass.TOOL_ERROR,
    # The user simulator or the infrastructure failed: nothing about the agent.
    "user_error": FailureClass.INFRA_ERROR,
    "infrastructure_error": FailureClass.INFRA_ERROR,
    "unexpected_error": FailureClass.INFRA_ERROR,
}
_ENDED_NORMALLY = frozenset({"user_stop", "agent_stop"})
_SIMULATIONS = "simulations"


def read(path: Path, _options: ReadOptions = NO_OPTIONS) -> ImportedRun:
    """Read one tau2 run (all its trials) from its results file or run folder."""
    results = path / "results.json" if path.is_dir() else path
    file = str(results)
    root = expect_object(load_json(results, _HINT), file, "a tau2-bench results file")
    notes: list[str] = []
    if "simulations" in root:
        simulations = list(root.children("simulations"))
    else:
        simulations = _split_simulations(root, results.parent / _SIMULATIONS, notes)
    listed = [task.ident("id") for task in root.children("tasks")]
    info = root.opt_child("info") or Record({}, file, "info")
    agent = info.opt_child("agent_info")
    environment = info.opt_child("environment_info")
    domain = environment.opt_text("domain_name") if environment else None

    rows: list[TaskResult] = []
    trials: list[int | None] = []
    unknown: set[str] = set()
    no_cost = 0
    for sim in simulations:
        reason = sim.text("termination_reason")
        reward_info = sim.opt_child("reward_info")
        reward = reward_info.opt_number("reward", upper=REWARD_MAX) if reward_info else None
        failure: FailureClass | None
        if reward is not None and reward_passed(reward):
            failure = None
        elif reward is None and reason in _ENDED_NORMALLY:
            failure = FailureClass.INFRA_ERROR
        elif reason in _TERMINATIONS:
            failure = _TERMINATIONS[reason]
        else:
            failure = FailureClass.WRONG_RESULT
            unknown.add(reason)
        cost = sim.opt_number("agent_cost")
        no_cost += cost is None
        input_tokens, output_tokens = _agent_tokens(sim)
        rows.append(
            TaskResult(
                task_id=sim.ident("task_id"),
                passed=failure is None,
                failure=failure,
                duration_seconds=sim.opt_number("duration"),
                cost_usd=cost,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
            )
        )
        trial = sim.opt_count("trial")
        trials.append(None if trial is None else trial + 1)
    if not rows:
        raise ImportFormatError(
            f"{file}: field 'simulations' is empty ({len(listed)} task(s) listed, none simulated)"
        )

    rows = trial_seeds(rows, trials, file, "trial", notes)
    simulated = {row.task_id for row in rows}
    missing = [task for task in listed if task not in simulated]
    if missing:
        notes.append(
            f"{len(missing)} of the {len(listed)} listed task(s) have no simulation and "
            "are not counted"
        )
    if unknown:
        notes.append(f"unknown termination_reason {', '.join(sorted(unknown))}: wrong_result")
    if no_cost:
        notes.append(f"{no_cost} simulation(s) have no agent_cost: the run's cost is left out")
    elif all(row.cost_usd == 0 for row in rows):
        notes.append("every simulation reports agent_cost 0.0 (a free tier or unknown pricing)")
    return ImportedRun(
        source=path,
        results=rows,
        benchmark=f"tau2-bench-{domain}" if domain else "tau2-bench",
        capability=Capability.TOOL_DIALOG,
        model=agent.opt_text("llm") if agent else None,
        notes=notes,
    )


def _split_simulations(root: Record, folder: Path, notes: list[str]) -> list[Record]:
    """The simulations of tau2's "dir" layout: `simulations/<id>.json` beside results.json.

    results.json then holds a `simulation_index` of every simulation (id, task,
    trial, reward, termination reason, cost, duration). The files must match the
    index, as tau2's own loader demands; without the folder the index alone gives
    the rows (no tokens: those are in the messages).
    """
    index = list(root.children("simulation_index")) if "simulation_index" in root else None
    if not folder.is_dir():
        if index is None:
            raise root.error("simulations", "an array (or a simulations/ folder beside the file)")
        notes.append(
            f"no {_SIMULATIONS}/ folder beside the results: rows come from simulation_index"
        )
        return [_from_index(entry) for entry in index]
    files = sorted(folder.glob("*.json"))
    sims = [expect_object(load_json(sim, _HINT), str(sim), "a tau2 simulation") for sim in files]
    if index is not None:
        indexed = {entry.text("id") for entry in index}
        on_disk = {sim.stem for sim in files}
        if indexed != on_disk:
            missing, extra = sorted(indexed - on_disk), sorted(on_disk - indexed)
            raise ImportFormatError(
                f"{root.file}: simulation_index and {folder} disagree: "
                + "; ".join(
                    part
                    for part in (
                        f"missing files {first_lines(missing)}" if missing else "",
                        f"files not in the index {first_lines(extra)}" if extra else "",
                    )
                    if part
                )
            )
    return sims


def _from_index(entry: Record) -> Record:
    """A simulation_index entry in the shape of a simulation (its reward under reward_info)."""
    data = dict(entry.data)
    reward = data.pop("reward", None)
    data["reward_info"] = None if reward is None else {"reward": reward}
    return Record(data, entry.file, entry.path)


def _agent_tokens(sim: Record) -> tuple[int | None, int | None]:
    """Tokens of the agent's model calls: the `usage` of its assistant messages.

    Assistant messages without `usage` are not model calls of this run (the fixed
    greeting, or a task's replayed message history) and add nothing; a simulation
    with no usage at all has unknown tokens.
    """
    prompt = completion = calls = 0
    for message in sim.children("messages") if "messages" in sim else ():
        usage = message.opt_child("usage") if message.raw("role") == "assistant" else None
        if usage is not None:
            prompt += usage.count("prompt_tokens")
            completion += usage.count("completion_tokens")
            calls += 1
    return (prompt, completion) if calls else (None, None)
