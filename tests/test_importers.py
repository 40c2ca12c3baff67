"""Benchmark importers on every real fixture (exact counts) and on hand-made inputs.

Expected counts were computed from the files with jq, independently of the importers,
and agree with the numbers SOURCES.md gives (80 trials / 20 resolved for the cursor
Terminal-Bench run, 100 submitted / 53 resolved for swe_agent, 92 completed / 47
resolved / 1 error for cline). Synthetic inputs for OSWorld and MLE-bench (no real
fixture exists) follow the layouts of xlang-ai/OSWorld and openai/mle-bench.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from agent_release.api.evalreport import EvalReport
from agent_release.api.types import Capability, FailureClass, Stage
from agent_release.importers import (
    FORMATS,
    ImportedRun,
    ImportFormatError,
    ImportInputError,
    ReportFlags,
    build_report,
    read_run,
)
from agent_release.taskresults import dump_task_lines, seed_runs

TB_CURSOR = "terminal-bench/20250811_cursor-cli_claude-4-sonnet/run1_2025-08-10__05-27-18"
TB_DROID = "terminal-bench/20250924_droid_gpt-5/tb_rc2_g5_1"
SWE = "swe-bench/pouyafath-BenchmarkLLMAgent"
SWE_MODEL = "hosted_vllm__Devstral-Small-2-24B-Instruct-2512"
SWE_AGENT = f"{SWE}/{SWE_MODEL}.verified10_swe_agent_all13_full100_defaultdevstral_20260320.json"
SWE_CLINE = f"{SWE}/{SWE_MODEL}.verified10_cline_all13_full100_defaultdevstral_20260320.json"
SWE_GOLD = "swe-bench/riverLaugh-Rust-bench/gold.validate-gold.json"
TAU_MADHAV = (
    "tau-bench/Madhav-Kanda-tau-bench/results/"
    "tool-calling-Qwen2.5-7B-Instruct-0.1_range_0--1_user-Qwen2.5-7B-Instruct-llm_1201184624.json"
)
TAU_SIERRA = (
    "tau-bench/sierra-research-tau-bench/results_test_company_model/"
    "tool-calling-deepseek-v3-0.0_range_0-1_user-gpt-4o-human_0612073827.json"
)
TAU2_RUNS = "tau2-bench/yoheinakajima-activegraph-tau2-bench/runs"
TAU2_AIRLINE_5 = f"{TAU2_RUNS}/20260601-033543-612139/tau2_output/results.json"
TAU2_MOCK_10 = f"{TAU2_RUNS}/20260531-184109-726391/tau2_output/results.json"
TAU2_MOCK_1 = f"{TAU2_RUNS}/20260531-042306-420109/tau2_output/results.json"
TAU2_TASK8_FAIL = f"{TAU2_RUNS}/20260531-204930-608103/tau2_output/results.json"
TAU2_TASK8_PASS = f"{TAU2_RUNS}/20260601-023242-818996/tau2_output/results.json"
TAU2_HOTEL = (
    "tau2-bench/oscaralvaro-tau2-bench/data/simulations/2026-04-04T13-13-08.148739_hotel_calle"
    "_llm_agent_gemma-3-27b-it_user_simulator_gemma-3-12b-it.json"
)
MLE_LIST = (
    "mle-bench/tingtang2-mle-bench/runs/2026-01-26T12-32-25-GMT_run-group_rdagent/"
    "grading_summary.json"
)
EVALS = "openai-evals/openai-evals"
EVALS_FINAL_ONLY = f"{EVALS}/evals/registry/data/self_prompting/oriprompt.log"
EVALS_NO_FINAL = (
    f"{EVALS}/tests/unit/evals/biomed2402/SRL/log/gpt-4-cot_semantic_role_recognition.jsonl"
)

TB_GOOSE = "terminal-bench/20250829_goose_claude-4-opus/2025-08-27__22-13-13_results.json"
SWE_LITE = "swe-bench/Beaverise-trevec-swe-bench-results/v5_lite_300/evaluation_report.json"
TAU_AVALJOT = (
    "tau-bench/avaljotsingh-tau-bench/"
    "assertions-agent-none-0.1_range_80-90_user-none-llm_0618150115.json"
)
TAU2_FISH = (
    "tau2-bench/oscaralvaro-tau2-bench/data/simulations/2026-04-04T19:21:40.388902_fishtrader"
    "_garbich_llm_agent_gemma-3-27b-it_user_simulator_gemma-3-12b-it.json"
)
INSPECT = "inspect/UKGovernmentBEIS-inspect_ai/tests/analysis/test_logs"
HARBOR = "harbor/ryanbbrown-ThinHarness-terminal-bench/artifacts/paid-e2e-84105f07"
MLE_POINTER = (
    "mle-bench/openai-mle-bench/runs/2024-09-06T18-25-55-UTC_run-group_aide/"
    "2024-09-19T20-07-15-GMT_grading_report.json"
)

T, W, INFRA = FailureClass.TIMEOUT, FailureClass.WRONG_RESULT, FailureClass.INFRA_ERROR

# format, path under the fixtures, tasks, passed, failures
REAL_FIXTURES = [
    ("terminal-bench", f"{TB_CURSOR}/results.json", 80, 20, {T: 21, W: 36, INFRA: 3}),
    ("terminal-bench", TB_CURSOR, 80, 20, {T: 21, W: 36, INFRA: 3}),
    ("terminal-bench", TB_DROID, 80, 39, {T: 6, W: 34, INFRA: 1}),
    ("terminal-bench", f"{TB_DROID}/results.json", 80, 39, {T: 6, W: 34, INFRA: 1}),
    (
        "terminal-bench",
        f"{TB_CURSOR}/fix-git/fix-git.1-of-1.2025-08-10__05-27-18/results.json",
        1,
        0,
        {W: 1},
    ),
    (
        "terminal-bench",
        f"{TB_CURSOR}/get-bitcoin-nodes/get-bitcoin-nodes.1-of-1.2025-08-10__05-27-18/results.json",
        1,
        1,
        {},
    ),
    (
        "terminal-bench",
        f"{TB_CURSOR}/cron-broken-network/cron-broken-network.1-of-1.2025-08-10__05-27-18/results.json",
        1,
        0,
        {INFRA: 1},
    ),
    ("terminal-bench", f"{TB_DROID}/fix-git/fix-git.1-of-1.tb_rc2_g5_1/results.json", 1, 0, {W: 1}),
    ("swebench", SWE_AGENT, 100, 53, {W: 47}),
    ("swebench", SWE_CLINE, 100, 47, {W: 52, INFRA: 1}),
    ("swebench", SWE_GOLD, 300, 1, {INFRA: 299}),
    ("tau-bench", TAU_MADHAV, 2, 1, {T: 1}),
    ("tau-bench", TAU_SIERRA, 1, 0, {INFRA: 1}),
    ("tau2-bench", TAU2_AIRLINE_5, 5, 1, {W: 3, T: 1}),
    ("tau2-bench", TAU2_MOCK_10, 10, 8, {W: 1, T: 1}),
    ("tau2-bench", TAU2_MOCK_1, 1, 0, {T: 1}),
    ("tau2-bench", TAU2_TASK8_FAIL, 1, 0, {W: 1}),
    ("tau2-bench", TAU2_TASK8_PASS, 1, 1, {}),
    ("tau2-bench", TAU2_HOTEL, 3, 2, {W: 1}),
    ("openai-evals", EVALS_FINAL_ONLY, 1500, 311, {W: 1189}),
    # the second collection (SOURCES.md): current eval frameworks and newer layouts
    ("terminal-bench", TB_GOOSE, 80, 39, {T: 19, W: 22}),
    ("swebench", SWE_LITE, 300, 105, {W: 194, INFRA: 1}),
    ("tau-bench", TAU_AVALJOT, 10, 5, {W: 3, INFRA: 2}),
    ("tau2-bench", TAU2_FISH, 15, 14, {W: 1}),
    ("inspect", f"{INSPECT}/2025-05-12T20-28-13-04-00_popularity.json", 3, 2, {W: 1}),
    ("inspect", f"{INSPECT}/2025-05-12T20-28-26-04-00_security-guide.json", 3, 3, {}),
    ("harbor", f"{HARBOR}/job-result.json", 1, 1, {}),
    ("harbor", f"{HARBOR}/trial-result.json", 1, 1, {}),
]
# Files that are not results, refused with one line naming them (test_importers_errors.py
# and below check the words), and files read as part of another (logs, metadata).
REFUSED = {MLE_POINTER: "mle-bench", EVALS_NO_FINAL: "openai-evals"}
MULTI_SEED = {MLE_LIST}  # 9 competitions x 5 seeds: test_mle_bench_list_of_competition_reports
COMPANIONS = {f"{TB_DROID}/run_metadata.json"}  # SWE-bench logs/ are read with their report

FLAGS_KW: dict[str, Any] = {
    "agent": "support-agent",
    "runtime": "1.8.2",
    "model": "acme-llm",
    "run_id": "eval-1",
    "dataset_version": "2026.11",
    "harness_version": "4.1.0",
}
FLAGS = ReportFlags(**FLAGS_KW)


def _read(benchmarks: Path, fmt: str, relative: str) -> ImportedRun:
    return read_run(fmt, benchmarks / relative)


# -- real fixtures ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "relative", "expected"),
    [(fmt, rel, tuple(rest)) for fmt, rel, *rest in REAL_FIXTURES],
    ids=[f"{fmt}:{Path(rel).parent.name}/{Path(rel).name}" for fmt, rel, *_ in REAL_FIXTURES],
)
def test_real_fixture_counts(
    benchmarks: Path, fmt: str, relative: str, expected: tuple[int, int, dict[FailureClass, int]]
) -> None:
    run = _read(benchmarks, fmt, relative)
    [seed] = seed_runs(run.results)
    assert (seed.seed, seed.tasks, seed.passed, seed.failures) == (1, *expected)
    assert sum((seed.failures or {}).values()) == seed.tasks - seed.passed
    assert all(note and "\n" not in note for note in run.notes)


def test_every_fixture_file_is_imported_or_refused(benchmarks: Path) -> None:
    """Each real file is a result with known counts, a non-result refused, or a part of one."""
    covered = {rel for _, rel, *_ in REAL_FIXTURES} | set(REFUSED) | MULTI_SEED | COMPANIONS
    for path in sorted(benchmarks.rglob("*")):
        relative = str(path.relative_to(benchmarks))
        if not path.is_file() or relative == "SOURCES.md" or "/logs/run_evaluation/" in relative:
            continue
        owners = [c for c in covered if relative == c or relative.startswith(c + "/")]
        assert owners, f"{relative} is neither imported nor refused by a test"
    for relative, fmt in REFUSED.items():
        with pytest.raises(ImportFormatError) as error:
            read_run(fmt, benchmarks / relative)
        assert str(error.value).startswith(f"{benchmarks / relative}: ")
        assert "\n" not in str(error.value)


def test_format_names() -> None:
    assert list(FORMATS) == [
        "swebench",
        "terminal-bench",
        "harbor",
        "tau-bench",
        "tau2-bench",
        "openai-evals",
        "osworld",
        "mle-bench",
        "inspect",
        "lm-eval",
        "jsonl",
    ]


@pytest.mark.parametrize(
    ("relative", "summary_key"),
    [(f"{TB_CURSOR}/results.json", "n_resolved"), (f"{TB_DROID}/results.json", "n_resolved")],
)
def test_terminal_bench_agrees_with_the_harness_summary(
    benchmarks: Path, relative: str, summary_key: str
) -> None:
    data = json.loads((benchmarks / relative).read_text())
    run = _read(benchmarks, "terminal-bench", relative)
    assert sum(row.passed for row in run.results) == data[summary_key]
    assert [row.task_id for row in run.results] == [r["task_id"] for r in data["results"]]


@pytest.mark.parametrize("relative", [SWE_AGENT, SWE_CLINE, SWE_GOLD])
def test_swebench_agrees_with_the_harness_summary(benchmarks: Path, relative: str) -> None:
    data = json.loads((benchmarks / relative).read_text())
    rows = _read(benchmarks, "swebench", relative).results
    assert len(rows) == data["submitted_instances"]
    assert {r.task_id for r in rows if r.passed} == set(data["resolved_ids"])
    assert {r.task_id for r in rows if r.failure is INFRA} == set(data["error_ids"])


def test_terminal_bench_metadata_and_measures(benchmarks: Path) -> None:
    droid = _read(benchmarks, "terminal-bench", TB_DROID)
    assert (droid.benchmark, droid.dataset_version, droid.run_id) == (
        "terminal-bench-core",
        "0.1.1",
        "tb_rc2_g5_1",
    )
    assert droid.harness_version == "7bb4b7156d9cbfc9ca4005a8b32a966dd5113d52"
    assert droid.model is None  # model_name is null in run_metadata.json
    assert droid.capability is Capability.TERMINAL
    cursor = _read(benchmarks, "terminal-bench", TB_CURSOR)
    assert (cursor.dataset_version, cursor.harness_version) == (None, None)
    assert cursor.run_id == "eae775fe-2834-474f-b634-36c3eddd0da9"
    assert any("run_metadata.json" in note for note in cursor.notes)
    kernel = next(r for r in cursor.results if r.task_id == "build-linux-kernel-qemu")
    # agent_started_at 05:27:22.334064 -> agent_ended_at 05:33:01.118823
    assert kernel.duration_seconds == pytest.approx(338.784759)
    # Installed agents write 0/0 tokens: unknown, not zero; null after a timeout.
    assert all(r.input_tokens is None and r.output_tokens is None for r in cursor.results)
    assert all(r.duration_seconds is not None for r in cursor.results)


@pytest.mark.parametrize(
    ("relative", "timed_out_passes"),
    [
        (TB_CURSOR, {"get-bitcoin-nodes", "swe-bench-langcodes"}),
        (TB_DROID, {"configure-git-webserver", "count-dataset-tokens", "pytorch-model-cli"}),
    ],
)
def test_terminal_bench_resolved_after_agent_timeout_passes(
    benchmarks: Path, relative: str, timed_out_passes: set[str]
) -> None:
    run = _read(benchmarks, "terminal-bench", relative)
    data = json.loads((benchmarks / relative / "results.json").read_text())
    flagged = {
        r["task_id"]
        for r in data["results"]
        if r["is_resolved"] is True and r["failure_mode"] == "agent_timeout"
    }
    assert flagged == timed_out_passes
    passed = {r.task_id for r in run.results if r.passed}
    assert timed_out_passes <= passed
    assert any("timed out" in note and "counted as passed" in note for note in run.notes)


def test_terminal_bench_trial_file_matches_its_run_row(benchmarks: Path) -> None:
    trial = f"{TB_CURSOR}/get-bitcoin-nodes/get-bitcoin-nodes.1-of-1.2025-08-10__05-27-18"
    [single] = _read(benchmarks, "terminal-bench", f"{trial}/results.json").results
    run = _read(benchmarks, "terminal-bench", TB_CURSOR)
    assert single == next(r for r in run.results if r.task_id == "get-bitcoin-nodes")


def test_swebench_metadata_and_notes(benchmarks: Path) -> None:
    cline = _read(benchmarks, "swebench", SWE_CLINE)
    assert cline.model == "hosted_vllm/Devstral-Small-2-24B-Instruct-2512"
    assert cline.run_id == "verified10_cline_all13_full100_defaultdevstral_20260320"
    assert (cline.dataset_version, cline.harness_version) == (None, None)
    assert cline.capability is Capability.CODE
    assert "1 error instance(s) without report.json: infra_error" in cline.notes
    assert "7 empty patch(es): wrong_result" in cline.notes
    error = next(r for r in cline.results if r.task_id == "astropy__astropy-13398")
    assert error.failure is INFRA
    agent = _read(benchmarks, "swebench", SWE_AGENT)
    # In the swe_agent run the same instance was graded, and every test failed.
    assert any("fail every test" in n and "astropy__astropy-13398" in n for n in agent.notes)
    gold = _read(benchmarks, "swebench", SWE_GOLD)
    assert (gold.model, gold.run_id) == ("gold", "validate-gold")


@pytest.mark.parametrize(
    ("fmt", "first", "second", "common"),
    [
        ("terminal-bench", TB_CURSOR, TB_DROID, 80),
        ("swebench", SWE_AGENT, SWE_CLINE, 100),
        ("tau2-bench", TAU2_TASK8_FAIL, TAU2_TASK8_PASS, 1),
    ],
)
def test_paired_fixtures_cover_the_same_tasks(
    benchmarks: Path, fmt: str, first: str, second: str, common: int
) -> None:
    a = _read(benchmarks, fmt, first).results
    b = _read(benchmarks, fmt, second).results
    assert {r.task_id for r in a} == {r.task_id for r in b}
    assert len({r.task_id for r in a}) == common


def test_swebench_pair_flips_in_both_directions(benchmarks: Path) -> None:
    agent = {r.task_id: r.passed for r in _read(benchmarks, "swebench", SWE_AGENT).results}
    cline = {r.task_id: r.passed for r in _read(benchmarks, "swebench", SWE_CLINE).results}
    assert (agent["django__django-11141"], cline["django__django-11141"]) == (True, False)
    assert (agent["django__django-10880"], cline["django__django-10880"]) == (False, True)


def test_tau_bench_rules(benchmarks: Path) -> None:
    madhav = _read(benchmarks, "tau-bench", TAU_MADHAV)
    # The fork writes the task index into 'trial'; no task repeats, so it is one trial.
    assert {r.seed for r in madhav.results} == {1}
    assert any("read as one trial" in note for note in madhav.notes)
    assert madhav.model == "Qwen2.5-7B-Instruct"
    by_task = {r.task_id: r for r in madhav.results}
    assert by_task["1"].passed
    assert by_task["0"].failure is T  # no reward_info: the step limit ended the episode
    assert all(r.cost_usd is None for r in madhav.results)  # user_cost is not the agent's
    sierra = _read(benchmarks, "tau-bench", TAU_SIERRA)
    assert sierra.model == "deepseek-v3"
    assert any("EOF when reading a line" in note for note in sierra.notes)


def test_tau2_rules_and_measures(benchmarks: Path) -> None:
    airline = _read(benchmarks, "tau2-bench", TAU2_AIRLINE_5)
    assert (airline.benchmark, airline.model) == ("tau2-bench-airline", "openai/gpt-4.1-mini")
    by_task = {r.task_id: r for r in airline.results}
    assert by_task["4"].failure is T  # max_steps
    assert by_task["3"].failure is W  # user_stop with reward 0 although db_match is true
    [seed] = seed_runs(airline.results)
    assert seed.cost_usd == 0.028723  # 0.0287232, rounded to 6 places by seed_runs
    assert seed.tokens is not None
    assert (seed.tokens.input, seed.tokens.output) == (190364, 2185)
    assert seed.duration_seconds is not None
    mock = _read(benchmarks, "tau2-bench", TAU2_MOCK_10)
    by_task = {r.task_id: r for r in mock.results}
    # reward 1.0 with db_match false: reward_basis is ENV_ASSERTION, so it passes
    assert by_task["update_task_with_history_and_env_assertions"].passed
    assert seed_runs(mock.results)[0].cost_usd is None  # two simulations have no agent_cost
    assert any("no agent_cost" in note for note in mock.notes)
    hotel = _read(benchmarks, "tau2-bench", TAU2_HOTEL)
    assert "7 of the 10 listed task(s) have no simulation and are not counted" in hotel.notes
    assert seed_runs(hotel.results)[0].cost_usd == 0.0


def test_mle_bench_list_of_competition_reports(benchmarks: Path) -> None:
    """SOURCES.md: 9 competitions x 5 seeds, 43 submissions exist, 39 valid, 6 null scores;
    the 5 raw gold medals include padded 0.0 scores on a lower-is-better metric."""
    path = benchmarks / MLE_LIST
    data = json.loads(path.read_text())
    run = _read(benchmarks, "mle-bench", MLE_LIST)
    seeds = seed_runs(run.results)
    assert [s.tasks for s in seeds] == [9] * 5
    assert sum(r["submission_exists"] for r in data) == 43
    assert sum(r["valid_submission"] for r in data) == 39
    assert sum(r["score"] is None for r in data) == 6
    assert sum(r["gold_medal"] for r in data) == 5
    passed = [r for r in run.results if r.passed]
    assert len(passed) == 2  # the two gold scores that are not padding
    failures = Counter(r.failure for r in run.results if not r.passed)
    assert failures == {W: 36, INFRA: 7}  # 4 unscorable + 3 padded; 2 without a submission
    assert "3 competition report(s) with a padded score" in " ".join(run.notes)


def test_openai_evals_final_report_only(benchmarks: Path) -> None:
    run = _read(benchmarks, "openai-evals", EVALS_FINAL_ONLY)
    assert not run.per_task
    assert (run.benchmark, run.model, run.run_id) == (
        "self_prompting.full",
        "self_prompting/oriprompt/baseline",
        "2310190045387DTSUPSQ",
    )
    assert run.capability is Capability.BUSINESS


def test_openai_evals_incomplete_record_is_refused(benchmarks: Path) -> None:
    path = benchmarks / EVALS_NO_FINAL
    with pytest.raises(ImportFormatError) as error:
        read_run("openai-evals", path)
    message = str(error.value)
    assert message.startswith(f"{path}: incomplete record: 9 sample(s)")
    assert "\n" not in message


# -- several PATHs, seeds and the report ------------------------------------------------------


def test_several_paths_become_several_seeds(benchmarks: Path) -> None:
    runs = [
        _read(benchmarks, "tau2-bench", TAU2_TASK8_FAIL),
        _read(benchmarks, "tau2-bench", TAU2_TASK8_PASS),
    ]
    report = build_report(runs, FLAGS)
    [item] = report.spec.slices
    assert (item.name, item.capability) == ("tau2-bench-airline", Capability.TOOL_DIALOG)
    assert [(s.seed, s.tasks, s.passed) for s in item.seeds] == [(1, 1, 0), (2, 1, 1)]
    assert EvalReport.model_validate(report.wire()) == report


def test_the_same_run_twice_is_two_seeds(benchmarks: Path) -> None:
    run = _read(benchmarks, "terminal-bench", TB_DROID)
    report = build_report([run, run], ReportFlags(agent="tb-agent", runtime="1", model="gpt-5"))
    [item] = report.spec.slices
    assert [(s.seed, s.tasks, s.passed) for s in item.seeds] == [(1, 80, 39), (2, 80, 39)]
    assert item.seeds[0].failures == {T: 6, W: 34, INFRA: 1}
    assert report.spec.suite.dataset_version == "0.1.1"
    assert report.spec.run_id == "tb_rc2_g5_1"
    assert report.spec.stage is Stage.OFFLINE
    assert report.metadata.name == "tb-agent-tb_rc2_g5_1".replace("_", "-")


def test_flags_override_files_and_fill_gaps(benchmarks: Path) -> None:
    run = _read(benchmarks, "terminal-bench", TB_DROID)
    flags = ReportFlags(
        agent="tb-agent",
        runtime="2.0",
        model="gpt-5",
        tools={"shell": "1"},
        slice_name="terminal",
        dataset_version="9.9",
        harness_version="0.2.18",
        run_id="run-7",
        suite_name="portfolio",
        holdout=True,
        name="custom",
        namespace="evals",
        results_uri="s3://bucket/rows.jsonl",
        results_sha256="a" * 64,
    )
    spec = build_report([run], flags).spec
    assert (spec.slices[0].name, spec.suite.name, spec.suite.holdout) == (
        "terminal",
        "portfolio",
        True,
    )
    assert (spec.suite.dataset_version, spec.suite.harness_version) == ("9.9", "0.2.18")
    assert (spec.run_id, spec.candidate.tools) == ("run-7", {"shell": "1"})
    assert spec.slices[0].results is not None
    assert spec.slices[0].results.uri == "s3://bucket/rows.jsonl"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"agent": None}, "--agent: required"),
        ({"runtime": None}, "--runtime: required"),
        ({"model": None}, "--model: required"),
        ({"dataset_version": None}, "--dataset-version: required"),
        ({"harness_version": None}, "--harness-version: required"),
        ({"agent": "Not A Label"}, "--agent: String should match pattern"),
        ({"results_uri": "s3://x", "results_sha256": "nothex"}, "--results-sha256: String"),
        ({"name": "x" * 254}, "--name: String should have at most 253 characters"),
    ],
)
def test_missing_or_bad_flags_name_the_flag(
    benchmarks: Path, changes: dict[str, Any], expected: str
) -> None:
    run = _read(benchmarks, "terminal-bench", TB_CURSOR)  # no model, versions from files
    with pytest.raises(ImportInputError) as error:
        build_report([run], ReportFlags(**{**FLAGS_KW, **changes}))
    assert str(error.value).startswith(expected)
    assert "\n" not in str(error.value)


def test_a_run_without_a_run_id_needs_the_flag(benchmarks: Path) -> None:
    run = _read(benchmarks, "tau2-bench", TAU2_MOCK_1)  # tau2 files carry no run id
    with pytest.raises(ImportInputError, match=r"^--run-id: required"):
        build_report([run], ReportFlags(**{**FLAGS_KW, "run_id": None}))


def test_runs_that_disagree_are_refused(benchmarks: Path) -> None:
    airline = _read(benchmarks, "tau2-bench", TAU2_TASK8_FAIL)
    mock = _read(benchmarks, "tau2-bench", TAU2_MOCK_1)
    with pytest.raises(ImportInputError, match="disagree on the benchmark: tau2-bench-airline"):
        build_report([airline, mock], FLAGS)
    droid = _read(benchmarks, "terminal-bench", TB_DROID)
    other = ImportedRun(**{**_fields(droid), "dataset_version": "0.1.0"})
    flags = ReportFlags(agent="a", runtime="1", model="m")
    with pytest.raises(ImportInputError, match=r"disagree on the dataset version: 0\.1\.1"):
        build_report([droid, other], flags)
    # Two runs with their own run ids make a report only with --run-id.
    with pytest.raises(ImportInputError, match="disagree on the run id"):
        build_report([droid, ImportedRun(**{**_fields(droid), "run_id": "x"})], flags)


def test_business_defaults_to_the_prerelease_stage(benchmarks: Path) -> None:
    run = _read(benchmarks, "openai-evals", EVALS_FINAL_ONLY)
    flags = ReportFlags(agent="a", runtime="1", dataset_version="d", harness_version="h")
    report = build_report([run], flags)
    assert report.spec.stage is Stage.PRERELEASE
    assert report.spec.candidate.model == "self_prompting/oriprompt/baseline"
    assert report.metadata.name == "a-2310190045387dtsupsq"


def _fields(run: ImportedRun) -> dict[str, Any]:
    return {name: getattr(run, name) for name in ImportedRun.__dataclass_fields__}


def _row_file(tmp_path: Path, name: str, rows: list[dict[str, Any]]) -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_seeds_carried_by_rows_are_kept_when_they_differ(tmp_path: Path) -> None:
    a = _row_file(
        tmp_path, "a.jsonl", [{"task_id": "t", "passed": True, "seed": s} for s in (1, 2)]
    )
    b = _row_file(tmp_path, "b.jsonl", [{"task_id": "t", "passed": False, "seed": 7}])
    flags = ReportFlags(**FLAGS_KW, slice_name="s", capability=Capability.CODE)
    report = build_report([read_run("jsonl", a), read_run("jsonl", b)], flags)
    assert [(s.seed, s.passed) for s in report.spec.slices[0].seeds] == [(1, 1), (2, 1), (7, 0)]
    # Overlapping seeds are renumbered in PATH order: a's 1, 2; a's again 3, 4; b's 5.
    runs = [read_run("jsonl", a), read_run("jsonl", a), read_run("jsonl", b)]
    seeds = build_report(runs, flags).spec.slices[0].seeds
    assert [(s.seed, s.passed) for s in seeds] == [(1, 1), (2, 1), (3, 1), (4, 1), (5, 0)]


def test_jsonl_round_trip(benchmarks: Path, tmp_path: Path) -> None:
    rows = _read(benchmarks, "tau2-bench", TAU2_AIRLINE_5).results
    path = tmp_path / "rows.jsonl"
    path.write_text(dump_task_lines(rows))
    back = read_run("jsonl", path)
    assert back.results == rows
    assert (back.benchmark, back.capability) == (None, None)
    assert seed_runs(back.results) == seed_runs(rows)


def test_jsonl_slices_are_picked_by_flag(tmp_path: Path) -> None:
    path = _row_file(
        tmp_path,
        "mixed.jsonl",
        [
            {"task_id": "a", "passed": True, "slice": "code"},
            {"task_id": "b", "passed": False, "slice": "terminal", "failure": "timeout"},
        ],
    )
    run = read_run("jsonl", path)
    assert run.benchmark is None
    assert run.notes == ["rows belong to 2 slices: code, terminal"]
    with pytest.raises(ImportInputError, match=r"^--slice: required"):
        build_report([run], ReportFlags(**FLAGS_KW, capability=Capability.TERMINAL))
    report = build_report(
        [run], ReportFlags(**FLAGS_KW, slice_name="terminal", capability=Capability.TERMINAL)
    )
    [seed] = report.spec.slices[0].seeds
    assert (seed.tasks, seed.passed, seed.failures) == (1, 0, {T: 1})
    with pytest.raises(ImportInputError, match="has no rows of slice 'gui'"):
        build_report([run], ReportFlags(**FLAGS_KW, slice_name="gui", capability=Capability.GUI))
    single = _row_file(tmp_path, "one.jsonl", [{"task_id": "a", "passed": True, "slice": "code"}])
    assert read_run("jsonl", single).benchmark == "code"


def test_unknown_format_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ImportInputError, match=r"^--format: unknown format 'swe'"):
        read_run("swe", tmp_path)


def test_seed_limit_and_no_paths(tmp_path: Path) -> None:
    rows = [{"task_id": "t", "passed": True, "seed": seed} for seed in range(1, 34)]
    run = read_run("jsonl", _row_file(tmp_path, "many.jsonl", rows))
    flags = ReportFlags(**FLAGS_KW, slice_name="s", capability=Capability.CODE)
    with pytest.raises(ImportInputError, match=r"^PATH: List should have at most 32 items"):
        build_report([run], flags)
    with pytest.raises(ImportInputError, match=r"^no PATH given"):
        build_report([], flags)


# -- tau2's split ("dir") layout -------------------------------------------------------------


def split_tau2(source: Path, folder: Path, *, files: bool = True) -> Path:
    """A monolithic tau2 results file written in the dir layout, as `Results.save(format="dir")`."""
    data = json.loads(source.read_text())
    simulations = data.pop("simulations")
    data["simulation_index"] = [
        {
            "id": sim["id"],
            "task_id": sim["task_id"],
            "trial": sim["trial"],
            "reward": (sim.get("reward_info") or {}).get("reward"),
            "termination_reason": sim["termination_reason"],
            "agent_cost": sim.get("agent_cost"),
            "duration": sim.get("duration"),
        }
        for sim in simulations
    ]
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(data))
    if files:
        (folder / "simulations").mkdir()
        for sim in simulations:
            (folder / "simulations" / f"{sim['id']}.json").write_text(json.dumps(sim))
    return folder


def test_tau2_split_layout_reads_like_the_monolithic_file(benchmarks: Path, tmp_path: Path) -> None:
    whole = _read(benchmarks, "tau2-bench", TAU2_AIRLINE_5)
    folder = split_tau2(benchmarks / TAU2_AIRLINE_5, tmp_path / "run")
    for path in (folder, folder / "results.json"):
        split = read_run("tau2-bench", path)
        assert sorted(split.results) == sorted(whole.results)
        assert (split.benchmark, split.model) == (whole.benchmark, whole.model)
    index_only = read_run(
        "tau2-bench", split_tau2(benchmarks / TAU2_AIRLINE_5, tmp_path / "i", files=False)
    )
    assert seed_runs(index_only.results)[0].passed == seed_runs(whole.results)[0].passed
    assert any("rows come from simulation_index" in note for note in index_only.notes)
    next((folder / "simulations").iterdir()).unlink()
    with pytest.raises(ImportFormatError, match=r"simulation_index and .* disagree: missing files"):
        read_run("tau2-bench", folder)
