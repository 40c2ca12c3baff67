"""inspect_ai (UK AISI): eval logs, `.eval` (a zip of JSON parts, the default) or `.json`.

PATH is a log file or a log directory; a directory stands for its log files, each
one a run (`expand`). A sample is a task and its epoch is the seed. A sample passes
when the chosen scorer's value says so: `C`, `yes`, `true`, true, or a number of 1
(inspect's `value_to_float` reads them as 1.0); `I`, `P`, `N`, `no`, `false` and
numbers below 1 do not. The scorer is `--scorer NAME`, by default the log's first
(a note names the others). Every sample that did not pass is classified:

* the score says it passed -> passed, whatever else happened (like Terminal-Bench's
  resolved-after-timeout);
* `error` (the sample raised: provider, sandbox or solver) -> infra_error;
* `limit` of type time, working, token, message, turn, context, cost or custom
  -> timeout (a budget ran out); `operator` (a person stopped it) -> infra_error;
* no score from the scorer (never graded) -> infra_error;
* the last tool result of its conversation is an error (`ChatMessageTool.error`)
  -> tool_error: the agent ended on a failing tool;
* otherwise -> wrong_result.

A log whose `status` is `cancelled`, `error` or `started` imports the samples that
completed and says how many that is. When a log holds no samples (`--no-log-samples`)
or, with status success, fewer than `results.total_samples`, the per-sample
reductions (`reductions`) give the counts, else `results` does (see `_from_reductions`
and `_from_results`). Carried: the evaluated model's tokens and cost
(`model_usage[eval.model]`), the sample's working time (else its total time).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..api.types import FailureClass
from ..files import is_number
from ..taskresults import TaskResult
from .base import (
    MAX_TASKS,
    NO_OPTIONS,
    REWARD_TOLERANCE,
    ImportedRun,
    ImportFormatError,
    ReadOptions,
    Record,
    expect_object,
    first_lines,
    parse_json,
    placeholder_rows,
    read_bytes,
    show,
    whole_passes,
)
from .report import ImportInputError
from .ziplog import ZipLog, is_zip

_HINT = "an inspect_ai log (.eval or .json) or a log directory"
# Listings inspect writes into a log directory beside the logs.
_NOT_LOGS = frozenset({"logs.json", "eval-set.json"})
_PASS_WORDS = {"c": True, "yes": True, "true": True, "i": False, "p": False, "n": False}
_PASS_WORDS |= {"no": False, "false": False}
_LIMITS = {
    "operator": FailureClass.INFRA_ERROR,  # `inspect ctl` or a person stopped the sample
}
_COMPLETE_STATUS = "success"
_JOURNAL_SUMMARIES = "_journal/summaries/"
_WRONG = FailureClass.WRONG_RESULT


def expand(path: Path) -> list[Path]:
    """The log files a PATH stands for: itself, or a directory's `.eval`/`.json` logs."""
    if not path.is_dir():
        return [path]
    logs = sorted(
        child
        for child in path.iterdir()
        if child.suffix in (".eval", ".json")
        and child.name not in _NOT_LOGS
        and not child.name.startswith(".")
        and child.is_file()
    )
    if not logs:
        raise ImportFormatError(f"{path}: no .eval or .json log in this directory")
    return logs


def read(path: Path, options: ReadOptions = NO_OPTIONS) -> ImportedRun:
    """Read one inspect_ai log (a log directory of one log is that log)."""
    if path.is_dir():
        logs = expand(path)
        if len(logs) > 1:
            raise ImportFormatError(
                f"{path}: a log directory of {len(logs)} logs is {len(logs)} runs: read each "
                "(the CLI does, as several PATHs)"
            )
        path = logs[0]
    log = _Log.open(path)
    spec = log.header.child("eval")
    status = log.header.opt_text("status") or "started"
    results = log.header.opt_child("results")
    epochs = (spec.opt_child("config") or Record({}, log.file)).opt_count("epochs", MAX_TASKS) or 1
    scorer, notes = _scorer(log, results, options)
    model = spec.text("model")

    samples = log.samples()
    total = results.opt_count("total_samples", MAX_TASKS) if results else None
    partial = status == _COMPLETE_STATUS and total is not None and len(samples) < total
    rows: list[TaskResult]
    per_task = True
    if samples and not partial:
        rows = _from_samples(log, samples, scorer, model, notes)
        if status != _COMPLETE_STATUS:
            notes.append(
                f"log status is {status}: {len(samples)} of "
                f"{total if total is not None else '?'} sample(s) x epochs complete; "
                "only those are imported"
            )
    else:
        why = (
            f"holds {len(samples)} of its {total} sample(s) x epochs"
            if samples
            else "holds no samples"
        )
        reductions = log.reductions(scorer)
        if reductions is not None:
            rows = _from_reductions(reductions, spec, epochs, notes)
            notes.insert(0, f"the log {why}: counts come from its reductions")
        elif results is not None:
            rows = _from_results(results, scorer, epochs, spec.text("task"), log.file)
            notes.insert(0, f"the log {why}: counts come from its results, not per sample")
            per_task = False
        else:
            raise ImportFormatError(
                f"{log.file}: the log {why} and has no results or reductions "
                f"(status {status}): nothing to count"
            )
    if not rows:
        raise ImportFormatError(f"{log.file}: no sample is complete (status {status})")
    dataset_version, version_note = _dataset_version(spec)
    if version_note:
        notes.append(version_note)
    packages = spec.opt_child("packages")
    return ImportedRun(
        source=path,
        results=rows,
        benchmark=spec.text("task"),
        capability=None,
        model=model,
        dataset_version=dataset_version,
        harness_version=packages.opt_text("inspect_ai") if packages else None,
        run_id=spec.opt_text("run_id") or spec.opt_text("eval_id"),
        notes=notes,
        per_task=per_task,
    )


class _Log:
    """The parts of one log, from a `.json` document or a `.eval` archive."""

    def __init__(
        self,
        file: str,
        header: Record,
        summaries: list[Record] | None,
        archive: ZipLog | None = None,
    ) -> None:
        self.file = file
        self.header = header
        self._summaries = summaries
        self.archive = archive

    @classmethod
    def open(cls, path: Path) -> _Log:
        file = str(path)
        raw = read_bytes(path, _HINT)
        if not is_zip(raw):
            root = expect_object(parse_json(raw, file), file, "an inspect_ai log")
            samples = list(root.children("samples")) if root.raw("samples") is not None else []
            return cls(file, root, samples)
        archive = ZipLog(raw, file)
        if "header.json" in archive:
            header = cls._member(archive, "header.json")
        elif "_journal/start.json" in archive:  # a log still running, or never finished
            header = cls._member(archive, "_journal/start.json")
        else:
            raise ImportFormatError(
                f"{file}: a zip without header.json or _journal/start.json: "
                "not an inspect_ai .eval log"
            )
        return cls(file, header, None, archive)

    @staticmethod
    def _member(archive: ZipLog, name: str) -> Record:
        where = f"{archive.file}:{name}"
        return expect_object(parse_json(archive.read(name), where), where, "a JSON object")

    def samples(self) -> list[Record]:
        """The complete samples: summaries of a `.eval`, full samples of a `.json`."""
        if self._summaries is not None:
            return self._summaries
        archive = self.archive
        assert archive is not None
        if "summaries.json" in archive:
            names = ["summaries.json"]
        else:
            # a live or crashed log: the journal's numbered batches, in order
            batches = [n for n in archive.names() if n.startswith(_JOURNAL_SUMMARIES)]
            names = sorted(batches, key=_batch_number)
        summaries: list[Record] = []
        for name in names:
            where = f"{archive.file}:{name}"
            data = parse_json(archive.read(name), where)
            if not isinstance(data, list):
                raise ImportFormatError(f"{where}: expected an array of samples, got {show(data)}")
            for index, item in enumerate(data):
                if not isinstance(item, dict):
                    raise ImportFormatError(
                        f"{where}: field '[{index}]' must be an object, got {show(item)}"
                    )
                if item.get("completed") is not False:
                    summaries.append(Record(item, where, f"[{index}]"))
        self._summaries = summaries
        return summaries

    def messages(self, sample: Record) -> list[Any]:
        """A sample's messages: in the sample itself (`.json`) or its own member (`.eval`)."""
        if self.archive is None:
            value = sample.raw("messages")
            return value if isinstance(value, list) else []
        name = f"samples/{sample.ident('id')}_epoch_{sample.count('epoch')}.json"
        if name not in self.archive:
            return []
        where = f"{self.file}:{name}"
        data = parse_json(self.archive.read(name), where)
        value = data.get("messages") if isinstance(data, dict) else None
        return value if isinstance(value, list) else []

    def reductions(self, scorer: str) -> Record | None:
        """The scorer's entry of `reductions` (per sample, reduced over epochs), if any."""
        if self.archive is not None:
            if "reductions.json" not in self.archive:
                return None
            where = f"{self.file}:reductions.json"
            data = parse_json(self.archive.read("reductions.json"), where)
            entries = Record({"reductions": data}, where)
        else:
            if self.header.raw("reductions") is None:
                return None
            entries = self.header
        for entry in entries.children("reductions"):
            if entry.text("scorer") == scorer:
                return entry
        return None


def _batch_number(name: str) -> int:
    stem = name.removeprefix(_JOURNAL_SUMMARIES).removesuffix(".json")
    return int(stem) if stem.isdigit() else 0


def _scorer(log: _Log, results: Record | None, options: ReadOptions) -> tuple[str, list[str]]:
    """The scorer that decides passes, and a note when the log has several."""
    names: list[str] = []
    if results is not None and results.raw("scores") is not None:
        names = [score.text("name") for score in results.children("scores")]
    spec = log.header.child("eval")
    if not names and spec.raw("scorers") is not None:
        names = [scorer.text("name") for scorer in spec.children("scorers")]
    if not names:
        for sample in log.samples()[:1]:
            scores = sample.opt_child("scores")
            names = list(scores.data) if scores else []
    names = list(dict.fromkeys(names))
    if options.scorer is not None:
        if options.scorer not in names:
            listed = ", ".join(names) if names else "none"
            raise ImportInputError(
                f"--scorer: {log.file} has no scorer {options.scorer!r} (its scorers: {listed})"
            )
        return options.scorer, []
    if not names:
        raise ImportFormatError(f"{log.file}: the log names no scorer: nothing says what passed")
    notes = []
    if len(names) > 1:
        notes.append(
            f"the log has {len(names)} scorers ({', '.join(names)}): passes are counted by "
            f"{names[0]}; pick another with --scorer"
        )
    return names[0], notes


def verdict(value: Any) -> bool | None:
    """Whether an inspect score value is a pass; None when it is not a verdict at all."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = _PASS_WORDS.get(value.strip().lower())
        if word is not None:
            return word
        try:
            value = float(value)
        except ValueError:
            return None
    if is_number(value) and 0 <= value <= 1:
        return value >= 1 - REWARD_TOLERANCE
    return None


def _score(scores: Record, scorer: str) -> bool | None:
    """The verdict of one scorer on one sample (None: not scored by it)."""
    score = scores.opt_child(scorer)
    if score is None:
        return None
    passed = verdict(score.raw("value"))
    if passed is None:
        raise score.error(
            "value",
            "C, I, P, N, yes, no, true, false or a number from 0 to 1 "
            "(a score of several values needs --scorer naming one)",
        )
    return passed


def _from_samples(
    log: _Log, samples: list[Record], scorer: str, model: str, notes: list[str]
) -> list[TaskResult]:
    rows: list[TaskResult] = []
    seen: set[tuple[str, int]] = set()
    why: Counter[str] = Counter()
    other_models = 0
    for sample in samples:
        task_id, epoch = sample.ident("id"), sample.count("epoch")
        if (task_id, epoch) in seen:
            raise ImportFormatError(
                f"{sample.file}: sample {task_id!r} appears twice in epoch {epoch}"
            )
        seen.add((task_id, epoch))
        scores = sample.opt_child("scores")
        passed = _score(scores, scorer) if scores is not None else None
        failure: FailureClass | None = None
        if not passed:
            failure, reason = _failure(log, sample, passed)
            why[reason] += 1
        tokens, cost, other = _usage(sample, model)
        other_models += other
        duration = sample.opt_number("working_time")
        rows.append(
            TaskResult(
                task_id=task_id,
                passed=bool(passed),
                seed=max(epoch, 1),
                failure=failure,
                duration_seconds=duration
                if duration is not None
                else sample.opt_number("total_time"),
                cost_usd=cost,
                input_tokens=tokens[0] if tokens else None,
                output_tokens=tokens[1] if tokens else None,
            )
        )
    for reason, count in sorted(why.items()):
        if reason != "wrong":
            notes.append(f"{count} sample(s) {reason}")
    if other_models:
        notes.append(
            f"{other_models} sample(s) record usage of other models but not of {model}: "
            "their tokens are unknown"
        )
    return rows


def _failure(log: _Log, sample: Record, passed: bool | None) -> tuple[FailureClass, str]:
    """The class of a sample that did not pass, and the reason a note counts."""
    if sample.raw("error") is not None:
        return FailureClass.INFRA_ERROR, "raised an error: infra_error"
    limit = sample.raw("limit")
    if limit is not None:
        kind = limit.get("type") if isinstance(limit, dict) else limit
        if not isinstance(kind, str) or not kind:
            raise sample.error("limit", "a limit type or an object with 'type'")
        failure = _LIMITS.get(kind, FailureClass.TIMEOUT)
        return failure, f"hit a {kind} limit: {failure.value}"
    if passed is None:
        return FailureClass.INFRA_ERROR, "have no score from the scorer: infra_error"
    if _ended_on_tool_error(log.messages(sample)):
        return FailureClass.TOOL_ERROR, "ended on a failing tool call: tool_error"
    return FailureClass.WRONG_RESULT, "wrong"


def _ended_on_tool_error(messages: Iterable[Any]) -> bool:
    for message in reversed(list(messages)):
        if isinstance(message, dict) and message.get("role") == "tool":
            return message.get("error") is not None
    return False


def _usage(sample: Record, model: str) -> tuple[tuple[int, int] | None, float | None, bool]:
    """The evaluated model's (input, output) tokens and cost in one sample.

    Input tokens include cache reads and writes (inspect counts them apart). A
    sample without any usage made no model call that completed: zero. Usage of
    other models only (graders, a user simulator) leaves the candidate's unknown.
    """
    usage = sample.opt_child("model_usage")
    if usage is None or not usage.data:
        return (0, 0), 0.0, False
    mine = usage.opt_child(model)
    if mine is None:
        return None, None, True
    tokens = (
        mine.count("input_tokens")
        + (mine.opt_count("input_tokens_cache_read") or 0)
        + (mine.opt_count("input_tokens_cache_write") or 0),
        mine.count("output_tokens"),
    )
    return tokens, mine.opt_number("total_cost"), False


def _from_reductions(
    reductions: Record, spec: Record, epochs: int, notes: list[str]
) -> list[TaskResult]:
    """Rows from the per-sample scores reduced over epochs.

    With one epoch a reduced score is the sample's score. With several, the default
    `mean` reducer gives each sample's share of passing epochs: k passes of N are N
    rows of the task, k of them passed, but which epoch passed is not recorded, so
    they are one seed (a note says so). Another reducer (`mode`, `max`, ...) gives
    one verdict per sample. Samples of the dataset without a reduced score errored
    in every epoch: infra_error.
    """
    reducer = reductions.opt_text("reducer") or "mean"
    rows: list[TaskResult] = []
    for sample in reductions.children("samples"):
        task_id = sample.ident("sample_id")
        value = sample.raw("value")
        if epochs > 1 and reducer == "mean":
            share = value if isinstance(value, int | float) and not isinstance(value, bool) else -1
            passes = round(share * epochs)
            if not (0 <= share <= 1 and abs(share * epochs - passes) < 1e-6):
                raise sample.error("value", f"a share of passing epochs (k/{epochs})")
            rows += [
                TaskResult(task_id, index < passes, 1, None if index < passes else _WRONG)
                for index in range(epochs)
            ]
            continue
        passed = verdict(value)
        if passed is None:
            raise sample.error("value", "a reduced score from 0 to 1")
        rows.append(TaskResult(task_id, passed, 1, None if passed else _WRONG))
    repeats = epochs if reducer == "mean" else 1
    dataset = spec.opt_child("dataset")
    listed = [str(v) for v in (dataset.raw("sample_ids") or [])] if dataset else []
    scored = {row.task_id for row in rows}
    errored = [task for task in listed if task not in scored]
    rows += [
        TaskResult(task, False, 1, FailureClass.INFRA_ERROR)
        for task in errored
        for _ in range(repeats)
    ]
    if errored:
        notes.append(
            f"{len(errored)} sample(s) of the dataset have no reduced score (they errored): "
            f"infra_error ({first_lines(errored)})"
        )
    if epochs > 1:
        notes.append(
            f"scores are reduced over {epochs} epochs ({reducer}): which epoch passed is not "
            "recorded, so the epochs are one seed"
            + (" of one verdict per sample" if reducer != "mean" else "")
        )
    return rows


def _from_results(
    results: Record, scorer: str, epochs: int, task: str, file: str
) -> list[TaskResult]:
    """Placeholder rows carrying the counts of `results` (accuracy x scored samples)."""
    score = next((s for s in results.children("scores") if s.text("name") == scorer), None)
    if score is None:
        raise ImportFormatError(f"{file}: field 'results.scores' has no entry for {scorer!r}")
    metrics = score.child("metrics")
    accuracy = metrics.child("accuracy").number("value", upper=1.0)
    scored = score.opt_count("scored_samples", MAX_TASKS)
    total = results.count("total_samples", MAX_TASKS)
    attempts = (scored * epochs) if scored is not None else total
    if attempts > total:
        raise ImportFormatError(
            f"{file}: field 'results.scores' counts {attempts} scored sample(s) x epochs, more "
            f"than the {total} of 'results.total_samples'"
        )
    passed = whole_passes(
        accuracy,
        attempts,
        f"{file}: field 'results.scores.{scorer}.metrics.accuracy' ({accuracy}) times the "
        f"{attempts} scored sample(s) x epochs",
    )
    return placeholder_rows(
        task,
        [(None, passed), (_WRONG, attempts - passed), (FailureClass.INFRA_ERROR, total - attempts)],
    )


def _dataset_version(spec: Record) -> tuple[str | None, str | None]:
    """The task's declared version, else the git commit of the task's code."""
    version = spec.raw("task_version")
    if isinstance(version, str) and version and version != "0":
        return version, None
    if isinstance(version, int) and not isinstance(version, bool) and version != 0:
        return str(version), None
    revision = spec.opt_child("revision")
    commit = revision.opt_text("commit") if revision else None
    if commit is not None:
        return commit, (
            "the task declares no version: the dataset version is the git commit of the "
            f"task's code ({commit}); pass --dataset-version to name one"
        )
    return None, None
