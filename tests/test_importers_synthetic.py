"""Importers on hand-made inputs that follow each harness's real layout.

OSWorld and MLE-bench have no real fixture (SOURCES.md: every copy found is a Git LFS
pointer), so their inputs are built here after xlang-ai/OSWorld (`run.py`,
`lib_run_single.py`, `show_result.py`) and openai/mle-bench (`mlebench/grade.py`,
`CompetitionReport.to_dict`). The other formats get the cases their real fixtures
lack: several trials in one file, SWE-bench instance logs, OpenAI Evals events.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent_release.api.types import FailureClass
from agent_release.importers import ImportedRun, ImportFormatError, PassRule, ReadOptions, read_run
from agent_release.taskresults import seed_runs

T, W, INFRA, TOOL = (
    FailureClass.TIMEOUT,
    FailureClass.WRONG_RESULT,
    FailureClass.INFRA_ERROR,
    FailureClass.TOOL_ERROR,
)


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path


def summary(run: ImportedRun) -> list[tuple[int, int, int, dict[FailureClass, int]]]:
    return [(s.seed, s.tasks, s.passed, s.failures or {}) for s in seed_runs(run.results)]


# -- OSWorld ----------------------------------------------------------------------------------

OSWORLD_MODEL = Path("pyautogui/screenshot/ByteDance-Seed/UI-TARS-1.5-7B")


def osworld_tree(root: Path, model: Path = OSWORLD_MODEL) -> Path:
    """<root>/<action_space>/<observation_type>/<model>/<domain>/<task_id>/result.txt."""
    base = root / model
    scores = {
        "chrome/bb5e4c0d-f964-439c-97b6-bdb9747de3f4": "1.0\n",
        "chrome/7b6c7e24-c58a-49fc-a5bb-d57b80e5b4c3": "0.0\n",
        "gimp/2a729ded-3296-423d-aec4-7dd55ed5fbb3": "0.5\n",
        "vs_code/0ed39f63-6049-43d4-ba4d-5fa2fe04a951": "1\n",
    }
    for task, score in scores.items():
        (base / task).mkdir(parents=True)
        (base / task / "result.txt").write_text(score)
        (base / task / "traj.jsonl").write_text('{"step_num": 1, "action": "DONE"}\n')
    crashed = base / "gimp/554785e9-4523-4e7a-b8e1-8016f565f56a"
    crashed.mkdir(parents=True)
    error = {"Error": "Time limit exceeded in gimp/554785e9-4523-4e7a-b8e1-8016f565f56a"}
    (crashed / "traj.jsonl").write_text(json.dumps(error) + "\n")
    (base / "os/onboard").mkdir(parents=True)  # run.py skips this name
    write_json(base / "args.json", {"model": str(model.name), "max_steps": 15})
    (base / "all_result.json").write_text("{}")
    return base


@pytest.mark.parametrize("level", [".", "pyautogui", str(OSWORLD_MODEL)])
def test_osworld_tree(tmp_path: Path, level: str) -> None:
    osworld_tree(tmp_path)
    run = read_run("osworld", tmp_path / level)
    assert summary(run) == [(1, 5, 2, {W: 2, INFRA: 1})]
    assert run.model == "ByteDance-Seed/UI-TARS-1.5-7B"
    assert run.benchmark == "osworld"
    by_task = {r.task_id: r for r in run.results}
    assert by_task["gimp/2a729ded-3296-423d-aec4-7dd55ed5fbb3"].failure is W  # partial 0.5
    assert by_task["gimp/554785e9-4523-4e7a-b8e1-8016f565f56a"].failure is INFRA
    assert run.notes == [
        "1 task folder(s) without result.txt: infra_error",
        "1 task(s) with a partial score (between 0 and 1): wrong_result",
    ]


def test_osworld_plain_model_name(tmp_path: Path) -> None:
    osworld_tree(tmp_path, Path("pyautogui/a11y_tree/gpt-4-vision-preview"))
    assert read_run("osworld", tmp_path).model == "gpt-4-vision-preview"


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda root: root, "no result.txt under this folder"),
        (lambda root: osworld_tree(root) / "chrome", "is a domain or task folder"),
        (lambda root: osworld_tree(root) / "chrome/x" / "result.txt", "is a file"),
        (lambda root: root / "missing", "no such folder"),
    ],
)
def test_osworld_bad_paths(tmp_path: Path, setup: Any, expected: str) -> None:
    path = setup(tmp_path)
    if expected == "is a file":
        path.parent.mkdir(parents=True)
        path.write_text("1.0")
    with pytest.raises(ImportFormatError, match=expected):
        read_run("osworld", path)


def test_osworld_two_runs_and_bad_scores(tmp_path: Path) -> None:
    osworld_tree(tmp_path)
    osworld_tree(tmp_path, Path("pyautogui/screenshot/gpt-4o"))
    with pytest.raises(ImportFormatError, match="holds the results of 2 runs"):
        read_run("osworld", tmp_path)
    single = tmp_path / "single"
    task = osworld_tree(single) / "chrome/bb5e4c0d-f964-439c-97b6-bdb9747de3f4/result.txt"
    for bad in ("", "abc", "nan", "1.5", "-0.1"):
        task.write_text(bad)
        with pytest.raises(ImportFormatError) as error:
            read_run("osworld", single)
        assert str(error.value).startswith(f"{task}: must hold a score from 0 to 1")


# -- MLE-bench --------------------------------------------------------------------------------


def competition(
    cid: str, *, medal: bool, exists: bool = True, valid: bool = True
) -> dict[str, Any]:
    """One `CompetitionReport.to_dict()` entry of `mlebench grade`."""
    return {
        "competition_id": cid,
        "score": 0.8 if valid else None,
        "gold_threshold": 0.9,
        "silver_threshold": 0.85,
        "bronze_threshold": 0.79,
        "median_threshold": 0.7,
        "any_medal": medal,
        "gold_medal": False,
        "silver_medal": False,
        "bronze_medal": medal,
        "above_median": valid,
        "submission_exists": exists,
        "valid_submission": valid,
        "is_lower_better": False,
        "created_at": "2024-10-10T12:00:00.000000",
        "submission_path": f"runs/2024-10-10/{cid}/submission/submission.csv",
    }


def grading_report(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """`aggregate_reports` of mlebench/grade.py."""
    return {
        "total_runs": len(reports),
        "total_runs_with_submissions": sum(r["submission_exists"] for r in reports),
        "total_valid_submissions": sum(r["valid_submission"] for r in reports),
        "total_medals": sum(r["any_medal"] for r in reports),
        "total_gold_medals": 0,
        "total_silver_medals": 0,
        "total_bronze_medals": sum(r["bronze_medal"] for r in reports),
        "total_above_median": sum(r["above_median"] for r in reports),
        "competition_reports": reports,
    }


MLE_REPORTS = [
    competition("spaceship-titanic", medal=True),
    competition("aerial-cactus-identification", medal=False),
    competition("dog-breed-identification", medal=False, exists=False, valid=False),
    competition("jigsaw-toxic-comment-classification-challenge", medal=False, valid=False),
]


def test_mle_bench_grading_report(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "2024-10-10T12-00-00-GMT_grading_report.json", grading_report(MLE_REPORTS)
    )
    run = read_run("mle-bench", path)
    assert summary(run) == [(1, 4, 1, {W: 2, INFRA: 1})]
    assert run.notes == [
        "1 competition report(s) without a submission: wrong_result",
        "1 competition report(s) with a submission the grader could not score: infra_error",
        "a pass is any_medal (--pass any-medal)",
    ]


def test_mle_bench_pass_rules_and_padded_scores(tmp_path: Path) -> None:
    gold = competition("denoising-dirty-documents", medal=True) | {"gold_medal": True}
    padded = competition("electricity-demand", medal=True) | {
        "score": 0.0,
        "is_lower_better": True,
        "gold_medal": True,
    }
    below = competition("spaceship-titanic", medal=False)  # valid, above the median
    path = write_json(tmp_path / "grading_summary.json", [gold, padded, below])  # a list
    by_rule = {
        rule: summary(read_run("mle-bench", path, ReadOptions(pass_rule=rule))) for rule in PassRule
    }
    assert by_rule == {
        PassRule.ANY_MEDAL: [(1, 3, 1, {INFRA: 1, W: 1})],
        PassRule.ABOVE_MEDIAN: [(1, 3, 2, {INFRA: 1})],
        PassRule.GOLD: [(1, 3, 1, {INFRA: 1, W: 1})],
    }
    bad = write_json(tmp_path / "bad.json", [gold, {**below, "valid_submission": "yes"}])
    with pytest.raises(ImportFormatError) as error:
        read_run("mle-bench", bad)
    assert str(error.value) == (
        f"{bad}: field '[1].valid_submission' must be true or false, got \"yes\""
    )


def test_mle_bench_repeated_competitions_are_seeds(tmp_path: Path) -> None:
    again = competition("spaceship-titanic", medal=False)
    reports = [*MLE_REPORTS[:2], again, MLE_REPORTS[1]]
    run = read_run(
        "mle-bench", write_json(tmp_path / "r_grading_report.json", grading_report(reports))
    )
    assert summary(run) == [(1, 2, 1, {W: 1}), (2, 2, 0, {W: 2})]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"total_medals": 3}, "field 'total_medals' is 3, but competition_reports add up to 1"),
        ({"competition_reports": []}, "field 'competition_reports' is empty"),
        (
            {"competition_reports": [{**MLE_REPORTS[0], "any_medal": "yes"}]},
            "field 'competition_reports[0].any_medal' must be true or false, got \"yes\"",
        ),
        (
            {"competition_reports": [{**MLE_REPORTS[2], "any_medal": True}]},
            "field 'competition_reports[0].any_medal' must be false for an invalid submission, "
            "got true",
        ),
    ],
)
def test_mle_bench_bad_reports(tmp_path: Path, change: dict[str, Any], expected: str) -> None:
    report = grading_report(MLE_REPORTS) | change
    path = write_json(tmp_path / "x_grading_report.json", report)
    with pytest.raises(ImportFormatError) as error:
        read_run("mle-bench", path)
    assert str(error.value) == f"{path}: {expected}"


# -- SWE-bench with its logs folder -----------------------------------------------------------

SWE_RUN, SWE_MODEL_DIR = "run.v2", "org__my.model-1.5"


def swebench_run(root: Path, *, logs: bool = True) -> Path:
    """A run report plus logs/run_evaluation/<run_id>/<model>/<instance>/ as the harness writes."""
    submitted = ["a", "b", "c", "d", "e", "f", "h"]  # h: not in the evaluated dataset
    report = {
        "total_instances": 7,
        "submitted_instances": 7,
        "completed_instances": 2,
        "resolved_instances": 1,
        "unresolved_instances": 1,
        "empty_patch_instances": 1,
        "error_instances": 3,
        "completed_ids": ["a", "b"],
        "incomplete_ids": ["g"],
        "empty_patch_ids": ["f"],
        "submitted_ids": submitted,
        "resolved_ids": ["a"],
        "unresolved_ids": ["b"],
        "error_ids": ["c", "d", "e"],
        "schema_version": 2,
    }
    if logs:
        folder = root / "logs/run_evaluation" / SWE_RUN / SWE_MODEL_DIR
        for iid, resolved in (("a", True), ("b", False)):
            tests = {"success": ["t1"] if resolved else [], "failure": [] if resolved else ["t1"]}
            status = {"FAIL_TO_PASS": tests, "PASS_TO_PASS": tests}
            write_json(
                folder / iid / "report.json",
                {
                    iid: {
                        "patch_is_None": False,
                        "patch_exists": True,
                        "patch_successfully_applied": True,
                        "resolved": resolved,
                        "tests_status": status,
                    }
                },
            )
        for iid, text in (
            ("c", ">>>>> Patch Apply Failed:\nerror: corrupt patch at line 7\n"),
            ("d", "EvaluationError: Test timed out after 1800 seconds.\n"),
        ):
            (folder / iid).mkdir(parents=True)
            (folder / iid / "run_instance.log").write_text(text)
    return write_json(root / f"{SWE_MODEL_DIR}.{SWE_RUN}.json", report)


def test_swebench_with_instance_logs(tmp_path: Path) -> None:
    run = read_run("swebench", swebench_run(tmp_path))
    assert (run.model, run.run_id) == ("org/my.model-1.5", "run.v2")
    by_task = {r.task_id: r.failure_class() for r in run.results}
    assert by_task == {"a": None, "b": W, "c": W, "d": T, "e": INFRA, "f": W, "h": INFRA, "g": W}
    assert summary(run) == [(1, 8, 1, {W: 4, T: 1, INFRA: 2})]
    assert "1 submitted instance(s) the harness never evaluated" in " ".join(run.notes)
    assert any("fail every test" in note and ": b" in note for note in run.notes)


def test_swebench_without_logs_cannot_split_a_dotted_name(tmp_path: Path) -> None:
    run = read_run("swebench", swebench_run(tmp_path, logs=False))
    assert (run.model, run.run_id) == (None, None)
    assert any("pass --model and --run-id" in note for note in run.notes)
    assert {r.task_id: r.failure_class() for r in run.results}["c"] is INFRA  # no log to read


def test_swebench_instance_report_must_agree(tmp_path: Path) -> None:
    path = swebench_run(tmp_path)
    report = tmp_path / "logs/run_evaluation" / SWE_RUN / SWE_MODEL_DIR / "a/report.json"
    data = json.loads(report.read_text())
    data["a"]["resolved"] = False
    report.write_text(json.dumps(data))
    with pytest.raises(ImportFormatError) as error:
        read_run("swebench", path)
    assert str(error.value) == (
        f"{report}: field 'a.resolved' is false, but the run report lists a as resolved"
    )


# -- several trials in one file ---------------------------------------------------------------


def tb_trial(
    task: str, resolved: bool | None, mode: str, name: str | None = None
) -> dict[str, Any]:
    return {
        "id": "00000000-0000-4000-8000-000000000000",
        "trial_name": name or f"{task}.1-of-1.run",
        "task_id": task,
        "instruction": "do it",
        "is_resolved": resolved,
        "failure_mode": mode,
        "parser_results": None,
        "total_input_tokens": 1200,
        "total_output_tokens": 300,
        "trial_started_at": "2025-08-10T05:27:18.478461+00:00",
        "trial_ended_at": "2025-08-10T05:33:26.036750+00:00",
        "agent_started_at": None,
        "agent_ended_at": None,
    }


def test_terminal_bench_attempts_and_failure_modes(tmp_path: Path) -> None:
    trials = [
        tb_trial("hello", True, "none", "hello.1-of-2.run"),
        tb_trial("hello", False, "context_length_exceeded", "hello.2-of-2.run"),
        tb_trial("zork", False, "unknown_agent_error", "zork.1-of-2.run"),
        tb_trial("zork", None, "agent_installation_failed", "zork.2-of-2.run"),
        tb_trial("maze", None, "unset", "maze.1-of-2.run"),
        tb_trial("maze", False, "fatal_llm_parse_error", "maze.2-of-2.run"),
        tb_trial("vim", False, "brand_new_mode", "vim.1-of-2.run"),
        tb_trial("vim", None, "brand_new_mode", "vim.2-of-2.run"),
    ]
    run = read_run("terminal-bench", write_json(tmp_path / "results.json", {"results": trials}))
    assert summary(run) == [
        (1, 4, 1, {TOOL: 1, INFRA: 1, W: 1}),
        (2, 4, 0, {T: 1, INFRA: 2, TOOL: 1}),
    ]
    hello = run.results[0]
    assert (hello.input_tokens, hello.output_tokens) == (1200, 300)
    assert hello.duration_seconds == pytest.approx(367.558289)  # the trial span: no agent times


def test_tau_bench_trials_are_seeds(tmp_path: Path) -> None:
    results = [
        {
            "task_id": task,
            "reward": float(task == trial),
            "info": {"reward_info": {"reward": 0.0}},
            "traj": [],
            "trial": trial,
        }
        for trial in range(3)
        for task in range(2)
    ]
    run = read_run("tau-bench", write_json(tmp_path / "results.json", results))
    assert summary(run) == [(1, 2, 1, {W: 1}), (2, 2, 1, {W: 1}), (3, 2, 0, {W: 2})]
    results[3]["trial"] = 0
    with pytest.raises(ImportFormatError, match="task '1' appears twice in trial 1"):
        read_run("tau-bench", write_json(tmp_path / "dup.json", results))


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion}


def tau2_sim(task: str, trial: int, reason: str, reward: float | None) -> dict[str, Any]:
    return {
        "id": f"{task}-{trial}",
        "task_id": task,
        "trial": trial,
        "seed": 626729,
        "termination_reason": reason,
        "duration": 3.5,
        "agent_cost": 0.001,
        "user_cost": 0.002,
        "reward_info": None if reward is None else {"reward": reward, "reward_basis": ["DB"]},
        "messages": [
            {"role": "assistant", "content": "Hi! How can I help you today?", "cost": 0.0},
            {"role": "user", "content": "hi", "usage": usage(5, 1)},
            {"role": "assistant", "content": "ok", "usage": usage(40, 2)},
        ],
    }


def test_tau2_trials_and_termination_reasons(tmp_path: Path) -> None:
    sims = [
        tau2_sim("a", 0, "user_stop", 1.0),
        tau2_sim("b", 0, "too_many_errors", 0.0),
        tau2_sim("c", 0, "agent_error", 0.0),
        tau2_sim("a", 1, "user_error", 0.0),
        tau2_sim("b", 1, "user_stop", None),
        tau2_sim("c", 1, "teleported", 0.0),
    ]
    data = {"timestamp": "t", "info": {}, "tasks": [{"id": t} for t in "abcd"], "simulations": sims}
    run = read_run("tau2-bench", write_json(tmp_path / "results.json", data))
    assert summary(run) == [(1, 3, 1, {TOOL: 2}), (2, 3, 0, {INFRA: 2, W: 1})]
    assert (run.results[0].input_tokens, run.results[0].output_tokens) == (40, 2)
    assert "unknown termination_reason teleported: wrong_result" in run.notes
    assert "1 of the 4 listed task(s) have no simulation and are not counted" in run.notes


# -- OpenAI Evals events ----------------------------------------------------------------------


def evals_record(path: Path, events: list[tuple[str, str, dict[str, Any]]], final: bool) -> Path:
    spec = {
        "completion_fns": ["gpt-4"],
        "eval_name": "crm-triage.dev.v1",
        "run_id": "RUN1",
        "base_eval": "crm-triage",
        "split": "dev",
        "created_at": "2024-02-06 06:28:16.896800",
    }
    lines: list[dict[str, Any]] = [{"spec": spec}]
    for number, (sample, kind, data) in enumerate(events):
        lines.append(
            {
                "run_id": "RUN1",
                "event_id": number,
                "sample_id": sample,
                "type": kind,
                "data": data,
                "created_by": "",
                "created_at": "2024-02-06 06:28:34.426853+00:00",
            }
        )
        if final and number == 1:  # events flushed at exit land after the final report
            lines.append({"final_report": {"accuracy": 0.25}})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_openai_evals_match_events(tmp_path: Path) -> None:
    events: list[tuple[str, str, dict[str, Any]]] = [
        ("s.1", "sampling", {"prompt": "p", "sampled": "x"}),
        ("s.1", "match", {"correct": True, "expected": "x", "picked": "x"}),
        ("s.2", "match", {"correct": False, "expected": "x", "picked": "y"}),
        ("s.3", "match", {"correct": True, "expected": "x", "picked": "x"}),
        ("s.3", "match", {"correct": False, "expected": "x", "picked": "y"}),
        ("s.4", "sampling", {"prompt": "p", "sampled": "x"}),
        ("s.4", "error", {"type": "RateLimitError", "message": "429"}),
    ]
    run = read_run("openai-evals", evals_record(tmp_path / "r.jsonl", events, final=True))
    assert run.per_task
    assert summary(run) == [(1, 4, 1, {W: 2, INFRA: 1})]
    assert run.notes == ["1 sample(s) have events but no outcome: infra_error"]
    assert (run.benchmark, run.model, run.run_id) == ("crm-triage.dev.v1", "gpt-4", "RUN1")


def test_openai_evals_model_graded_scores(tmp_path: Path) -> None:
    events: list[tuple[str, str, dict[str, Any]]] = [
        ("s.1", "metrics", {"choice": "Y", "score": 1.0}),
        ("s.2", "metrics", {"choice": "N", "score": 0.0}),
        ("s.3", "metrics", {"choice": "E", "score": None}),
    ]
    run = read_run("openai-evals", evals_record(tmp_path / "r.jsonl", events, final=False))
    assert summary(run) == [(1, 3, 1, {W: 1, INFRA: 1})]
    assert "no final_report line: the run may have stopped before the end" in run.notes
