"""`agent-release gate` as CI uses it: exit codes, JSON shape, one-line errors."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_release.cli.main import main
from agent_release.taskresults import TaskResult, dump_task_lines

REPO = Path(__file__).resolve().parent.parent
PROD = REPO / "policies" / "prod.yaml"
EXAMPLE = REPO / "examples" / "offline-candidate.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return data


def test_pass_exits_zero_with_a_readable_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "gate", "--policy", PROD, "--report", EXAMPLE)
    assert (code, err) == (0, "")
    assert out.startswith("offline gate: Pass")
    assert "SLICE" in out
    assert "THRESHOLD" in out
    assert "swe-bench-verified   pass_rate" in out
    assert "66.3% [63.8, 68.6]" in out
    assert "\033[" not in out  # not a terminal: no colour


def test_fail_exits_one_and_names_the_failing_check(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = example()
    data["spec"]["slices"][1]["seeds"] = [{"seed": s, "tasks": 80, "passed": 10} for s in (1, 2, 3)]
    report = write(tmp_path / "r.yaml", data)
    code, out, _ = run(capsys, "gate", "--policy", PROD, "--report", report)
    assert code == 1
    assert "offline gate: Fail (SliceBelowFloor)" in out
    assert "Fail [SliceBelowFloor] terminal-bench-core: pass rate" in out


def test_inconclusive_exits_two(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    base = example()
    base["spec"]["runId"] = "base"
    baseline = write(tmp_path / "b.yaml", base)
    code, out, _ = run(
        capsys, "gate", "--policy", PROD, "--report", EXAMPLE, "--baseline", baseline
    )
    assert code == 2
    assert "InsufficientEvidence" in out


def test_json_output_has_the_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "gate", "--policy", PROD, "--report", EXAMPLE, "--output", "json")
    assert code == 0
    body = json.loads(out)
    assert set(body) == {"decision", "stage", "reasons", "checks"}
    assert (body["decision"], body["stage"], body["reasons"]) == ("Pass", "offline", [])
    keys = {"name", "slice", "metric", "observed", "baseline", "threshold", "interval"}
    keys |= {"result", "reason", "message"}
    assert all(keys <= set(check) for check in body["checks"])


def test_stage_flag_overrides_the_report(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "gate", "--policy", PROD, "--report", EXAMPLE, "--stage", "prerelease"
    )
    assert code == 1
    assert out.startswith("prerelease gate: Fail (HoldoutMissing")


@pytest.mark.parametrize(
    "argv",
    [
        ["gate", "--report", "x.yaml"],
        ["gate", "--policy", "p.yaml"],
        ["gate", "--policy", "p", "--report", "r", "--stage", "canary"],
        ["gate", "--policy", "p", "--report", "r", "--output", "xml"],
        ["frobnicate"],
        [],
    ],
)
def test_usage_errors_exit_64(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 64
    assert out == ""
    assert len(err.strip().splitlines()) == 1


BAD_INPUTS = [
    ("missing.yaml", None, "missing.yaml: no such file"),
    ("truncated.yaml", EXAMPLE.read_text()[:700], "invalid YAML"),
    ("empty.yaml", "", "expected one YAML document, found 0"),
    ("list.yaml", "- 1\n- 2\n", "expected a mapping, got list"),
    ("two.yaml", "a: 1\n---\nb: 2\n", "expected one YAML document, found 2"),
    ("binary.yaml", b"\xff\xfe\x00", "not UTF-8"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_INPUTS)
def test_unreadable_reports_exit_65(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    name: str,
    content: str | bytes | None,
    message: str,
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    code, out, err = run(capsys, "gate", "--policy", PROD, "--report", path)
    assert (code, out) == (65, "")
    assert err.startswith(f"agent-release: {path}")
    assert message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["spec"]["slices"][0]["seeds"][0].update(passed=600), "must not exceed tasks"),
        (lambda d: d["spec"]["slices"][0]["seeds"][0].update(tasks=-3), "seeds[0].tasks"),
        (lambda d: d["spec"]["slices"][0]["seeds"][0].update(passed="many"), "valid integer"),
        (lambda d: d["spec"].pop("suite"), "field spec.suite: required field is missing"),
        (lambda d: d["spec"].update(stage="canary"), "field spec.stage"),
        (lambda d: d.update(kind="ReleasePolicy"), "field kind"),
        (lambda d: d["spec"]["slices"][0].update(capability="vision"), "capability"),
    ],
)
def test_invalid_reports_exit_65_naming_the_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, mutate: Any, message: str
) -> None:
    data = example()
    mutate(data)
    report = write(tmp_path / "bad.yaml", data)
    code, _, err = run(capsys, "gate", "--policy", PROD, "--report", report)
    assert code == 65
    assert f"{report}: " in err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_policy_passed_as_report_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "gate", "--policy", EXAMPLE, "--report", EXAMPLE)
    assert code == 65
    assert "field kind: is 'EvalReport', expected ReleasePolicy" in err


def test_baseline_of_another_stage_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = example()
    data["spec"]["stage"] = "prerelease"
    baseline = write(tmp_path / "b.yaml", data)
    code, _, err = run(
        capsys, "gate", "--policy", PROD, "--report", EXAMPLE, "--baseline", baseline
    )
    assert code == 65
    assert "a baseline must be of the same stage" in err


def _with_results(tmp_path: Path, rows: list[TaskResult], digest: str | None = None) -> Path:
    results = tmp_path / "results.jsonl"
    results.write_text(dump_task_lines(rows))
    data = example()
    data["spec"]["slices"] = [
        {
            "name": "swe-bench-verified",
            "capability": "code",
            "seeds": [{"seed": 1, "tasks": 4, "passed": 2}],
            "results": {
                "uri": "results.jsonl",
                "sha256": digest or hashlib.sha256(results.read_bytes()).hexdigest(),
            },
        }
    ]
    return write(tmp_path / "r.yaml", data)


def test_per_task_results_are_verified(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rows = [TaskResult(f"t{i}", passed=i < 2) for i in range(4)]
    report = _with_results(tmp_path, rows)
    code, _, err = run(capsys, "gate", "--policy", PROD, "--report", report)
    assert code in (0, 1, 2)
    assert err == ""
    tampered = _with_results(tmp_path, rows, digest="0" * 64)
    code, _, err = run(capsys, "gate", "--policy", PROD, "--report", tampered)
    assert code == 65
    assert "sha256 is" in err
    stale = _with_results(tmp_path, [TaskResult(f"t{i}", passed=i < 3) for i in range(4)])
    code, _, err = run(capsys, "gate", "--policy", PROD, "--report", stale)
    assert code == 65
    assert "seed 1 has 4 rows with 3 passed, the report says 4 tasks with 2 passed" in err


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(cut=st.integers(0, len(EXAMPLE.read_bytes())), junk=st.binary(max_size=8))
def test_fuzzed_reports_never_crash(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, cut: int, junk: bytes
) -> None:
    """Truncated and corrupted files: a decision or a one-line input error, never a crash."""
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(EXAMPLE.read_bytes()[:cut] + junk)
    code, _, err = run(capsys, "gate", "--policy", PROD, "--report", path)
    assert code in (0, 1, 2, 65), err
    if code == 65:
        assert len(err.strip().splitlines()) == 1
        assert "Traceback" not in err


def test_console_script_runs_without_a_traceback(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "agent-release"
    done = subprocess.run(
        [script, "gate", "--policy", PROD, "--report", tmp_path / "nope.yaml"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 65
    assert done.stderr == f"agent-release: {tmp_path / 'nope.yaml'}: no such file\n"
