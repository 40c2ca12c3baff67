"""Gate evaluation on a 5-slice × 5-seed report backed by 60k per-task results a side."""

from __future__ import annotations

import contextlib
import hashlib
import io
import random
from collections.abc import Iterator
from pathlib import Path

import yaml

from agent_release.api.evalreport import EvalReport
from agent_release.api.policy import ReleasePolicy
from agent_release.api.types import Stage
from agent_release.cli.main import main as cli_main
from agent_release.gates import evaluate
from agent_release.manifests import load
from agent_release.taskresults import TaskResult, dump_task_lines, load_per_task, seed_runs, tally

from .timing import Timing, measure

SLICES = [
    ("swe-bench-verified", "code"),
    ("terminal-bench-core", "terminal"),
    ("osworld-verified", "gui"),
    ("tau-bench-retail", "tool-dialog"),
    ("tau-bench-airline", "tool-dialog"),
]
SEEDS = 5
TASKS = 2400  # 5 slices × 5 seeds × 2400 tasks = 60 000 rows


def _rows(rng: random.Random, skill: float) -> list[TaskResult]:
    rows = []
    for name, _ in SLICES:
        difficulty = [rng.uniform(0.2, 0.9) for _ in range(TASKS)]
        for seed in range(1, SEEDS + 1):
            for index, p in enumerate(difficulty):
                passed = rng.random() < min(0.99, p * skill)
                rows.append(
                    TaskResult(
                        task_id=f"{name}-{index}",
                        passed=passed,
                        seed=seed,
                        duration_seconds=rng.lognormvariate(4, 0.5),
                        cost_usd=round(rng.uniform(0.05, 0.4), 4),
                        slice=name,
                    )
                )
    return rows


def _report(name: str, rows: list[TaskResult], results: Path) -> dict[str, object]:
    digest = hashlib.sha256(results.read_bytes()).hexdigest()
    slices = [
        {
            "name": slice_name,
            "capability": capability,
            "seeds": [run.wire() for run in seed_runs(r for r in rows if r.slice == slice_name)],
            "results": {"uri": results.name, "sha256": digest},
        }
        for slice_name, capability in SLICES
    ]
    return {
        "apiVersion": "agentrelease.dev/v1alpha1",
        "kind": "EvalReport",
        "metadata": {"name": name},
        "spec": {
            "agent": "support-agent",
            "stage": "offline",
            "runId": name,
            "candidate": {"model": "acme", "runtime": "1"},
            "suite": {"name": "portfolio", "datasetVersion": "1", "harnessVersion": "1"},
            "slices": slices,
        },
    }


def _write(folder: Path, name: str, rows: list[TaskResult]) -> Path:
    results = folder / f"{name}.jsonl"
    results.write_text(dump_task_lines(rows))
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(_report(name, rows, results)))
    return path


def run(folder: Path, policy_path: Path) -> Iterator[Timing]:
    rng = random.Random(20261126)
    candidate_rows, baseline_rows = _rows(rng, 1.05), _rows(rng, 1.0)
    candidate_path = _write(folder, "candidate", candidate_rows)
    baseline_path = _write(folder, "baseline", baseline_rows)
    policy = load(policy_path, ReleasePolicy).spec
    candidate = load(candidate_path, EvalReport).spec
    baseline = load(baseline_path, EvalReport).spec
    mine = {name: tally(candidate_rows, name) for name, _ in SLICES}
    theirs = {name: tally(baseline_rows, name) for name, _ in SLICES}

    def gate_only() -> None:
        evaluate(
            Stage.OFFLINE,
            candidate,
            policy,
            baseline=baseline,
            per_task=mine,
            baseline_per_task=theirs,
        )

    def tally_and_gate() -> None:
        a = {name: tally(candidate_rows, name) for name, _ in SLICES}
        b = {name: tally(baseline_rows, name) for name, _ in SLICES}
        evaluate(
            Stage.OFFLINE, candidate, policy, baseline=baseline, per_task=a, baseline_per_task=b
        )

    def load_results() -> None:
        load_per_task(candidate, folder)

    argv = ["gate", "--policy", str(policy_path), "--report", str(candidate_path)]
    argv += ["--baseline", str(baseline_path), "--output", "json"]

    def cli() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            code = cli_main(argv)
        assert code in (0, 1, 2)

    yield measure("gate: evaluate, 60k+60k per-task results, paired", gate_only, target_ms=100)
    yield measure("gate: tally 120k rows + evaluate", tally_and_gate, runs=15)
    yield measure("gate: read + verify one 60k-row jsonl file", load_results, runs=10)
    yield measure("gate: whole CLI in-process (YAML, 2×60k jsonl, JSON out)", cli, runs=10)
