"""`--format inspect` on logs that inspect_ai itself writes, offline.

The logs come from `inspect_ai.eval` with a test model registered through inspect's
own `@modelapi` (it scripts its answers and counts tokens without tiktoken, whose
encoding data would be downloaded on first use): two epochs of five samples, one
answered right, one wrong, one whose model call raises, one past the time limit and
one whose tool call fails. The importer's counts are checked against what inspect
itself says about the same log: its accuracy and scored samples, its per-sample
errors and limits, its token totals.
"""

from __future__ import annotations

import asyncio
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import pytest
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai._util.zipfile import zipfile_compress_kwargs
from inspect_ai.dataset import Sample
from inspect_ai.log import EvalLog, read_eval_log
from inspect_ai.model import (
    ChatMessage,
    GenerateConfig,
    ModelOutput,
    ModelUsage,
    modelapi,
)
from inspect_ai.scorer import Score, Scorer, Target, match, mean, scorer
from inspect_ai.solver import TaskState, generate, use_tools
from inspect_ai.tool import Tool, ToolChoice, ToolError, ToolInfo, tool

from agent_release.api.types import FailureClass
from agent_release.cli.main import main
from agent_release.importers import (
    ImportFormatError,
    ImportInputError,
    ReadOptions,
    read_run,
    read_runs,
    ziplog,
)
from agent_release.taskresults import read_task_file, seed_runs
from builders.inspect_offline import OfflineModel

T, W, INFRA, TOOL = (
    FailureClass.TIMEOUT,
    FailureClass.WRONG_RESULT,
    FailureClass.INFRA_ERROR,
    FailureClass.TOOL_ERROR,
)
MODEL = "scripted/model-1"
ANSWERS = {"one": "1", "two": "3", "tool": "?", "slow": "late"}
SAMPLES = [("one", "1"), ("two", "2"), ("boom", "b"), ("slow", "late"), ("tool", "t")]
EPOCHS = 2
pytestmark = pytest.mark.filterwarnings(
    "ignore:The .initial. parameter is deprecated:DeprecationWarning"  # tenacity, via inspect
)
# inspect registers zstd with zipfile (ZIP method 93) on import, to write its logs
ZIP_ZSTANDARD: int = zipfile_compress_kwargs["compression"]


@tool
def lookup() -> Tool:
    async def execute(key: str) -> str:
        """Look a key up.

        Args:
            key: the key to look up
        """
        raise ToolError(f"no such key {key}")

    return execute


@modelapi(name="scripted")
class Scripted(OfflineModel):
    """Answers by the sample's first user message; tokens counted without tiktoken."""

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        first = next(m for m in input if m.role == "user").text
        if first == "boom":
            raise RuntimeError("the provider went away")
        if first == "slow":  # cancelled by the time limit
            await asyncio.sleep(60)
        if first == "tool" and input[-1].role != "tool":
            output = ModelOutput.for_tool_call(self.model_name, "lookup", {"key": "k"})
        else:
            output = ModelOutput.from_content(self.model_name, ANSWERS.get(first, "?"))
        output.usage = ModelUsage(input_tokens=10 * len(input), output_tokens=2, total_tokens=0)
        return output


@scorer(metrics=[mean()])
def graded() -> Scorer:
    """A numeric scorer: 1 for the right answer, 0.5 for a tool answer, else 0."""

    async def score(state: TaskState, target: Target) -> Score:
        answer = state.output.completion
        value = 1.0 if answer == target.text else 0.5 if answer == "?" else 0.0
        return Score(value=value, answer=answer)

    return score


def demo_task(scorers: list[Scorer] | None = None) -> Task:
    return Task(
        dataset=[
            Sample(input=text, target=target, id=number)
            for number, (text, target) in enumerate(SAMPLES, start=1)
        ],
        solver=[use_tools(lookup()), generate()],
        scorer=scorers or [match()],
        name="demo",
        version=3,
    )


def run_eval(log_dir: Path, fmt: Literal["eval", "json"], **kwargs: Any) -> Path:
    # a limit that the other samples stay far below on a busy machine (at 1 s, a loaded CI
    # machine saw quick samples cut off too)
    defaults: dict[str, Any] = {"epochs": EPOCHS, "fail_on_error": False, "time_limit": 4}
    [log] = inspect_eval(
        kwargs.pop("task", None) or demo_task(),
        model=MODEL,
        log_dir=str(log_dir),
        log_format=fmt,
        display="none",
        **(defaults | kwargs),
    )
    return Path(log.location)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One log per case, written by inspect_ai (about half a minute: the time limits)."""
    root = tmp_path_factory.mktemp("inspect")
    both = root / "both"
    return {
        "eval": run_eval(both, "eval"),
        "json": run_eval(both, "json"),
        "no-samples": run_eval(root / "no-samples", "eval", log_samples=False),
        "one-epoch": run_eval(root / "one-epoch", "eval", epochs=1, log_samples=False),
        "error": run_eval(root / "error", "eval", fail_on_error=True, max_samples=1),
        "two-scorers": run_eval(
            root / "two-scorers", "json", task=demo_task([match(), graded()]), epochs=1
        ),
    }


def per_epoch(log: EvalLog, scorer_name: str = "match") -> dict[int, tuple[int, int]]:
    """inspect's own samples: epoch -> (samples, passed by the scorer's value C)."""
    counts: dict[int, list[int]] = {}
    for sample in log.samples or []:
        entry = counts.setdefault(sample.epoch, [0, 0])
        entry[0] += 1
        scores = sample.scores or {}
        entry[1] += scorer_name in scores and scores[scorer_name].value == "C"
    return {epoch: (tasks, passed) for epoch, (tasks, passed) in counts.items()}


@pytest.mark.parametrize("fmt", ["eval", "json"])
def test_counts_are_what_inspect_says(logs: dict[str, Path], fmt: str) -> None:
    log = read_eval_log(str(logs[fmt]))
    run = read_run("inspect", logs[fmt])
    seeds = seed_runs(run.results)
    assert {s.seed: (s.tasks, s.passed) for s in seeds} == per_epoch(log)
    assert log.results is not None
    [score] = log.results.scores
    assert score.scored_samples is not None
    # accuracy is over the scored samples, reduced (mean) over the epochs
    passed = sum(s.passed for s in seeds)
    assert passed == round(score.metrics["accuracy"].value * score.scored_samples * EPOCHS)
    assert sum(s.tasks for s in seeds) == log.results.total_samples
    samples = log.samples or []
    errors = sum(sample.error is not None for sample in samples)
    limits = Counter(sample.limit.type for sample in samples if sample.limit is not None)
    assert errors == log.results.total_samples - log.results.completed_samples == EPOCHS
    assert limits == {"time": EPOCHS}
    for seed in seeds:
        assert seed.failures == {W: 1, INFRA: 1, T: 1, TOOL: 1}
    assert [note for note in run.notes if "sample(s)" in note] == [
        "2 sample(s) ended on a failing tool call: tool_error",
        "2 sample(s) hit a time limit: timeout",
        "2 sample(s) raised an error: infra_error",
    ]


@pytest.mark.parametrize("fmt", ["eval", "json"])
def test_what_the_log_says_about_the_run(logs: dict[str, Path], fmt: str) -> None:
    log = read_eval_log(str(logs[fmt]))
    run = read_run("inspect", logs[fmt])
    assert (run.benchmark, run.model, run.capability) == ("demo", MODEL, None)
    assert run.dataset_version == "3"  # Task(version=3)
    assert run.harness_version == log.eval.packages["inspect_ai"]
    assert run.run_id == log.eval.run_id
    usage = log.stats.model_usage[MODEL]
    assert sum(r.input_tokens or 0 for r in run.results) == usage.input_tokens
    assert sum(r.output_tokens or 0 for r in run.results) == usage.output_tokens
    by_sample = {(s.id, s.epoch): s for s in log.samples or []}
    for row in run.results:
        sample = by_sample[(int(row.task_id), row.seed)]
        assert row.duration_seconds == sample.working_time


def test_eval_and_json_logs_agree_and_a_directory_is_its_logs(logs: dict[str, Path]) -> None:
    folder = logs["eval"].parent
    runs = read_runs("inspect", [folder])
    assert sorted(r.source for r in runs) == sorted([logs["eval"], logs["json"]])
    a, b = (sorted((r.task_id, r.seed, r.passed, r.failure) for r in run.results) for run in runs)
    assert a == b


def test_without_samples_the_reductions_count(logs: dict[str, Path]) -> None:
    """--no-log-samples: each sample's passes over the epochs are known, not which epoch."""
    log = read_eval_log(str(logs["no-samples"]))
    assert not log.samples
    run = read_run("inspect", logs["no-samples"])
    [seed] = seed_runs(run.results)
    full = read_run("inspect", logs["eval"])
    assert (seed.tasks, seed.passed) == (len(full.results), sum(r.passed for r in full.results))
    assert seed.failures == {W: 6, INFRA: 2}  # no finer class without the samples
    tally = Counter((r.task_id, r.passed) for r in run.results)
    assert tally == Counter((r.task_id, r.passed) for r in full.results)
    assert any("counts come from its reductions" in note for note in run.notes)
    assert any("the epochs are one seed" in note for note in run.notes)
    one = read_run("inspect", logs["one-epoch"])
    assert [(s.tasks, s.passed) for s in seed_runs(one.results)] == [(5, 1)]


def test_an_errored_log_imports_the_samples_that_completed(logs: dict[str, Path]) -> None:
    log = read_eval_log(str(logs["error"]))
    assert log.status == "error"
    run = read_run("inspect", logs["error"])
    assert len(run.results) == len(log.samples or [])
    assert {s.seed: (s.tasks, s.passed) for s in seed_runs(run.results)} == per_epoch(log)
    assert any(note.startswith("log status is error: ") for note in run.notes)


def test_the_scorer_is_chosen(logs: dict[str, Path]) -> None:
    path = logs["two-scorers"]
    first = read_run("inspect", path)
    assert [(s.tasks, s.passed) for s in seed_runs(first.results)] == [(5, 1)]
    assert (
        "the log has 2 scorers (match, graded): passes are counted by match; "
        "pick another with --scorer" in first.notes
    )
    numeric = read_run("inspect", path, ReadOptions(scorer="graded"))
    log = read_eval_log(str(path))
    values = [s.scores["graded"].value for s in log.samples or [] if s.scores]
    assert sum(value == 1.0 for value in values) == sum(r.passed for r in numeric.results) == 1
    assert 0.5 in values  # a partial score is not a pass
    with pytest.raises(ImportInputError) as error:
        read_run("inspect", path, ReadOptions(scorer="f1"))
    assert str(error.value) == f"--scorer: {path} has no scorer 'f1' (its scorers: match, graded)"


def test_cli_writes_the_report_and_its_rows(
    logs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report, rows = tmp_path / "report.yaml", tmp_path / "rows.jsonl"
    argv = ["import", "--format", "inspect", str(logs["eval"]), "--capability", "business"]
    argv += ["--agent", "demo-agent", "--runtime", "1.0", "-o", str(report)]
    assert main([*argv, "--results", str(rows)]) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert f"{report}: slice demo (business), 2 seed(s), 10 tasks, 2 passed" in err
    assert read_task_file(rows) == read_run("inspect", logs["eval"]).results
    assert main([*argv, "--pass", "gold"]) == 64
    assert capsys.readouterr().err == "agent-release: --pass: only for --format mle-bench\n"


def test_a_bomb_and_broken_archives_are_one_line(logs: dict[str, Path], tmp_path: Path) -> None:
    header = _member(logs["eval"], "header.json")
    for method in (zipfile.ZIP_DEFLATED, ZIP_ZSTANDARD):  # what inspect wrote before, and now
        bomb = tmp_path / f"bomb-{method}.eval"
        with zipfile.ZipFile(bomb, "w", method) as archive:
            archive.writestr("header.json", header)
            with archive.open("summaries.json", "w", force_zip64=True) as member:
                for _ in range(ziplog.MEMBER_LIMIT // 2**24 + 1):
                    member.write(b" " * 2**24)
        assert bomb.stat().st_size < 2 * 2**20
        with pytest.raises(ImportFormatError) as error:
            read_run("inspect", bomb)
        assert str(error.value) == (
            f"{bomb}: member 'summaries.json' decompresses to more than a member's limit of "
            "256 MiB (refused: a zip bomb or a broken log)"
        )
    content = logs["eval"].read_bytes()
    cut = tmp_path / "cut.eval"
    for size in (10, 100, len(content) // 3, len(content) // 2, len(content) - 30):
        cut.write_bytes(content[:size])
        with pytest.raises(ImportFormatError) as error:
            read_run("inspect", cut)
        assert str(error.value).startswith(f"{cut}: ")
        assert "\n" not in str(error.value)


def _member(path: Path, name: str) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read(name)


def test_a_log_still_running_reads_its_journal(logs: dict[str, Path], tmp_path: Path) -> None:
    """Before it finishes, a .eval has _journal/start.json and summary batches, no header."""
    live = tmp_path / "live.eval"
    with zipfile.ZipFile(logs["eval"]) as source, zipfile.ZipFile(live, "w") as target:
        for info in source.infolist():
            if info.filename not in ("header.json", "summaries.json", "reductions.json"):
                target.writestr(info.filename, source.read(info.filename))
    run = read_run("inspect", live)
    finished = read_run("inspect", logs["eval"])
    assert sorted(run.results) == sorted(finished.results)
    assert any(note.startswith("log status is started: 10 of ? sample(s)") for note in run.notes)
