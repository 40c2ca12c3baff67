"""Fuzzing `agent-release import`, every format, from real files and real layouts.

Each seed is a run as it sits on disk: a real fixture file (never copied into the
repository: read from ../shared/fixtures/benchmarks each session), or a layout the
importer tests build (tau2's dir layout, a Terminal-Bench run folder, an OSWorld tree,
a SWE-bench run with its instance logs, an inspect log folder and .eval archive, a
Harbor job folder, MLE-bench, lm-eval, OpenAI Evals, jsonl rows). Hypothesis changes it:
a value anywhere in a JSON file replaced by a hostile one (huge or non-finite numbers,
lone surrogates, control characters, 5,000-character strings, nesting 3,000 deep), a
key removed or added, the bytes cut short or corrupted, a file removed, a stray file
added; sometimes a required flag is left out. Invariants:

- the CLI's contract (exit 0, 64 or 65; one line naming the file; no traceback);
- what is written is a valid EvalReport (the API's own model, whose rules twin the CRD's);
- a value of a kind its position cannot hold (`fuzzing.confused`: a truth value that is
  not one, a container for a scalar) is refused, or changes nothing: never accepted
  silently into a different report.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from agent_release.api.evalreport import EvalReport
from agent_release.importers import FORMATS, read_run
from agent_release.taskresults import dump_task_lines
from builders.fixtures import benchmarks_dir
from tests import fuzzing
from tests.test_importers import (
    EVALS_FINAL_ONLY,
    HARBOR,
    INSPECT,
    MLE_LIST,
    SWE_CLINE,
    SWE_GOLD,
    SWE_LITE,
    TAU2_AIRLINE_5,
    TAU2_HOTEL,
    TAU2_MOCK_10,
    TAU_AVALJOT,
    TAU_MADHAV,
    TAU_SIERRA,
    TB_CURSOR,
    TB_DROID,
    TB_GOOSE,
    split_tau2,
)
from tests.test_importers_errors import EVALS_LINES, LEADERBOARD, LM_EVAL_RESULTS, MLE_REPORT
from tests.test_importers_harbor import TRIALS, write_job
from tests.test_importers_synthetic import MLE_REPORTS, grading_report, osworld_tree, swebench_run

pytestmark = pytest.mark.fuzz

FLAGS = {
    "--agent": "fuzz-agent",
    "--model": "fuzz-model",
    "--runtime": "1.0",
    "--run-id": "fuzz-run",
    "--dataset-version": "1",
    "--harness-version": "1",
}


# -- what a seed is: the files of a run, in memory ----------------------------------------


@dataclass(frozen=True)
class Doc:
    """One file: JSON (`data`), JSON lines (`lines`), an inspect .eval zip of JSON
    members (`members`), or bytes (`raw`)."""

    data: Any = None
    lines: list[Any] | None = None
    members: dict[str, Any] | None = None
    raw: bytes | None = None

    def documents(self) -> list[Any]:
        if self.members is not None:
            return list(self.members.values())
        if self.lines is not None:
            return self.lines
        return [] if self.raw is not None else [self.data]

    def with_document(self, index: int, value: Any) -> Doc:
        if self.members is not None:
            name = list(self.members)[index]
            return Doc(members={**self.members, name: value})
        if self.lines is not None:
            return Doc(lines=[value if i == index else v for i, v in enumerate(self.lines)])
        return Doc(data=value)

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.lines is not None:
            return "".join(fuzzing.dumps(line) + "\n" for line in self.lines).encode(
                "utf-8", "surrogatepass"
            )
        if self.members is not None:
            return b""  # written as a zip by `write`
        return fuzzing.dumps(self.data).encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Seed:
    name: str
    fmt: str
    files: dict[str, Doc]
    path: str = ""  # relative to the folder the files are written in; "" is the folder
    flags: tuple[str, ...] = field(default=())

    def write(self, root: Path, files: dict[str, Doc] | None = None) -> Path:
        for relative, doc in (files if files is not None else self.files).items():
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if doc.members is not None:
                with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
                    for member, value in doc.members.items():
                        text = fuzzing.dumps(value).encode("utf-8", "surrogatepass")
                        archive.writestr(member, text)
            else:
                target.write_bytes(doc.encode())
        return root / self.path


def _doc(path: Path) -> Doc:
    raw = path.read_bytes()
    if path.suffix == ".eval":
        with zipfile.ZipFile(path) as archive:
            return Doc(members={n: json.loads(archive.read(n)) for n in archive.namelist()})
    try:
        if path.suffix in (".jsonl", ".log"):
            return Doc(lines=[json.loads(line) for line in raw.splitlines() if line.strip()])
        if path.suffix == ".json":
            return Doc(data=json.loads(raw))
    except ValueError:
        pass
    return Doc(raw=raw)


def _snapshot(root: Path) -> dict[str, Doc]:
    return {str(p.relative_to(root)): _doc(p) for p in sorted(root.rglob("*")) if p.is_file()}


def _fixture(fmt: str, relative: str, name: str | None = None) -> Seed:
    """A real file (or folder) of the fixtures, as one seed."""
    source = benchmarks_dir() / relative
    if source.is_dir():
        return Seed(f"{fmt}:{relative}", fmt, _snapshot(source))
    target = name or source.name
    return Seed(f"{fmt}:{relative}", fmt, {target: _doc(source)}, target)


def _built(fmt: str, name: str, build: Callable[[Path], Path]) -> Seed:
    """A layout a test builder writes, snapshotted; PATH is what the builder returns."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        path = build(root)
        return Seed(f"{fmt}:{name}", fmt, _snapshot(root), str(path.relative_to(root)))


def _json(name: str, data: Any) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
        return path

    return build


def _inspect_eval(root: Path) -> Path:
    """The real inspect .json log as the .eval zip inspect writes (test_importers_errors)."""
    from tests.test_importers_errors import _new_write  # noqa: PLC0415

    log = benchmarks_dir() / INSPECT / "2025-05-12T20-28-13-04-00_popularity.json"
    data = json.loads(log.read_text())
    path = root / "popularity.eval"
    _new_write("inspect-eval", path, data)
    return path


def _jsonl_rows(root: Path) -> Path:
    rows = read_run("terminal-bench", benchmarks_dir() / TB_CURSOR / "results.json").results
    path = root / "rows.jsonl"
    path.write_text(dump_task_lines(rows))
    return path


@cache
def seeds() -> list[Seed]:
    """Every format, each in the layouts it reads."""
    fixtures = [
        ("terminal-bench", TB_CURSOR),
        ("terminal-bench", TB_DROID),
        ("terminal-bench", TB_GOOSE),
        ("swebench", SWE_CLINE),
        ("swebench", SWE_GOLD),
        ("swebench", SWE_LITE),
        ("tau-bench", TAU_MADHAV),
        ("tau-bench", TAU_SIERRA),
        ("tau-bench", TAU_AVALJOT),
        ("tau2-bench", TAU2_AIRLINE_5),
        ("tau2-bench", TAU2_MOCK_10),
        ("tau2-bench", TAU2_HOTEL),
        ("openai-evals", EVALS_FINAL_ONLY),
        ("mle-bench", MLE_LIST),
        ("inspect", f"{INSPECT}/2025-05-12T20-28-13-04-00_popularity.json"),
        ("harbor", f"{HARBOR}/job-result.json"),
    ]
    found = [_fixture(fmt, relative) for fmt, relative in fixtures]
    assert len({s.name for s in found}) == len(found)
    found.append(_fixture("harbor", f"{HARBOR}/trial-result.json", "result.json"))
    logs = _fixture("inspect", INSPECT)  # a log folder: two runs of different tasks
    found.append(Seed(logs.name, logs.fmt, logs.files, flags=("--slice", "fuzz-slice")))
    tau2 = benchmarks_dir() / TAU2_MOCK_10
    leaderboard = "evaluation/lite/run/results/results.json"
    found += [
        _built("tau2-bench", "dir-layout", lambda r: split_tau2(tau2, r / "run")),
        _built(
            "tau2-bench",
            "index-only",
            lambda r: split_tau2(tau2, r / "run", files=False),
        ),
        _built("osworld", "tree", osworld_tree),
        _built("swebench", "run-with-logs", swebench_run),
        _built("swebench", "leaderboard", _json(leaderboard, LEADERBOARD)),
        _built("mle-bench", "grading", _json("grading.json", grading_report(MLE_REPORTS))),
        _built("mle-bench", "report", _json("report.json", MLE_REPORT)),
        _built("lm-eval", "results", _json("results_2026-01-01T00-00-00.json", LM_EVAL_RESULTS)),
        _built("inspect", "eval-zip", _inspect_eval),
        _built("harbor", "job-folder", lambda r: write_job(r / "job", TRIALS)),
    ]
    rows = _built("jsonl", "rows", _jsonl_rows)
    slice_flags = ("--slice", "fuzz-slice", "--capability", "terminal")
    found.append(Seed(rows.name, rows.fmt, rows.files, rows.path, slice_flags))
    events = {"r.jsonl": Doc(lines=list(EVALS_LINES))}
    found.append(Seed("openai-evals:events", "openai-evals", events, "r.jsonl"))
    return found


# Formats whose files do not say what capability a slice measures.
CAPABILITY = {"inspect": "tool-dialog", "lm-eval": "tool-dialog", "openai-evals": "tool-dialog"}


def _argv(seed: Seed, path: Path, flags: dict[str, str]) -> list[str]:
    more = ["--capability", CAPABILITY[seed.fmt]] if seed.fmt in CAPABILITY else []
    more += seed.flags
    words = [x for kv in flags.items() for x in kv]
    return ["import", "--format", seed.fmt, str(path), *words, *more]


def _import(
    seed: Seed, files: dict[str, Doc] | None, flags: dict[str, str]
) -> tuple[int, str, str]:
    with tempfile.TemporaryDirectory() as folder:
        path = seed.write(Path(folder), files)
        code, out, err = fuzzing.run_cli(_argv(seed, path, flags))
        return code, out, err.replace(folder, "<run>")


@cache
def baseline(name: str) -> str:
    """What the unchanged seed imports to (each seed imports: test_every_seed_imports)."""
    seed = next(s for s in seeds() if s.name == name)
    code, out, err = _import(seed, None, FLAGS)
    assert code == 0, f"{name}: {err}"
    return out


def test_every_seed_imports() -> None:
    """The unchanged seeds import: a fuzzed input is a change to something valid."""
    assert {s.fmt for s in seeds()} == set(FORMATS)
    failed = {}
    for seed in seeds():
        try:
            baseline(seed.name)
        except AssertionError as error:
            failed[seed.name] = str(error).splitlines()[0]
    assert failed == {}


@st.composite
def fuzzed(draw: st.DrawFn) -> tuple[Seed, dict[str, Doc], dict[str, str], str, bool]:
    """A seed, changed: (seed, its files, the flags, what changed, wrong-typed)."""
    seed = draw(st.sampled_from(seeds()))
    files = dict(seed.files)
    flags = dict(FLAGS)
    changes, wrong = [], False
    for _ in range(draw(st.integers(1, 2))):
        relative = draw(st.sampled_from(sorted(files)))
        doc = files[relative]
        kind = draw(st.sampled_from(["json"] * 6 + ["bytes", "remove", "stray", "flag"]))
        documents = doc.documents()
        if kind == "json" and documents:
            index = draw(st.integers(0, len(documents) - 1))
            original = documents[index]
            apply, what, confused = draw(fuzzing.mutation(original))
            files[relative] = doc.with_document(index, apply(json.loads(json.dumps(original))))
            changes.append(f"{relative}: {what}")
            wrong = wrong or confused
        elif kind in ("json", "bytes") and doc.members is None:
            raw, what = draw(fuzzing.byte_damage(doc.encode()))
            files[relative] = Doc(raw=raw)
            changes.append(f"{relative}: {what}")
        elif kind == "remove" and len(files) > 1:
            del files[relative]
            changes.append(f"{relative}: removed")
        elif kind == "stray":
            stray = str(Path(relative).parent / draw(st.sampled_from(["x.json", "result.json"])))
            files[stray] = Doc(raw=draw(st.binary(max_size=64)))
            changes.append(f"{stray}: stray file")
        elif kind == "flag":
            gone = draw(st.sampled_from(sorted(flags)))
            del flags[gone]
            changes.append(f"no {gone}")
    # the oracle of a wrong-typed value needs it to be the only change
    return seed, files, flags, "; ".join(changes), wrong and len(changes) == 1


@fuzzing.sized(short=200, campaign=6000)
@given(fuzzed())
def test_fuzzed_imports_keep_the_contract(
    case: tuple[Seed, dict[str, Doc], dict[str, str], str, bool],
) -> None:
    seed, files, flags, what, wrong = case
    with fuzzing.tally(f"import --format {seed.fmt}"):
        code, out, err = _import(seed, files, flags)
    fuzzing.check_contract(code, err, {0, 64, 65}, names=["<run>"])
    if code != 0:
        return
    report = EvalReport.model_validate(yaml.safe_load(out))
    assert report.spec.slices, what
    if wrong and flags == FLAGS:
        assert out == baseline(seed.name), f"{seed.name}: accepted silently: {what}"
