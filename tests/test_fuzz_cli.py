"""Fuzzing `agent-release gate`, `replay` and `plan`: manifests and intervals a person wrote.

Seeds are the repository's own manifests (the shipped policies, the example and demo
reports, the e2e builders' policy and reports) and intervals recorded from the traffic
simulator. Hypothesis changes one value anywhere (or removes or adds a key, or damages the
bytes), and the file is written as YAML or as JSON. Invariants: the CLI's contract (a
documented exit code, one line naming the file, no traceback), and a value of a kind its
position cannot hold is refused rather than read into a different decision.
"""

from __future__ import annotations

import json
import math
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from builders import stack
from builders.traffic import Rates, Scenario, regressed, simulate
from tests import fuzzing
from tests.test_cli_canary import Recorder

pytestmark = pytest.mark.fuzz

REPO = Path(__file__).resolve().parent.parent


def _yaml(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


@cache
def manifests(kind: str) -> list[dict[str, Any]]:
    """Every manifest of `kind` the repository ships or its tests build."""
    found = [
        d
        for path in sorted([*REPO.glob("policies/*.yaml"), *REPO.glob("examples/**/*.yaml")])
        for d in _yaml(path)
        if d.get("kind") == kind
    ]
    built = [stack.policy("fuzz")] if kind == "ReleasePolicy" else stack.reports("a", "v2", 2)
    return [*found, *built]


def _write(path: Path, data: Any, as_yaml: bool) -> None:
    if as_yaml:
        try:
            path.write_text(yaml.safe_dump(data, allow_unicode=False), encoding="utf-8")
            return
        except yaml.YAMLError:
            pass
    path.write_bytes(fuzzing.dumps(data).encode("utf-8", "surrogatepass"))


@st.composite
def changed(draw: st.DrawFn, seeds: list[Any]) -> tuple[Any, bytes | None, str, bool]:
    """A seed changed once: (data, or damaged bytes instead, what changed, wrong-typed)."""
    data = json.loads(json.dumps(draw(st.sampled_from(seeds))))
    if draw(st.integers(0, 9)) == 0:
        raw, what = draw(fuzzing.byte_damage(yaml.safe_dump(data).encode()))
        return data, raw, what, False
    apply, what, wrong = draw(fuzzing.mutation(data))
    return apply(data), None, what, wrong


def _files(folder: Path, named: dict[str, tuple[Any, bytes | None]], as_yaml: bool) -> list[str]:
    argv = []
    for flag, (data, raw) in named.items():
        path = folder / f"{flag.strip('-')}.yaml"
        if raw is not None:
            path.write_bytes(raw)
        else:
            _write(path, data, as_yaml)
        argv += [flag, str(path)]
    return argv


# -- gate ---------------------------------------------------------------------------------


@cache
def _gate_baseline(policy: int, report: int) -> str:
    with tempfile.TemporaryDirectory() as folder:
        argv = _files(
            Path(folder),
            {
                "--policy": (manifests("ReleasePolicy")[policy], None),
                "--report": (manifests("EvalReport")[report], None),
            },
            True,
        )
        return fuzzing.run_cli(["gate", *argv, "--output", "json"])[1]


@fuzzing.sized(short=80, campaign=1500)
@given(
    policy=st.integers(0, len(manifests("ReleasePolicy")) - 1),
    report=st.integers(0, len(manifests("EvalReport")) - 1),
    which=st.sampled_from(["--policy", "--report"]),
    change=st.data(),
    as_yaml=st.booleans(),
)
def test_fuzzed_gate_keeps_the_contract(
    policy: int, report: int, which: str, change: st.DataObject, as_yaml: bool
) -> None:
    named: dict[str, tuple[Any, bytes | None]] = {
        "--policy": (manifests("ReleasePolicy")[policy], None),
        "--report": (manifests("EvalReport")[report], None),
    }
    data, raw, what, wrong = change.draw(changed([named[which][0]]))
    named[which] = (data, raw)
    with tempfile.TemporaryDirectory() as folder, fuzzing.tally("gate"):
        argv = _files(Path(folder), named, as_yaml)
        code, out, err = fuzzing.run_cli(["gate", *argv, "--output", "json"])
    fuzzing.check_contract(code, err, {0, 1, 2, 65}, names=[which.strip("-")])
    if wrong and code in (0, 1, 2):
        assert out == _gate_baseline(policy, report), f"accepted silently: {which} {what}"


# -- replay -------------------------------------------------------------------------------


@cache
def intervals() -> list[list[dict[str, Any]]]:
    """Recorded canaries of the simulator, a healthy one and a regressed one, short."""
    runs = []
    for canary in (Rates(), regressed(Rates(), intervention=0.10)):
        recorder = Recorder()
        simulate(recorder, Scenario(600, canary=canary, horizon=1800), [5, 20, 50, 100], seed=3)
        runs.append([json.loads(line) for line in recorder.lines[:12]])
    return runs


@fuzzing.sized(short=60, campaign=1200)
@given(run=st.integers(0, 1), change=st.data(), output=st.sampled_from(["text", "json"]))
def test_fuzzed_replay_keeps_the_contract(run: int, change: st.DataObject, output: str) -> None:
    lines, raw, _, _ = change.draw(changed([intervals()[run]]))
    with tempfile.TemporaryDirectory() as folder, fuzzing.tally("replay"):
        path = Path(folder) / "intervals.jsonl"
        if raw is not None:
            path.write_bytes(raw)
        elif isinstance(lines, list):
            text = "".join(fuzzing.dumps(line) + "\n" for line in lines)
            path.write_bytes(text.encode("utf-8", "surrogatepass"))
        else:
            path.write_bytes(fuzzing.dumps(lines).encode("utf-8", "surrogatepass"))
        policy = str(REPO / "policies" / "prod.yaml")
        code, _, err = fuzzing.run_cli(["replay", "--policy", policy, str(path), "-o", output])
    fuzzing.check_contract(code, err, {0, 65}, names=["intervals.jsonl"])


# -- plan ---------------------------------------------------------------------------------

traffic = st.one_of(
    st.sampled_from(["600/min", "10/s", "36000/h", "0.001/s", "1e9/h", "0/s", "-1/min"]),
    st.sampled_from(["nan/s", "inf/min", "1e400/s", ".5", "5/fortnight", "", " ", "٣/s"]),
    st.from_regex(r"\A[0-9.e+-]{0,8}(/(s|min|h|x))?\Z"),
    st.text(max_size=12),
)
rates = st.one_of(
    st.just(""),
    st.lists(
        st.tuples(
            st.sampled_from(["success", "intervention", "violation", "tool_failure", "x", ""]),
            st.one_of(
                st.sampled_from(["0", "1", "0.5", "-1", "2", "nan", "inf", "1e-300"]),
                st.text(max_size=5),
            ),
        ),
        max_size=3,
    ).map(lambda pairs: ",".join(f"{k}={v}" for k, v in pairs)),
)


# plan's forecast takes about a second: fewer inputs than the others
@fuzzing.sized(short=5, campaign=150)
@given(traffic=traffic, rates=rates, change=st.data(), output=st.sampled_from(["text", "json"]))
def test_fuzzed_plan_keeps_the_contract(
    traffic: str, rates: str, change: st.DataObject, output: str
) -> None:
    policy, raw, _, _ = change.draw(changed(manifests("ReleasePolicy")))
    with tempfile.TemporaryDirectory() as folder, fuzzing.tally("plan"):
        argv = _files(Path(folder), {"--policy": (policy, raw)}, True)
        code, out, err = fuzzing.run_cli(
            ["plan", *argv, "--traffic", traffic, "--rates", rates, "-o", output]
        )
    fuzzing.check_contract(code, err, {0, 64, 65}, names=["policy.yaml"])
    if code == 0 and output == "json":
        plan = json.loads(out)
        assert plan["tasks_per_minute"] > 0, traffic
        assert math.isfinite(plan["tasks_per_minute"]), traffic
