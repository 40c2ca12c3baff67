"""Bad inputs: every importer answers with one ImportFormatError line naming file and field.

Hand-picked cases check the exact words; a sweep then breaks real fixtures on purpose
(every field of a record replaced by a value of each JSON type, or removed; files cut
short at several offsets) and checks that nothing but ImportFormatError escapes: the
CLI turns that error into exit code 65 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import copy
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent_release.api.evalreport import EvalReport
from agent_release.importers import ImportFormatError, ImportInputError, read_run
from agent_release.manifests import ManifestError, load
from agent_release.taskresults import TaskFileError, read_task_file

TB_RUN = "terminal-bench/20250811_cursor-cli_claude-4-sonnet/run1_2025-08-10__05-27-18/results.json"
SWE_CLINE = (
    "swe-bench/pouyafath-BenchmarkLLMAgent/hosted_vllm__Devstral-Small-2-24B-Instruct-2512"
    ".verified10_cline_all13_full100_defaultdevstral_20260320.json"
)
TAU = (
    "tau-bench/Madhav-Kanda-tau-bench/results/"
    "tool-calling-Qwen2.5-7B-Instruct-0.1_range_0--1_user-Qwen2.5-7B-Instruct-llm_1201184624.json"
)
TAU2_RUNS = "tau2-bench/yoheinakajima-activegraph-tau2-bench/runs"
TAU2 = f"{TAU2_RUNS}/20260601-033543-612139/tau2_output/results.json"
TAU2_SMALL = f"{TAU2_RUNS}/20260531-042306-420109/tau2_output/results.json"
EVALS = (
    "openai-evals/openai-evals/tests/unit/evals/biomed2402/SRL/log/"
    "gpt-4-cot_semantic_role_recognition.jsonl"
)


def expect_error(fmt: str, path: Path) -> str:
    """The message of the ImportFormatError reading `path` raises; it is one line."""
    with pytest.raises(ImportFormatError) as error:
        read_run(fmt, path)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


def fixture_json(benchmarks: Path, relative: str) -> Any:
    return json.loads((benchmarks / relative).read_text())


# -- exact messages ---------------------------------------------------------------------------

Edit = Callable[[Any], Any]


def _set(path: list[Any], value: Any) -> Edit:
    def edit(data: Any) -> Any:
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return data

    return edit


def _drop(path: list[Any]) -> Edit:
    def edit(data: Any) -> Any:
        target = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
        return data

    return edit


CASES: list[tuple[str, str, Edit, str]] = [
    (
        "terminal-bench",
        TB_RUN,
        _set(["results", 3, "is_resolved"], "yes"),
        "field 'results[3].is_resolved' must be true, false or null, got \"yes\"",
    ),
    (
        "terminal-bench",
        TB_RUN,
        _drop(["results", 0, "task_id"]),
        "field 'results[0].task_id' is missing",
    ),
    (
        "terminal-bench",
        TB_RUN,
        _set(["results", 1, "total_input_tokens"], -5),
        "field 'results[1].total_input_tokens' must be a non-negative integer, got -5",
    ),
    (
        "terminal-bench",
        TB_RUN,
        _set(["results", 2, "agent_ended_at"], "2025-08-10T05:00:00+00:00"),
        "field 'results[2].agent_ended_at' must be a time not before "
        "'results[2].agent_started_at', got \"2025-08-10T05:00:00+00:00\"",
    ),
    (
        "terminal-bench",
        TB_RUN,
        _set(["results", 2, "agent_started_at"], "yesterday"),
        "field 'results[2].agent_started_at' must be an ISO-8601 timestamp, got \"yesterday\"",
    ),
    (
        "terminal-bench",
        TB_RUN,
        _set(["results", 2, "agent_ended_at"], "2025-08-10T06:00:00"),
        "field 'results[2].agent_ended_at' must be a timestamp in the same time zone style "
        "as 'agent_started_at', got \"2025-08-10T06:00:00\"",
    ),
    (
        "terminal-bench",
        TB_RUN,
        _set(["n_resolved"], 21),
        "field 'n_resolved' is 21, but 20 trials have is_resolved true",
    ),
    (
        "terminal-bench",
        TB_RUN,
        _set(["results"], []),
        "field 'results' is empty: the run has no trials",
    ),
    (
        "terminal-bench",
        TB_RUN,
        lambda data: {"simulations": []},
        "not a Terminal-Bench results.json: expected 'results' (a run) or 'trial_name' (one trial)",
    ),
    (
        "terminal-bench",
        TB_RUN,
        lambda data: data["results"],
        "expected a Terminal-Bench results.json (a JSON object), got an array",
    ),
    (
        "swebench",
        SWE_CLINE,
        _set(["resolved_instances"], -1),
        "field 'resolved_instances' must be a non-negative integer, got -1",
    ),
    (
        "swebench",
        SWE_CLINE,
        _set(["resolved_instances"], 46),
        "field 'resolved_instances' is 46, but 'resolved_ids' lists 47",
    ),
    ("swebench", SWE_CLINE, _drop(["submitted_ids"]), "field 'submitted_ids' is missing"),
    (
        "swebench",
        SWE_CLINE,
        _set(["error_ids"], [1]),
        "field 'error_ids' must be an array of non-empty strings, got an array",
    ),
    (
        "tau-bench",
        TAU,
        _set([1, "reward"], "1.0"),
        "field '[1].reward' must be a number from 0 to 1, got \"1.0\"",
    ),
    (
        "tau-bench",
        TAU,
        _set([0, "reward"], 2),
        "field '[0].reward' must be a number from 0 to 1, got 2",
    ),
    ("tau-bench", TAU, _drop([0, "info"]), "field '[0].info' is missing"),
    ("tau-bench", TAU, _set([0], "oops"), "field '[0]' must be an object, got \"oops\""),
    ("tau-bench", TAU, lambda data: [], "the results array is empty"),
    (
        "tau-bench",
        TAU,
        lambda data: {"results": data},
        "expected a tau-bench results array, got an object",
    ),
    (
        "tau2-bench",
        TAU2,
        _set(["simulations", 4, "reward_info", "reward"], "high"),
        "field 'simulations[4].reward_info.reward' must be a number from 0 to 1, got \"high\"",
    ),
    (
        "tau2-bench",
        TAU2,
        _drop(["simulations", 0, "termination_reason"]),
        "field 'simulations[0].termination_reason' is missing",
    ),
    (
        "tau2-bench",
        TAU2,
        _set(["simulations", 1, "agent_cost"], -0.5),
        "field 'simulations[1].agent_cost' must be a non-negative number, got -0.5",
    ),
    (
        "tau2-bench",
        TAU2,
        _set(["simulations", 0, "messages", 2, "usage", "prompt_tokens"], 1.5),
        "field 'simulations[0].messages[2].usage.prompt_tokens' must be a non-negative integer, "
        "got 1.5",
    ),
    (
        "tau2-bench",
        TAU2,
        _set(["simulations"], []),
        "field 'simulations' is empty (5 task(s) listed, none simulated)",
    ),
]


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=[f"{fmt}:{expected[:48]}" for fmt, _, _, expected in CASES],
)
def test_broken_field_is_named(
    benchmarks: Path, tmp_path: Path, case: tuple[str, str, Edit, str]
) -> None:
    fmt, relative, edit, expected = case
    path = tmp_path / Path(relative).name
    path.write_text(json.dumps(edit(fixture_json(benchmarks, relative))))
    assert expect_error(fmt, path) == f"{path}: {expected}"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty, expected JSON"),
        (b"   \n", "empty, expected JSON"),
        (b'{"results": [', "invalid JSON at line 1 column 14 (Expecting value)"),
        (b'{"a": "\xc3\x28"}', "not UTF-8 text"),
        (b"[" * 100_000, "JSON nested too deeply"),
        (b"[" + b"9" * 5000 + b"]", "invalid JSON (Exceeds the limit"),
        (b'[{"task_id": 0, "reward": NaN, "info": {}}]', "must be a number from 0 to 1, got NaN"),
    ],
)
def test_unreadable_json(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "results.json"
    path.write_bytes(content)
    assert expected in expect_error("tau-bench", path)


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("terminal-bench", "no such file"),
        ("swebench", "no such file"),
        ("tau-bench", "no such file"),
        ("tau2-bench", "no such file"),
        ("openai-evals", "no such file"),
        ("mle-bench", "no such file"),
        ("jsonl", "no such file"),
        ("osworld", "no such folder"),
    ],
)
def test_missing_path(tmp_path: Path, fmt: str, expected: str) -> None:
    assert expected in expect_error(fmt, tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("swebench", "is a folder; pass a SWE-bench run report (<model>.<run_id>.json)"),
        ("tau-bench", "is a folder; pass a tau-bench results file"),
        ("tau2-bench", "results.json: no such file"),
        ("openai-evals", "is a folder; pass an OpenAI Evals record file"),
        ("mle-bench", "is a folder; pass an MLE-bench grading report"),
        ("terminal-bench", "results.json: no such file"),
        ("osworld", "no result.txt under this folder"),
    ],
)
def test_an_empty_folder(tmp_path: Path, fmt: str, expected: str) -> None:
    assert expected in expect_error(fmt, tmp_path)


@pytest.mark.parametrize(
    ("fmt", "relative", "expected"),
    [
        ("terminal-bench", TAU2, "not a Terminal-Bench results.json"),
        ("swebench", TB_RUN, "field 'submitted_ids' is missing"),
        ("tau-bench", TAU2, "expected a tau-bench results array, got an object"),
        ("tau2-bench", SWE_CLINE, "field 'simulations' is missing"),
        ("mle-bench", TAU2, "field 'competition_reports' is missing"),
        ("openai-evals", TAU2, "results.json:1: invalid JSON"),  # pretty-printed, not JSONL
        ("jsonl", TB_RUN, "results.json:1: invalid JSON"),
    ],
)
def test_a_file_of_the_wrong_format(
    benchmarks: Path, fmt: str, relative: str, expected: str
) -> None:
    assert expected in expect_error(fmt, benchmarks / relative)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (['{"spec": {"eval_name": "e", "completion_fns": ["m"]}}', "{oops"], ":2: invalid JSON"),
        (['{"run_id": "r"}'], ":1: expected a 'spec', an event (with 'type') or a 'final_report'"),
        (['{"final_report": {"accuracy": 0.5}}'], "no 'spec' line"),
        (
            [
                '{"spec": {"eval_name": "e", "completion_fns": ["m"]}}',
                '{"sample_id": "s", "type": "match", "data": {"correct": "yes"}}',
            ],
            ":2: field 'data.correct' must be true or false, got \"yes\"",
        ),
        (
            [
                '{"spec": {"eval_name": "e", "completion_fns": ["m"]}}',
                '{"final_report": {"accuracy": 0.5}}',
            ],
            "final_report has no 'accuracy' and 'n_samples'",
        ),
        (
            [
                '{"spec": {"eval_name": "e", "completion_fns": ["m"]}}',
                '{"final_report": {"accuracy": 0.3, "n_samples": 7}}',
            ],
            "is not a whole number of passes",
        ),
        (
            ['{"spec": {"eval_name": "e", "completion_fns": ["m"]}}'] * 2,
            ":2: a second 'spec' line",
        ),
    ],
)
def test_bad_openai_evals_records(tmp_path: Path, lines: list[str], expected: str) -> None:
    path = tmp_path / "record.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert expected in expect_error("openai-evals", path)


def test_bad_jsonl_rows_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"task_id": "a", "passed": true}\n{"task_id": "b", "passed": "no"}\n')
    assert f"{path}:2: field 'passed'" in expect_error("jsonl", path)
    path.write_text("\n")
    assert expect_error("jsonl", path) == f"{path}: no task results (the file has no rows)"


# -- the sweep --------------------------------------------------------------------------------

VALUES: list[Any] = [None, True, -1, 1.5, 10**30, 10**400, "", "x", [], {}, [{"a": 1}]]


# Small hand-made documents of the formats without a real file to break.
MLE_REPORT = {
    "total_runs": 1,
    "total_medals": 1,
    "competition_reports": [
        {
            "competition_id": "spaceship-titanic",
            "score": 0.8,
            "any_medal": True,
            "submission_exists": True,
            "valid_submission": True,
            "above_median": True,
        }
    ],
}
EVALS_LINES = [
    {"spec": {"eval_name": "e", "completion_fns": ["m"], "run_id": "R"}},
    {"sample_id": "s.1", "type": "match", "data": {"correct": True}},
    {"sample_id": "s.2", "type": "metrics", "data": {"score": 0.0}},
    {"final_report": {"accuracy": 0.5, "n_samples": 2}},
]


def _records(data: Any, fmt: str) -> list[dict[str, Any]]:
    """The objects of a document whose fields the sweep breaks, one at a time."""
    if fmt == "terminal-bench":
        return [data, data["results"][0], data["results"][9]]
    if fmt == "swebench":
        return [data]
    if fmt == "tau-bench":
        return [data[0], data[0]["info"], data[1]["info"]]
    if fmt == "mle-bench":
        return [data, data["competition_reports"][0]]
    if fmt == "openai-evals":
        return [data[0]["spec"], data[1], data[1]["data"], data[2]["data"], data[3]["final_report"]]
    return [data, data["info"], data["simulations"][0], data["simulations"][0]["reward_info"]]


def _write(fmt: str, path: Path, data: Any) -> None:
    lines = data if fmt == "openai-evals" else [data]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


@pytest.mark.parametrize(
    ("fmt", "source"),
    [
        ("terminal-bench", TB_RUN),
        ("swebench", SWE_CLINE),
        ("tau-bench", TAU),
        ("tau2-bench", TAU2_SMALL),
        ("mle-bench", MLE_REPORT),
        ("openai-evals", EVALS_LINES),
    ],
    ids=["terminal-bench", "swebench", "tau-bench", "tau2-bench", "mle-bench", "openai-evals"],
)
def test_every_broken_field_gives_a_format_error_or_a_run(
    benchmarks: Path, tmp_path: Path, fmt: str, source: Any
) -> None:
    original = fixture_json(benchmarks, source) if isinstance(source, str) else source
    path = tmp_path / "broken.json"
    _write(fmt, path, original)
    read_run(fmt, path)  # the unbroken document reads
    tried = _break_each_field(
        original,
        lambda data: _records(data, fmt),
        lambda data: _write(fmt, path, data),
        lambda: _read_or_format_error(fmt, path),
    )
    assert tried > 50


def _break_each_field(
    original: Any,
    records: Callable[[Any], list[dict[str, Any]]],
    write: Callable[[Any], None],
    check: Callable[[], None],
) -> int:
    """Set every field of every record to each of VALUES, or remove it, one at a time."""
    tried = 0
    for index, record in enumerate(records(original)):
        for key in list(record):
            for value in [*VALUES, KeyError]:
                data = copy.deepcopy(original)
                target = records(data)[index]
                if value is KeyError:
                    del target[key]
                else:
                    target[key] = value
                write(data)
                check()
                tried += 1
    return tried


@pytest.mark.parametrize(
    ("fmt", "relative"),
    [
        ("terminal-bench", TB_RUN),
        ("swebench", SWE_CLINE),
        ("tau-bench", TAU),
        ("tau2-bench", TAU2),
        ("openai-evals", EVALS),
    ],
)
def test_truncated_files(benchmarks: Path, tmp_path: Path, fmt: str, relative: str) -> None:
    content = (benchmarks / relative).read_bytes()
    path = tmp_path / Path(relative).name
    for cut in range(1, 20):
        path.write_bytes(content[: len(content) * cut // 20])
        expect_error(fmt, path)


def _read_or_format_error(fmt: str, path: Path) -> None:
    message = ""
    try:
        read_run(fmt, path)
    except ImportFormatError as error:
        message = str(error)
    assert "\n" not in message
    assert not message or message.startswith(str(path))


# -- Git LFS pointers -------------------------------------------------------------------------

MLE_POINTER = (
    "mle-bench/openai-mle-bench/runs/2024-09-06T18-25-55-UTC_run-group_aide/"
    "2024-09-19T20-07-15-GMT_grading_report.json"
)
POINTER_SAYS = (
    "a Git LFS pointer, not the file: the real file (144,465 bytes, sha256 ffe86eef...) "
    "is in Git LFS; fetch it with `git lfs pull`"
)


def test_the_official_mle_bench_pointer_is_named(benchmarks: Path) -> None:
    path = benchmarks / MLE_POINTER
    assert expect_error("mle-bench", path) == f"{path}: {POINTER_SAYS}"


@pytest.mark.parametrize(
    "fmt", ["terminal-bench", "swebench", "tau-bench", "tau2-bench", "openai-evals", "jsonl"]
)
def test_every_file_reader_names_a_pointer(benchmarks: Path, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "results.json"
    path.write_bytes((benchmarks / MLE_POINTER).read_bytes())
    assert expect_error(fmt, path) == f"{path}: {POINTER_SAYS}"


def test_a_pointer_inside_a_folder_is_named(benchmarks: Path, tmp_path: Path) -> None:
    """OSWorld reads result.txt files, Terminal-Bench its run_metadata.json beside results."""
    task = tmp_path / "pyautogui/screenshot/gpt-4o/chrome/task-1"
    task.mkdir(parents=True)
    (task / "result.txt").write_bytes((benchmarks / MLE_POINTER).read_bytes())
    assert expect_error("osworld", tmp_path) == f"{task / 'result.txt'}: {POINTER_SAYS}"
    run = tmp_path / "tb"
    run.mkdir()
    (run / "results.json").write_bytes((benchmarks / TB_RUN).read_bytes())
    (run / "run_metadata.json").write_bytes((benchmarks / MLE_POINTER).read_bytes())
    with pytest.raises(ImportFormatError) as error:
        read_run("terminal-bench", run)
    assert str(error.value) == f"{run / 'run_metadata.json'}: {POINTER_SAYS}"


def test_manifest_and_per_task_readers_name_a_pointer(benchmarks: Path, tmp_path: Path) -> None:
    path = tmp_path / "report.yaml"
    path.write_bytes((benchmarks / MLE_POINTER).read_bytes())
    with pytest.raises(ManifestError) as manifest:
        load(path, EvalReport)
    assert str(manifest.value) == f"{path}: {POINTER_SAYS}"
    with pytest.raises(TaskFileError) as rows:
        read_task_file(path)
    assert str(rows.value) == f"{path}: {POINTER_SAYS}"


def test_a_json_file_that_only_looks_like_a_pointer_is_read(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"task_id": "version https://git-lfs.github.com/spec/v1", "passed": true}\n')
    assert read_run("jsonl", path).results[0].passed


# -- the sweep, for the formats of current eval frameworks ------------------------------------

INSPECT_LOG = (
    "inspect/UKGovernmentBEIS-inspect_ai/tests/analysis/test_logs/"
    "2025-05-12T20-28-13-04-00_popularity.json"
)
HARBOR_TRIAL = (
    "harbor/ryanbbrown-ThinHarness-terminal-bench/artifacts/paid-e2e-84105f07/trial-result.json"
)
HARBOR_JOB = (
    "harbor/ryanbbrown-ThinHarness-terminal-bench/artifacts/paid-e2e-84105f07/job-result.json"
)
MLE_LIST = (
    "mle-bench/tingtang2-mle-bench/runs/2026-01-26T12-32-25-GMT_run-group_rdagent/"
    "grading_summary.json"
)
# The shape lm_eval's EvaluationTracker writes (test_importers_lm_eval.py runs the real one).
LM_EVAL_RESULTS = {
    "results": {"arc": {"alias": "arc", "acc,none": 0.5, "acc_stderr,none": 0.2, "sample_len": 4}},
    "group_subtasks": {"arc": []},
    "configs": {"arc": {"task": "arc", "num_fewshot": 0, "metadata": {"version": 1.0}}},
    "versions": {"arc": 1.0},
    "higher_is_better": {"arc": {"acc": True}},
    "n-samples": {"arc": {"original": 4, "effective": 4}},
    "config": {"model": "hf", "model_args": "pretrained=acme/tiny"},
    "lm_eval_version": "0.4.13",
    "model_name": "acme/tiny",
}
LEADERBOARD = {"resolved": ["a__a-1", "a__a-2"], "no_generation": ["a__a-3"], "no_logs": []}


def _new_records(data: Any, kind: str) -> list[dict[str, Any]]:
    if kind in ("inspect", "inspect-eval"):
        sample = data["samples"][0]
        return [data, data["eval"], data["results"], data["results"]["scores"][0], sample,
                sample["scores"]["match"], sample["model_usage"]["openai/gpt-4o-mini"]]  # fmt: skip
    if kind == "harbor":
        return [data, data["verifier_result"], data["agent_result"], data["agent_execution"]]
    if kind == "harbor-job":
        evals = data["stats"]["evals"]
        return [data, data["stats"], next(iter(evals.values()))]
    if kind == "lm-eval":
        return [data, data["results"]["arc"], data["n-samples"]["arc"], data["configs"]]
    if kind == "mle-bench-list":
        return [data[0], data[5]]
    return [data]


def _new_write(kind: str, path: Path, data: Any) -> None:
    if kind != "inspect-eval":
        path.write_text(json.dumps(data))
        return
    # a .eval archive of the same parts: header, summaries, and one member per sample
    header = {k: v for k, v in data.items() if k != "samples"}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("header.json", json.dumps(header))
        archive.writestr("summaries.json", json.dumps(data.get("samples")))
        samples = data.get("samples")
        for sample in samples if isinstance(samples, list) else []:
            if isinstance(sample, dict):
                name = f"samples/{sample.get('id')}_epoch_{sample.get('epoch')}.json"
                archive.writestr(name, json.dumps(sample))


NEW_FORMATS = [
    ("inspect", "inspect", INSPECT_LOG, "popularity.json"),
    ("inspect", "inspect-eval", INSPECT_LOG, "popularity.eval"),
    ("harbor", "harbor", HARBOR_TRIAL, "result.json"),
    ("harbor", "harbor-job", HARBOR_JOB, "job-result.json"),
    ("lm-eval", "lm-eval", LM_EVAL_RESULTS, "results_2026-01-01T00-00-00.json"),
    ("mle-bench", "mle-bench-list", MLE_LIST, "grading_summary.json"),
    ("swebench", "leaderboard", LEADERBOARD, "evaluation/lite/run/results/results.json"),
]


@pytest.mark.parametrize(
    ("fmt", "kind", "source", "name"), NEW_FORMATS, ids=[kind for _, kind, _, _ in NEW_FORMATS]
)
def test_every_broken_field_of_the_new_formats_is_one_line(
    benchmarks: Path, tmp_path: Path, fmt: str, kind: str, source: Any, name: str
) -> None:
    original = fixture_json(benchmarks, source) if isinstance(source, str) else source
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    _new_write(kind, path, original)
    read_run(fmt, path)  # the unbroken document reads
    tried = _break_each_field(
        original,
        lambda data: _new_records(data, kind),
        lambda data: _new_write(kind, path, data),
        lambda: _read_or_input_error(fmt, path),
    )
    assert tried > 30
    content = path.read_bytes()
    for cut in range(1, 20):
        path.write_bytes(content[: len(content) * cut // 20])
        expect_error(fmt, path)


def _read_or_input_error(fmt: str, path: Path) -> None:
    """A run, or one line: a format error naming the file, or a flag error naming it too."""
    message = ""
    try:
        read_run(fmt, path)
    except ImportFormatError as error:
        message = str(error)
        assert message.startswith(str(path))
    except ImportInputError as error:  # e.g. a scorer or reward key the file does not have
        message = str(error)
        assert message.startswith("--")
        assert str(path) in message
    assert "\n" not in message
