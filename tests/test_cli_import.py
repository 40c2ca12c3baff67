"""`agent-release import` then `agent-release gate`, as a CI pipeline chains them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from agent_release.cli.main import main

TB = "terminal-bench"
CURSOR = f"{TB}/20250811_cursor-cli_claude-4-sonnet/run1_2025-08-10__05-27-18/results.json"
DROID = f"{TB}/20250924_droid_gpt-5/tb_rc2_g5_1"
POLICY = """\
apiVersion: agentrelease.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: terminal}
spec:
  environment: terminal
  offline: {requiredCapabilities: [terminal], floors: {terminal: 0.30}, maxPassRateDrop: 0.02}
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _import(
    capsys: pytest.CaptureFixture[str], benchmarks: Path, tmp_path: Path, path: str, model: str
) -> Path:
    out = tmp_path / f"{model}.yaml"
    code, _, err = run(
        capsys,
        "import",
        "--format",
        "terminal-bench",
        benchmarks / path,
        "--agent",
        "terminal-agent",
        "--model",
        model,
        "--runtime",
        "1.0",
        "--slice",
        "terminal-bench-core",
        "--dataset-version",
        "0.1.1",
        "--harness-version",
        "0.2.0",
        "-o",
        out,
        "--results",
        tmp_path / f"{model}.jsonl",
    )
    assert code == 0, err
    assert f"{out}: slice terminal-bench-core (terminal), 1 seed(s), 80 tasks" in err
    return out


def test_import_then_gate_pairs_the_two_runs(
    capsys: pytest.CaptureFixture[str], benchmarks: Path, tmp_path: Path
) -> None:
    baseline = _import(capsys, benchmarks, tmp_path, CURSOR, "claude-4-sonnet")
    candidate = _import(capsys, benchmarks, tmp_path, DROID, "gpt-5")
    report = yaml.safe_load(candidate.read_text())
    assert report["spec"]["slices"][0]["seeds"][0]["passed"] == 39
    assert report["spec"]["slices"][0]["results"]["uri"] == "gpt-5.jsonl"
    assert "labels" not in report["metadata"]
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    code, out, _ = run(
        capsys,
        "gate",
        "--policy",
        policy,
        "--report",
        candidate,
        "--baseline",
        baseline,
        "-o",
        "json",
    )
    assert code == 0
    drop = next(c for c in json.loads(out)["checks"] if c["name"] == "pass-rate-drop")
    assert drop["observed"] == pytest.approx((39 - 20) / 80)
    assert "paired over 80 tasks" in drop["message"]
    code, out, _ = run(
        capsys, "gate", "--policy", policy, "--report", baseline, "--baseline", candidate
    )
    assert code == 1
    assert "Fail [SuccessRegression] terminal-bench-core: pass rate change -23.8 pts" in out


def test_import_to_stdout_prints_the_notes_on_stderr(
    capsys: pytest.CaptureFixture[str], benchmarks: Path
) -> None:
    code, out, err = run(
        capsys,
        "import",
        "--format",
        "terminal-bench",
        benchmarks / DROID,
        "--agent",
        "terminal-agent",
        "--model",
        "gpt-5",
        "--runtime",
        "2",
    )
    assert code == 0
    assert yaml.safe_load(out)["kind"] == "EvalReport"
    assert "note: 3 trial(s) resolved although the agent timed out" in err


def test_missing_flags_are_one_usage_error_naming_them_all(
    capsys: pytest.CaptureFixture[str], benchmarks: Path
) -> None:
    """The cursor run has no run_metadata.json: model and versions are unknown too."""
    code, out, err = run(capsys, "import", "--format", "terminal-bench", benchmarks / CURSOR)
    assert (code, out) == (64, "")
    assert err == (
        "agent-release: --model, --dataset-version, --harness-version, --agent, --runtime: "
        "required: the files do not say the evaluated model, the dataset version, the harness "
        "version, the agent service this report evaluates, the agent runtime version\n"
    )
    code, out, err = run(
        capsys, "import", "--format", "terminal-bench", benchmarks / DROID, "--agent", "a"
    )
    assert (code, out) == (64, "")
    assert err == (
        "agent-release: --model, --runtime: required: the files do not say the evaluated "
        "model, the agent runtime version\n"
    )


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["import", "--format", "csv", "x"], 64),
        (["import", "--format", "jsonl"], 64),
        (["import", "--format", "jsonl", "x", "--tool", "crm"], 64),
    ],
)
def test_bad_command_lines(capsys: pytest.CaptureFixture[str], argv: list[str], code: int) -> None:
    assert run(capsys, *argv)[0] == code


def test_unreadable_benchmark_output_exits_65(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "results.json"
    broken.write_text('{"results": [{"task_id": ')
    code, _, err = run(
        capsys, "import", "--format", "terminal-bench", broken, "--agent", "a", "--model", "m"
    )
    assert code == 65
    assert err.startswith(f"agent-release: {broken}")
    assert len(err.strip().splitlines()) == 1


def test_reading_options_and_pointers_from_the_command_line(
    capsys: pytest.CaptureFixture[str], benchmarks: Path, tmp_path: Path
) -> None:
    """A reading option of another format is a usage error; an LFS pointer is bad input."""
    argv: list[str | Path] = ["import", "--format", "terminal-bench", benchmarks / DROID]
    argv += ["--scorer", "reward"]
    code, _, err = run(capsys, *argv, "--agent", "a", "--runtime", "1", "--model", "m")
    assert (code, err) == (
        64,
        "agent-release: --scorer: only for --format inspect or harbor or lm-eval\n",
    )
    pointer = benchmarks / (
        "mle-bench/openai-mle-bench/runs/2024-09-06T18-25-55-UTC_run-group_aide/"
        "2024-09-19T20-07-15-GMT_grading_report.json"
    )
    code, _, err = run(capsys, "import", "--format", "mle-bench", pointer, "--pass", "gold")
    assert code == 65
    assert err == (
        f"agent-release: {pointer}: a Git LFS pointer, not the file: the real file "
        "(144,465 bytes, sha256 ffe86eef...) is in Git LFS; fetch it with `git lfs pull`\n"
    )
