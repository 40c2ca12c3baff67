"""`--format lm-eval` on the files lm-evaluation-harness itself writes, offline.

`lm_eval.simple_evaluate` runs two small local tasks (a generative one scored by
exact match, a multiple-choice one scored by accuracy) with a scripted model
registered through lm-eval's own `@register_model`; its `EvaluationTracker` writes
`results_<date>.json` and, with `log_samples`, the `samples_<task>_<date>.jsonl`
files, exactly as `lm_eval --output_path ... --log_samples` does. The importer's
counts are checked against lm-eval's own metric values and sample counts.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # local files only: no hub look-ups
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from lm_eval import simple_evaluate
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from lm_eval.loggers import EvaluationTracker
from lm_eval.tasks import TaskManager

from agent_release.api.types import Capability, FailureClass
from agent_release.cli.main import main
from agent_release.importers import (
    ImportFormatError,
    ImportInputError,
    ReadOptions,
    ReportFlags,
    build_report,
    read_run,
)

ARITH = {"1+1": "2", "2+2": "4", "3+3": "7", "4+4": "0", "5+5": "10"}  # the model: 3 of 5 right
RIGHT = {"1+1": "2", "2+2": "4", "3+3": "6", "4+4": "8", "5+5": "10"}
CHOICES = [
    ("sky", ["blue", "green"], 0),
    ("grass", ["blue", "green"], 1),
    ("sun", ["hot", "cold"], 1),
]
TASKS = {
    "toy_arith": """\
task: toy_arith
dataset_path: json
dataset_kwargs: {data_files: {test: DATA/arith.jsonl}}
test_split: test
output_type: generate_until
doc_to_text: "{{question}}="
doc_to_target: "{{answer}}"
generation_kwargs: {until: ["\\n"]}
metric_list: [{metric: exact_match, aggregation: mean, higher_is_better: true}]
metadata: {version: 2.0}
""",
    "toy_choice": """\
task: toy_choice
dataset_path: json
dataset_kwargs: {data_files: {test: DATA/choice.jsonl}}
test_split: test
output_type: multiple_choice
doc_to_text: "{{question}} is"
doc_to_choice: "{{choices}}"
doc_to_target: "{{label}}"
metric_list: [{metric: acc, aggregation: mean, higher_is_better: true}]
metadata: {version: 1.0}
""",
}


@register_model("scripted")
class Scripted(LM):  # type: ignore[misc]  # lm-eval is untyped
    """Answers arithmetic from ARITH and picks the first choice of every question."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()

    def generate_until(self, requests: list[Any]) -> list[str]:
        return [ARITH.get(request.args[0].removesuffix("="), "?") for request in requests]

    def loglikelihood(self, requests: list[Any]) -> list[tuple[float, bool]]:
        return [
            (-1.0 if request.args[1] in (" blue", " hot") else -5.0, False) for request in requests
        ]

    def loglikelihood_rolling(self, requests: list[Any]) -> list[float]:
        raise NotImplementedError


def run_harness(tmp: Path, name: str, *, log_samples: bool) -> Path:
    """One `lm_eval` run of both tasks; the folder its tracker wrote to."""
    data = tmp / "data"
    if not data.exists():
        data.mkdir()
        (data / "arith.jsonl").write_text(
            "".join(json.dumps({"question": q, "answer": RIGHT[q]}) + "\n" for q in ARITH)
        )
        (data / "choice.jsonl").write_text(
            "".join(
                json.dumps({"question": q, "choices": c, "label": label}) + "\n"
                for q, c, label in CHOICES
            )
        )
        for task, text in TASKS.items():
            (data / f"{task}.yaml").write_text(text.replace("DATA", str(data)))
    tracker = EvaluationTracker(output_path=str(tmp / name))
    results = simple_evaluate(
        model="scripted",
        model_args="pretrained=acme/tiny-1",
        tasks=list(TASKS),
        task_manager=TaskManager(include_path=str(data)),
        log_samples=log_samples,
        evaluation_tracker=tracker,
    )
    samples = results.pop("samples", None)
    tracker.save_results_aggregated(results=results, samples=samples)
    for task in TASKS if samples else ():
        tracker.save_results_samples(task_name=task, samples=samples[task])
    return tmp / name / "acme__tiny-1"


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("lm-eval")
    return {
        "samples": run_harness(tmp, "with-samples", log_samples=True),
        "no-samples": run_harness(tmp, "no-samples", log_samples=False),
    }


def results_of(folder: Path) -> dict[str, Any]:
    [path] = folder.glob("results_*.json")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.mark.parametrize("kind", ["samples", "no-samples"])
def test_counts_are_what_lm_eval_says(outputs: dict[str, Path], kind: str) -> None:
    data = results_of(outputs[kind])
    run = read_run("lm-eval", outputs[kind])
    for task, metric in (("toy_arith", "exact_match,none"), ("toy_choice", "acc,none")):
        rows = [row for row in run.results if row.slice == task]
        effective = data["n-samples"][task]["effective"]
        assert len(rows) == effective
        assert sum(row.passed for row in rows) == round(data["results"][task][metric] * effective)
        assert all(row.failure is FailureClass.WRONG_RESULT for row in rows if not row.passed)
    assert (run.model, run.harness_version) == ("acme/tiny-1", data["lm_eval_version"])
    assert run.benchmark is None  # two tasks: one slice each, picked with --slice
    assert run.per_task is (kind == "samples")


def test_samples_are_per_document(outputs: dict[str, Path]) -> None:
    run = read_run("lm-eval", outputs["samples"])
    arith = {row.task_id: row.passed for row in run.results if row.slice == "toy_arith"}
    [samples] = outputs["samples"].glob("samples_toy_arith_*.jsonl")
    lines = [json.loads(line) for line in samples.read_text().splitlines()]
    assert arith == {f"toy_arith/{s['doc_id']}": s["exact_match"] == 1.0 for s in lines}
    assert sum(arith.values()) == 3


def test_a_slice_per_task_with_its_version(outputs: dict[str, Path]) -> None:
    runs = [read_run("lm-eval", outputs[kind]) for kind in ("samples", "no-samples")]
    flags = ReportFlags(agent="lm", runtime="1", run_id="r1", slice_name="toy_choice")
    with pytest.raises(ImportInputError, match=r"^--capability: required"):
        build_report(runs[:1], flags)
    report = build_report(runs, replace(flags, capability=Capability.BUSINESS))
    [item] = report.spec.slices
    assert [(s.seed, s.tasks, s.passed) for s in item.seeds] == [(1, 3, 1), (2, 3, 1)]
    version = report.spec.suite.dataset_version
    assert version.startswith("1.0+config.")  # the task's version and its config digest
    arith = runs[0].dataset_version_of("toy_arith")
    assert arith is not None
    assert arith.startswith("2.0+config.")
    assert arith.removeprefix("2.0") != version.removeprefix("1.0")


def test_the_metric_is_chosen(outputs: dict[str, Path]) -> None:
    run = read_run("lm-eval", outputs["samples"], ReadOptions(scorer="acc"))
    assert sum(r.passed for r in run.results if r.slice == "toy_choice") == 1
    with pytest.raises(
        ImportInputError,
        match=r"^--scorer: .* has no metric 'bleu' \(its metrics: acc,none, exact_match,none\)",
    ):
        read_run("lm-eval", outputs["samples"], ReadOptions(scorer="bleu"))


def test_cli(outputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["import", "--format", "lm-eval", str(outputs["samples"]), "--slice", "toy_arith"]
    argv += ["--capability", "business", "--agent", "lm", "--runtime", "1"]
    assert main([*argv, "-o", str(tmp_path / "r.yaml")]) == 0
    assert "slice toy_arith (business), 1 seed(s), 5 tasks, 3 passed" in capsys.readouterr().err


def test_samples_of_another_run_are_refused(outputs: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    [results] = outputs["samples"].glob("results_*.json")
    data = json.loads(results.read_text())
    data["results"]["toy_arith"]["exact_match,none"] = 0.8
    (folder / results.name).write_text(json.dumps(data))
    for samples in outputs["samples"].glob("samples_*.jsonl"):
        (folder / samples.name).write_bytes(samples.read_bytes())
    with pytest.raises(ImportFormatError, match="3 of 5 documents pass on exact_match,none, but"):
        read_run("lm-eval", folder)
