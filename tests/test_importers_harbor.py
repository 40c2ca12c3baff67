"""`--format harbor` on job folders built with Harbor's own result models.

Harbor's `TrialResult`, `JobStats.from_trial_results` and `JobLock` make the files
(`model_dump_json`, as `harbor run` writes them), so the shapes are Harbor's; the
importer's counts are checked against what Harbor's own job statistics say about
the same trials: which rewards it keeps, which trials errored, the token totals.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from harbor.models.agent.context import AgentContext
from harbor.models.job.config import RetryConfig
from harbor.models.job.lock import JobLock, _get_harbor_info
from harbor.models.job.result import JobResult, JobStats
from harbor.models.task.id import PackageTaskId
from harbor.models.trial.config import AgentConfig, TaskConfig, TrialConfig
from harbor.models.trial.result import (
    AgentInfo,
    ExceptionInfo,
    ModelInfo,
    TimingInfo,
    TrialResult,
)
from harbor.models.verifier.result import VerifierResult

from agent_release.api.types import Capability, FailureClass
from agent_release.importers import ImportFormatError, ImportInputError, ReadOptions, read_run
from agent_release.taskresults import seed_runs

T, W, INFRA, TOOL = (
    FailureClass.TIMEOUT,
    FailureClass.WRONG_RESULT,
    FailureClass.INFRA_ERROR,
    FailureClass.TOOL_ERROR,
)
SOURCE = "terminal-bench/terminal-bench-2-1"
START = datetime(2026, 8, 24, 18, 0, tzinfo=UTC)
JOB_ID = uuid.UUID("93271828-8053-4246-8b0d-9234c88d7c10")
HARBOR_FIXTURE = "harbor/ryanbbrown-ThinHarness-terminal-bench/artifacts/paid-e2e-84105f07"


def trial(
    task: str,
    minute: int,
    reward: float | None,
    exception: str | None = None,
    cost: float | None = 0.25,
    metadata: dict[str, Any] | None = None,
) -> TrialResult:
    """One trial as harbor.trial.Trial records it."""
    name = f"terminal-bench/{task}"
    ref = "sha256:" + "a" * 64
    config = TrialConfig(
        task=TaskConfig(name=name, ref=ref, source=SOURCE),
        agent=AgentConfig(name="terminus-2", model_name="openai/gpt-5"),
        trials_dir=Path("/jobs/run"),
        job_id=JOB_ID,
    )
    started = START + timedelta(minutes=minute)
    error = None
    if exception is not None:
        error = ExceptionInfo(
            exception_type=exception,
            exception_message="it broke",
            exception_traceback="Traceback ...",
            occurred_at=started,
        )
    return TrialResult(
        task_name=name,
        trial_name=config.trial_name,
        trial_uri=f"file:///jobs/run/{config.trial_name}",
        task_id=PackageTaskId(org="terminal-bench", name=task, ref=ref),
        source=SOURCE,
        task_checksum="0" * 64,
        config=config,
        agent_info=AgentInfo(
            name="terminus-2", version="2.0", model_info=ModelInfo(name="gpt-5", provider="openai")
        ),
        agent_result=AgentContext(
            n_input_tokens=1000 + minute,
            n_cache_tokens=100,
            n_output_tokens=50,
            cost_usd=cost,
            metadata=metadata,
        ),
        verifier_result=None if reward is None else VerifierResult(rewards={"reward": reward}),
        exception_info=error,
        started_at=started,
        finished_at=started + timedelta(seconds=90),
        agent_execution=TimingInfo(started_at=started, finished_at=started + timedelta(seconds=40)),
    )


TRIALS = [
    trial("regex-log", 0, 1.0),
    trial("regex-log", 5, 0.0),  # the second attempt of the task
    trial("fix-git", 1, 0.0, "AgentTimeoutError"),
    trial("build-cython", 2, None, "EnvironmentStartTimeoutError"),
    trial("count-tokens", 3, 1.0, "ApiRateLimitError"),  # Harbor drops this reward
    trial("hf-model", 4, 0.0, "NonZeroAgentExitCodeError"),
    trial("sqlite", 6, None, cost=None, metadata={"api_equivalent_cost_usd": 0.5}),
]


def write_job(folder: Path, trials: list[TrialResult], *, trial_dirs: bool = True) -> Path:
    """A job folder as harbor.job.Job leaves it: result.json, lock.json, one folder a trial."""
    folder.mkdir(parents=True)
    stats = JobStats.from_trial_results(trials, n_total_trials=len(trials))
    job = JobResult(
        id=JOB_ID,
        started_at=START,
        finished_at=START + timedelta(hours=1),
        n_total_trials=len(trials),
        stats=stats,
        trial_results=[] if trial_dirs else trials,
    )
    (folder / "result.json").write_text(
        job.model_dump_json(indent=4, exclude={"trial_results"} if trial_dirs else None)
    )
    lock = JobLock(n_concurrent_trials=4, retry=RetryConfig(), harbor=_get_harbor_info())
    (folder / "lock.json").write_text(lock.model_dump_json(indent=4, exclude_none=True))
    for result in trials if trial_dirs else ():
        (folder / result.trial_name).mkdir()
        (folder / result.trial_name / "result.json").write_text(result.model_dump_json(indent=4))
    return folder


def harbor_says(trials: list[TrialResult]) -> tuple[int, int, int | None, int | None]:
    """Harbor's own job statistics: kept passes, errored trials, input and output tokens."""
    stats = JobStats.from_trial_results(trials)
    [evals] = stats.evals.values()
    passes = len(evals.reward_stats.get("reward", {}).get(1.0, []))
    return passes, stats.n_errored_trials, stats.n_input_tokens, stats.n_output_tokens


def test_a_job_folder_counts_what_harbor_says(tmp_path: Path) -> None:
    run = read_run("harbor", write_job(tmp_path / "job", TRIALS))
    passes, errored, input_tokens, output_tokens = harbor_says(TRIALS)
    assert sum(r.passed for r in run.results) == passes == 1
    failures = {r.task_id: r.failure for r in run.results if not r.passed}
    assert failures == {
        "terminal-bench/regex-log": W,  # its second attempt
        "terminal-bench/fix-git": T,
        "terminal-bench/build-cython": INFRA,
        "terminal-bench/count-tokens": INFRA,  # rewarded 1.0, but the API failed on the way
        "terminal-bench/hf-model": TOOL,
        "terminal-bench/sqlite": INFRA,  # never verified
    }
    assert errored == 4 == sum(r.failure in (T, TOOL) for r in run.results) + 2
    assert sum(r.input_tokens or 0 for r in run.results) == input_tokens
    assert sum(r.output_tokens or 0 for r in run.results) == output_tokens
    seeds = seed_runs(run.results)
    assert [(s.seed, s.tasks, s.passed) for s in seeds] == [(1, 6, 1), (2, 1, 0)]
    assert seeds[0].cost_usd == 0.25 * 5 + 0.5  # one cost from the agent's metadata
    assert all(r.duration_seconds == 40 for r in run.results)  # the agent's own time
    assert (run.benchmark, run.dataset_version, run.capability) == (
        "terminal-bench",
        "2.1",
        Capability.TERMINAL,
    )
    assert run.model == "openai/gpt-5"
    assert run.run_id == str(JOB_ID)
    assert run.harness_version is not None
    assert run.harness_version.startswith(_get_harbor_info().version or "?")
    assert any("k-th attempt" in note for note in run.notes)


def test_job_and_trial_files_alone(tmp_path: Path) -> None:
    folder = write_job(tmp_path / "job", TRIALS)
    alone = tmp_path / "alone" / "job-result.json"  # as the real fixture is named
    alone.parent.mkdir()
    alone.write_bytes((folder / "result.json").read_bytes())
    from_stats = read_run("harbor", alone)
    passes, *_ = harbor_says(TRIALS)
    assert sum(r.passed for r in from_stats.results) == passes
    assert len(from_stats.results) == len(TRIALS) - 1  # the never-verified trial is not listed
    assert any("rows come from stats.evals" in note for note in from_stats.notes)
    embedded = read_run("harbor", write_job(tmp_path / "embedded", TRIALS, trial_dirs=False))
    assert sorted(embedded.results) == sorted(read_run("harbor", folder).results)
    one = TRIALS[2]
    [row] = read_run("harbor", folder / one.trial_name / "result.json").results
    assert (row.task_id, row.failure) == ("terminal-bench/fix-git", T)


def test_the_reward_key_is_chosen(tmp_path: Path) -> None:
    results = [trial("regex-log", 0, 1.0), trial("fix-git", 1, 0.0)]
    for result in results:
        assert result.verifier_result is not None
        result.verifier_result.rewards = {"reward": 0.0, "partial": 1.0}
    folder = write_job(tmp_path / "job", results)
    assert sum(r.passed for r in read_run("harbor", folder).results) == 0
    run = read_run("harbor", folder, ReadOptions(scorer="partial"))
    assert sum(r.passed for r in run.results) == 2
    with pytest.raises(
        ImportInputError, match=r"has no reward 'f1' \(its rewards: reward, partial"
    ):
        read_run("harbor", folder, ReadOptions(scorer="f1"))


def test_the_real_harbor_files(benchmarks: Path) -> None:
    job = read_run("harbor", benchmarks / HARBOR_FIXTURE / "job-result.json")
    trial_run = read_run("harbor", benchmarks / HARBOR_FIXTURE / "trial-result.json")
    for run in (job, trial_run):
        [seed] = seed_runs(run.results)
        assert (seed.tasks, seed.passed) == (1, 1)
        assert (run.benchmark, run.dataset_version) == ("terminal-bench", "2.1")
        assert run.run_id == "93271828-8053-4246-8b0d-9234c88d7c10"
    [row] = trial_run.results
    assert (row.input_tokens, row.output_tokens) == (13474, 2604)
    assert row.cost_usd == 0.10979125  # cost_usd is null: the agent's api_equivalent_cost_usd
    assert row.duration_seconds == pytest.approx(45.952595)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"id": "x"}', "not a Harbor result.json: expected 'n_total_trials'"),
        ('{"trial_name": "t", "task_name": 3}', "field 'task_name' must be a non-empty string"),
        (
            '{"trial_name": "t", "task_name": "a", "verifier_result": {"rewards": {"reward": 2}}}',
            "field 'verifier_result.rewards.reward' must be a number from 0 to 1",
        ),
    ],
)
def test_bad_files(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "result.json"
    path.write_text(content)
    with pytest.raises(ImportFormatError) as error:
        read_run("harbor", path)
    assert str(error.value).startswith(f"{path}: {expected}")
