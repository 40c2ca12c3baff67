"""What every importer shares: the run it returns, its error, and strict field access.

Benchmark harnesses write loosely typed JSON whose shape drifts between versions and
forks (SOURCES.md of the fixtures lists the surprises). Every value an importer uses
is therefore read through `Record`, whose accessors check the type and, on a
mismatch, raise one `ImportFormatError` line naming the file and the field:

    results.json: field 'results[3].is_resolved' must be true, false or null, got "yes"

A KeyError, TypeError or JSONDecodeError never leaves an importer: the CLI prints the
message and exits 65, and a person fixes the file without reading a traceback.
Values an importer does not use are not checked, so unknown or changed keys elsewhere
in a file never stop an import.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import files
from ..api.types import Capability, FailureClass
from ..files import FileError, is_number
from ..taskresults import TaskResult

# A task passes when its reward reaches 1 (tau-bench and tau2 use this tolerance);
# a reward is a number from 0 to REWARD_MAX.
REWARD_TOLERANCE = 1e-6
REWARD_MAX = 1 + REWARD_TOLERANCE
# The most task rows a count in a file may stand for (aggregate-only formats make one
# placeholder row per counted task): a corrupt count is refused, not allocated.
MAX_TASKS = 1_000_000


class ImportFormatError(FileError):
    """A benchmark output that cannot be read; the one-line message names file and field."""


@dataclass(frozen=True, slots=True)
class ImportedRun:
    """One run of one benchmark, read from one PATH.

    `results` holds one row per task attempt. A run is normally one seed; formats
    that store several trials in one file (tau-bench, tau2, terminal-bench with
    `--n-attempts`) give the rows their trial as seed. The other fields are what the
    file itself says; `build_report` lets command-line flags override them.

    `benchmark` is the slice name the run proposes (None: only --slice can say).
    `per_task` is False when the format only had aggregate counts (an OpenAI Evals
    record with a final report and no events): the rows then carry the counts under
    placeholder task ids, and must not be used for a paired per-task comparison.
    `slice_dataset_versions` holds the dataset version of each slice of a run whose
    rows belong to several (lm-eval: one per task).
    """

    source: Path
    results: list[TaskResult]
    benchmark: str | None
    capability: Capability | None
    model: str | None = None
    dataset_version: str | None = None
    harness_version: str | None = None
    run_id: str | None = None
    notes: list[str] = field(default_factory=list)
    per_task: bool = True
    slice_dataset_versions: Mapping[str, str] = field(default_factory=dict)

    def dataset_version_of(self, slice_name: str) -> str | None:
        """The dataset version of one slice (a run of several tasks has one per task)."""
        return self.slice_dataset_versions.get(slice_name, self.dataset_version)


class PassRule(enum.StrEnum):
    """`--pass`: which MLE-bench medal counts as a pass (docs/formats.md, mle-bench)."""

    ANY_MEDAL = "any-medal"
    ABOVE_MEDIAN = "above-median"
    GOLD = "gold"


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How to read a run, for the formats that need a choice (`read_runs` checks which).

    `scorer` (`--scorer`): the inspect_ai scorer, or the Harbor reward key, that says
    whether a task passed, when a run has several. `pass_rule` (`--pass`): the
    MLE-bench medal that counts as a pass.
    """

    scorer: str | None = None
    pass_rule: PassRule | None = None


NO_OPTIONS = ReadOptions()


# -- reading files ------------------------------------------------------------------------


def read_bytes(path: Path, hint: str) -> bytes:
    """The content of a benchmark output; `hint` says what to pass instead of a folder."""
    return files.read_bytes(path, hint, ImportFormatError)


def parse_json(raw: bytes | str, where: str) -> Any:
    """One JSON document; `where` ("file" or "file:line") prefixes every error."""
    return files.parse_json(raw, where, ImportFormatError)


def load_json(path: Path, hint: str) -> Any:
    """Read and parse one JSON file (one `json.loads`, nothing else: it is the hot path)."""
    return parse_json(read_bytes(path, hint), str(path))


def show(value: Any) -> str:
    """A short, single-line rendering of a JSON value for an error message."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + '..."'


def expect_object(data: Any, file: str, what: str) -> Record:
    """The top level of a file, which must be a JSON object."""
    if not isinstance(data, dict):
        raise ImportFormatError(f"{file}: expected {what} (a JSON object), got {show(data)}")
    return Record(data, file)


class Record:
    """A JSON object of `file`, found at `path` inside it ("results[3]").

    Accessors return typed values or raise `ImportFormatError`. The `opt_` ones
    accept a missing key and null alike: harnesses write both for "not known".
    """

    __slots__ = ("data", "file", "path")

    def __init__(self, data: dict[str, Any], file: str, path: str = "") -> None:
        self.data = data
        self.file = file
        self.path = path

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, expected: str) -> ImportFormatError:
        """The error for a field that is not what the format promises."""
        if key not in self.data:
            return ImportFormatError(f"{self.file}: field '{self.name(key)}' is missing")
        got = show(self.data[key])
        return ImportFormatError(
            f"{self.file}: field '{self.name(key)}' must be {expected}, got {got}"
        )

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or not value:
            raise self.error(key, "a non-empty string")
        return value

    def opt_text(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None or (isinstance(value, str) and value):
            return value
        raise self.error(key, "a non-empty string or null")

    def ident(self, key: str) -> str:
        """A task id: harnesses write strings or integers (tau-bench v1)."""
        value = self.data.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise self.error(key, "a string or an integer")

    def flag(self, key: str) -> bool:
        value = self.data.get(key)
        if not isinstance(value, bool):
            raise self.error(key, "true or false")
        return value

    def opt_flag(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is None or isinstance(value, bool):
            return value
        raise self.error(key, "true, false or null")

    def count(self, key: str, upper: int | None = None) -> int:
        """A non-negative integer; `upper` bounds counts that rows are made from."""
        value = self.data.get(key)
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and 0 <= value <= (upper or value)
        ):
            return value
        raise self.error(key, "a non-negative integer" + (f" up to {upper:,}" if upper else ""))

    def opt_count(self, key: str, upper: int | None = None) -> int | None:
        return None if self.data.get(key) is None else self.count(key, upper)

    def number(self, key: str, upper: float = math.inf) -> float:
        """A finite number from 0 to `upper`."""
        value = self.data.get(key)
        if is_number(value) and 0 <= value <= upper:
            return float(value)
        bound = "a non-negative number" if upper == math.inf else f"a number from 0 to {upper:g}"
        raise self.error(key, bound)

    def opt_number(self, key: str, upper: float = math.inf) -> float | None:
        return None if self.data.get(key) is None else self.number(key, upper)

    def texts(self, key: str) -> list[str]:
        value = self.data.get(key)
        if isinstance(value, list) and all(isinstance(item, str) and item for item in value):
            return value
        raise self.error(key, "an array of non-empty strings")

    def opt_texts(self, key: str) -> list[str]:
        return [] if self.data.get(key) is None else self.texts(key)

    def child(self, key: str) -> Record:
        value = self.data.get(key)
        if not isinstance(value, dict):
            raise self.error(key, "an object")
        return Record(value, self.file, self.name(key))

    def opt_child(self, key: str) -> Record | None:
        return None if self.data.get(key) is None else self.child(key)

    def children(self, key: str) -> Iterator[Record]:
        """The objects of an array field, each named `key[i]` in errors."""
        value = self.data.get(key)
        if not isinstance(value, list):
            raise self.error(key, "an array")
        for index, item in enumerate(value):
            path = f"{self.name(key)}[{index}]"
            if not isinstance(item, dict):
                raise ImportFormatError(
                    f"{self.file}: field '{path}' must be an object, got {show(item)}"
                )
            yield Record(item, self.file, path)

    def opt_time(self, key: str) -> datetime | None:
        text = self.opt_text(key)
        try:
            return None if text is None else datetime.fromisoformat(text)
        except ValueError:
            raise self.error(key, "an ISO-8601 timestamp") from None

    def seconds(self, start: str, end: str) -> float | None:
        """Seconds between two ISO-8601 timestamp fields; None when either is null."""
        first, last = self.opt_time(start), self.opt_time(end)
        if first is None or last is None:
            return None
        try:
            span = (last - first).total_seconds()
        except TypeError:  # one timestamp has a time zone and the other has none
            raise self.error(end, f"a timestamp in the same time zone style as '{start}'") from None
        if span < 0:
            raise self.error(end, f"a time not before '{self.name(start)}'")
        return span


# -- shared rules ----------------------------------------------------------------------------


def reward_passed(reward: float) -> bool:
    """tau-bench and tau2 count a task as solved when its reward is 1 (within 1e-6)."""
    return reward >= 1 - REWARD_TOLERANCE


def trial_seeds(
    rows: list[TaskResult],
    trials: Sequence[int | None],
    file: str,
    field_name: str,
    notes: list[str],
) -> list[TaskResult]:
    """Give rows the seed of their trial when a file repeats tasks across trials.

    A trial is a repetition of the task set, so trials only become seeds when some
    task appears more than once. When every task appears once the file is one trial
    (seed 1) whatever its trial field says: a tau-bench fork writes the task index
    there, which would otherwise split one run into one-task "seeds". `trials` holds
    1-based trial numbers parallel to `rows`, None where the file does not say.
    """
    if len({row.task_id for row in rows}) == len(rows):
        if len(set(trials)) > 1:
            notes.append(
                f"'{field_name}' varies although no task repeats; the file is read as one trial"
            )
        return rows
    seen: set[tuple[str, int]] = set()
    seeded: list[TaskResult] = []
    for row, trial in zip(rows, trials, strict=True):
        if trial is None:
            raise ImportFormatError(
                f"{file}: task {row.task_id!r} appears more than once, but '{field_name}' "
                "does not say which trial each attempt belongs to"
            )
        if (row.task_id, trial) in seen:
            raise ImportFormatError(
                f"{file}: task {row.task_id!r} appears twice in trial {trial} ('{field_name}')"
            )
        seen.add((row.task_id, trial))
        seeded.append(row._replace(seed=trial))
    return seeded


def whole_passes(share: float, tasks: int, what: str) -> int:
    """The passes a share of `tasks` stands for; `what` names the two fields in the error.

    Aggregate-only formats state a pass rate and a count; their product must be a
    whole number of tasks, or the two do not describe one run.
    """
    passed = round(share * tasks)
    if tasks == 0 or abs(share * tasks - passed) > 1e-6 * tasks:
        raise ImportFormatError(f"{what} is not a whole number of passes")
    return passed


def placeholder_rows(
    prefix: str, counts: Iterable[tuple[FailureClass | None, int]], slice_name: str | None = None
) -> list[TaskResult]:
    """Rows that carry counts only (`per_task` False): `prefix#1`, `prefix#2`, ...

    `counts` gives how many rows pass (None) or fail with each class, in order.
    """
    rows: list[TaskResult] = []
    for failure, count in counts:
        start = len(rows)
        rows += [
            TaskResult(f"{prefix}#{start + n + 1}", failure is None, 1, failure, slice=slice_name)
            for n in range(count)
        ]
    return rows


def first_lines(values: Iterable[str], limit: int = 3) -> str:
    """A few examples for a note: "a, b, c (and 4 more)"."""
    items = list(values)
    shown = ", ".join(items[:limit])
    return shown + (f" (and {len(items) - limit} more)" if len(items) > limit else "")
