"""`agent-release plan` and `agent-release replay`, as a person runs them."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml

from agent_release.canary import Analyzer, Counts, Decision
from agent_release.cli.main import main
from builders.traffic import Rates, Scenario, regressed, simulate

REPO = Path(__file__).resolve().parent.parent
PROD = str(REPO / "policies" / "prod.yaml")


def test_plan_at_600_a_minute(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--policy", PROD, "--traffic", "600/min"]) == 0
    out = capsys.readouterr().out
    assert "expected time to 100% (median, healthy canary): 1h30m" in out
    assert "human_intervention_rate" in out


def test_plan_as_json_says_what_bounds_each_step(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--policy", PROD, "--traffic", "1/s", "--output", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["tasks_per_minute"] == 60
    steps = plan["steps"]
    assert [s["weight"] for s in steps] == [5, 20, 50]
    assert [s["require"] for s in steps] == ["screen", "screen", "confirm"]
    # at 60 a minute the human-intervention guardrail, not the bake, sets the last step
    assert steps[-1]["bound_by"] == "human_intervention_rate"
    assert 4 * 3600 < plan["seconds_to_full"] < 16 * 3600
    slower = {g["metric"]: g["settle"] for g in plan["guardrails"]}
    assert slower["human_intervention_rate"] > slower["task_success_rate"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--traffic", "fast"], "expected N/s, N/min or N/h"),
        (["--traffic", "60/min", "--rates", "latency=2"], "unknown; use success"),
    ],
)
def test_plan_refuses_what_it_cannot_read(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "--policy", PROD, *args]) == 64
    assert message in capsys.readouterr().err


class Recorder:
    """The analyzer, recording each interval as the operator's log line would."""

    def __init__(self) -> None:
        self.analyzer = Analyzer(_prod())  # the manifest as YAML gives it
        self.lines: list[str] = []
        self.decisions: list[Decision] = []

    def look(self, at: float, canary: Counts, stable: Counts) -> Decision:
        self.lines.append(json.dumps({"at": at, "canary": _wire(canary), "stable": _wire(stable)}))
        decision = self.analyzer.look(at, canary, stable)
        self.decisions.append(decision)
        return decision


def _prod() -> dict[str, object]:
    loaded: dict[str, object] = yaml.safe_load(Path(PROD).read_text(encoding="utf-8"))
    return loaded


def _wire(counts: Counts) -> dict[str, object]:
    data = asdict(counts)
    data["duration_buckets"] = {
        ("+Inf" if math.isinf(le) else str(le)): n for le, n in counts.duration_buckets.items()
    }
    return data


@pytest.mark.parametrize(
    "canary", [Rates(), regressed(Rates(), intervention=0.10)], ids=["healthy", "gross"]
)
def test_replay_decides_as_the_analyzer_did(
    canary: Rates, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = Recorder()
    simulate(recorder, Scenario(600, canary=canary, horizon=4 * 3600), [5, 20, 50, 100], seed=3)
    intervals = tmp_path / "intervals.jsonl"
    intervals.write_text("\n".join(recorder.lines) + "\n", encoding="utf-8")
    assert main(["replay", "--policy", PROD, str(intervals), "--output", "json"]) == 0
    replayed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = [(d.at, d.verdict.value, d.step, d.metric) for d in recorder.decisions]
    assert [(r["at"], r["verdict"], r["step"], r["metric"]) for r in replayed] == expected
    assert main(["replay", "--policy", PROD, str(intervals)]) == 0
    summary = capsys.readouterr().out.splitlines()[-1]
    assert summary.startswith("rolled back" if canary.intervention > 0.1 else "reached 100%")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "intervals.jsonl:2: invalid JSON"),
        ('{"at": 30, "canary": {}, "stable": {}}', "intervals.jsonl:2: field at: must be"),
        ('{"at": 1%s, "canary": {}, "stable": {}}' % ("0" * 400), "intervals.jsonl:2: field at"),
        (
            '{"at": 120, "canary": {"tasks": 1%s}, "stable": {}}' % ("0" * 400),
            "field canary.tasks: must be a finite number",
        ),
        (
            '{"at": 120, "canary": {"tasks": -1}, "stable": {}}',
            "field canary.tasks: must not be negative",
        ),
        ('{"at": 120, "canary": {"task": 1}, "stable": {}}', "unknown field 'task'"),
        ('{"at": 120, "canary": {}}', "field stable: must be an object"),
    ],
)
def test_replay_names_the_line_and_field_of_bad_input(
    line: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    intervals = tmp_path / "intervals.jsonl"
    good = '{"at": 60, "canary": {"tasks": 30}, "stable": {"tasks": 570}}'
    intervals.write_text(f"{good}\n{line}\n", encoding="utf-8")
    assert main(["replay", "--policy", PROD, str(intervals)]) == 65
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_replay_from_prometheus_names_every_missing_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["replay", "--policy", PROD, "--prometheus", "https://prom.test", "--agent", "a"])
    assert code == 64
    err = capsys.readouterr().err.strip()
    assert err.endswith("--canary-revision, --stable-revision, --from, --to")
