"""`--format swebench` on a run report swebench's own report code writes, and its variants.

The harness's grading (`get_eval_report`, on test output in the format its pytest
log parser reads) writes each instance's report.json, and `make_run_report` writes
the run report `<model>.<run_id>.json`, exactly as `run_evaluation` leaves them; no
container runs. The importer's counts are checked against what that report says.
The leaderboard `results.json`, sb-cli and Multi-SWE-bench reports follow the
layouts their projects write (sb-cli's server and Multi-SWE-bench's `FinalReport`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from swebench.harness.constants import (
    APPLY_PATCH_FAIL,
    END_TEST_OUTPUT,
    LOG_INSTANCE,
    LOG_REPORT,
    LOG_TEST_OUTPUT,
    RUN_EVALUATION_LOG_DIR,
    START_TEST_OUTPUT,
)
from swebench.harness.grading import get_eval_report
from swebench.harness.reporting import make_run_report
from swebench.harness.utils import make_test_spec

from agent_release.api.types import Capability, FailureClass
from agent_release.importers import ImportFormatError, read_run
from agent_release.taskresults import seed_runs

T, W, INFRA = FailureClass.TIMEOUT, FailureClass.WRONG_RESULT, FailureClass.INFRA_ERROR
MODEL = "acme/coder-1"
RUN_ID = "nightly"
F2P, P2P = "tests/test_fix.py::test_bug", "tests/test_fix.py::test_kept"


def instance(iid: str) -> dict[str, Any]:
    """A dataset instance with what swebench's TestSpec needs."""
    return {
        "instance_id": iid,
        "repo": "acme/widgets",
        "version": "1.0",
        "image": f"swebench/sweb.eval.x86_64.{iid}:latest",
        "eval_script": f"#!/bin/bash\nset -uxo pipefail\n: '{START_TEST_OUTPUT}'\n"
        f"pytest -rA\n: '{END_TEST_OUTPUT}'\n",
        "log_parser": "parse_log_pytest",
        "eval_type": "pass_and_fail",
        "FAIL_TO_PASS": json.dumps([F2P]),
        "PASS_TO_PASS": json.dumps([P2P]),
    }


# instance -> (patch, test output, run_instance.log): None means the file is not written
CASES: dict[str, tuple[str | None, str | None, str | None]] = {
    "acme__widgets-1": ("diff", f"PASSED {F2P}\nPASSED {P2P}\n", "ok"),  # resolved
    "acme__widgets-2": ("diff", f"FAILED {F2P}\nPASSED {P2P}\n", "ok"),  # unresolved
    "acme__widgets-3": ("diff", None, f"{APPLY_PATCH_FAIL}:\nerror: corrupt patch"),
    "acme__widgets-4": ("diff", None, "EvaluationError: Test timed out after 1800 seconds."),
    "acme__widgets-5": ("", None, None),  # an empty patch
    "acme__widgets-6": ("diff", "Cannot connect to the Docker daemon\n", "ok"),  # environment
}
NO_PREDICTION = "acme__widgets-7"


def harness_run(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The files `python -m swebench.harness.run_evaluation` leaves in its working folder."""
    monkeypatch.chdir(root)
    dataset = [instance(iid) for iid in [*CASES, NO_PREDICTION]]
    predictions = {
        iid: {"instance_id": iid, "model_name_or_path": MODEL, "model_patch": patch}
        for iid, (patch, _, _) in CASES.items()
    }
    for item in dataset:
        iid = item["instance_id"]
        if iid not in CASES:
            continue
        _, output, log = CASES[iid]
        folder = RUN_EVALUATION_LOG_DIR / RUN_ID / MODEL.replace("/", "__") / iid
        folder.mkdir(parents=True)
        if log is not None:
            (folder / LOG_INSTANCE).write_text(log)
        if output is not None:
            test_output = folder / LOG_TEST_OUTPUT
            test_output.write_text(f"{START_TEST_OUTPUT}\n{output}{END_TEST_OUTPUT}\n")
            if output.startswith("Cannot"):
                test_output.write_text(output)
            report = get_eval_report(make_test_spec(item), predictions[iid], str(test_output), True)
            (folder / LOG_REPORT).write_text(json.dumps(report, indent=4))
    written: Path = make_run_report(predictions, dataset, RUN_ID, client=None)
    return root / written


def test_a_run_report_counts_what_swebench_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = harness_run(tmp_path, monkeypatch)
    report = json.loads(path.read_text())
    run = read_run("swebench", path)
    [seed] = seed_runs(run.results)
    assert seed.passed == report["resolved_instances"] == 1
    assert seed.tasks == report["total_instances"] == 7
    assert report["infra_failure_ids"] == ["acme__widgets-6"]
    assert {r.task_id: r.failure for r in run.results if not r.passed} == {
        "acme__widgets-2": W,  # graded, tests still fail
        "acme__widgets-3": W,  # the agent's patch does not apply
        "acme__widgets-4": T,  # the tests ran past the harness timeout
        "acme__widgets-5": W,  # no patch
        "acme__widgets-6": INFRA,  # the harness's own environment failure
        "acme__widgets-7": W,  # no prediction
    }
    assert (run.model, run.run_id, run.benchmark) == (MODEL, RUN_ID, "swe-bench")
    assert any("infra_failure_ids" in note for note in run.notes)


def leaderboard_file(root: Path, split: str, lists: dict[str, list[str]]) -> Path:
    path = root / "evaluation" / split / "20260101_acme-coder" / "results" / "results.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(lists))
    return path


def test_a_leaderboard_results_json(tmp_path: Path) -> None:
    lists = {
        "resolved": [f"r-{n}" for n in range(396)],
        "no_generation": ["n-1", "n-2", "n-3", "n-4"],
        "no_logs": ["l-1"],
    }
    run = read_run("swebench", leaderboard_file(tmp_path, "verified", lists))
    [seed] = seed_runs(run.results)
    assert (seed.tasks, seed.passed) == (500, 396)  # 396/500 = 79.2%, the leaderboard's number
    assert seed.failures == {W: 103, INFRA: 1}
    assert (run.benchmark, run.run_id, run.capability) == (
        "swe-bench-verified",
        "20260101_acme-coder",
        Capability.CODE,
    )
    assert not run.per_task  # the 99 unlisted instances have placeholder ids
    elsewhere = tmp_path / "results.json"
    elsewhere.write_text(json.dumps(lists))
    with pytest.raises(ImportFormatError, match="must sit in evaluation/<split>/<run>/results/"):
        read_run("swebench", elsewhere)


def test_a_multi_swe_bench_final_report(tmp_path: Path) -> None:
    """`FinalReport.from_reports`: failed tasks are both incomplete and error ids."""
    ids = ["a/b:pr-1", "a/b:pr-2", "a/b:pr-3", "c/d:pr-9"]
    report = {
        "total_instances": 4,
        "submitted_instances": 4,
        "completed_instances": 3,
        "incomplete_instances": 1,
        "resolved_instances": 2,
        "unresolved_instances": 1,
        "empty_patch_instances": 0,
        "error_instances": 1,
        "submitted_ids": ids,
        "completed_ids": ids[:3],
        "incomplete_ids": ids[3:],
        "resolved_ids": ids[:2],
        "unresolved_ids": ids[2:3],
        "empty_patch_ids": [],
        "error_ids": ids[3:],
    }
    path = tmp_path / "final_report.json"
    path.write_text(json.dumps(report))
    run = read_run("swebench", path)
    [seed] = seed_runs(run.results)
    assert (seed.tasks, seed.passed, seed.failures) == (4, 2, {W: 1, INFRA: 1})
    assert run.benchmark == "multi-swe-bench"


def test_an_sb_cli_report(tmp_path: Path) -> None:
    ids = [f"django__django-{n}" for n in range(5)]
    report = {
        "total_instances": 500,
        "submitted_instances": 5,
        "completed_instances": 4,
        "resolved_instances": 2,
        "unresolved_instances": 2,
        "empty_patch_instances": 0,
        "error_instances": 1,
        "pending_instances": 0,
        "failed_instances": 1,
        "submitted_ids": ids,
        "completed_ids": ids[:4],
        "resolved_ids": ids[:2],
        "unresolved_ids": ids[2:4],
        "empty_patch_ids": [],
        "error_ids": ids[4:],
    }
    path = tmp_path / "swe-bench_verified__test__acme-run-7.json"
    path.write_text(json.dumps(report))
    run = read_run("swebench", path)
    [seed] = seed_runs(run.results)
    assert (seed.tasks, seed.passed) == (5, 2)
    assert (run.benchmark, run.run_id, run.model) == ("swe-bench-verified", "acme-run-7", None)


def test_the_real_lite_report(benchmarks: Path) -> None:
    """SOURCES.md: total 300, submitted 299, resolved 105 ("Total Resolved 105 / 300")."""
    path = benchmarks / "swe-bench/Beaverise-trevec-swe-bench-results/v5_lite_300"
    run = read_run("swebench", path / "evaluation_report.json")
    [seed] = seed_runs(run.results)
    assert (seed.tasks, seed.passed) == (300, 105)
    assert seed.failures == {W: 194, INFRA: 1}
