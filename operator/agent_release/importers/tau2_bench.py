"""tau2-bench (`tau2 run`): the results file `{timestamp, info, tasks, simulations}`.

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
    load_json,
    reward_passed,
    trial_seeds,
)

_HINT = "a tau2-bench results JSON file"
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


def read(path: Path, options: ReadOptions = NO_OPTIONS) -> ImportedRun:
    """Read one tau2 run (all its trials) from its results file."""
    file = str(path)
    root = expect_object(load_json(path, _HINT), file, "a tau2-bench results file")
    simulations = list(root.children("simulations"))
    listed = [task.ident("id") for task in root.children("tasks")]
    info = root.opt_child("info") or Record({}, file, "info")
    agent = info.opt_child("agent_info")
    environment = info.opt_child("environment_info")
    domain = environment.opt_text("domain_name") if environment else None

    notes: list[str] = []
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
