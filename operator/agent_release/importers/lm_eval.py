"""lm-evaluation-harness (`lm_eval --output_path`): `results_<date>.json`, and samples.

PATH is a results file or the folder the harness writes it to
(`<output_path>/<model>/`, which must then hold one results file). With
`--log_samples`, `samples_<task>_<date>.jsonl` files of the same date sit beside it:
one line per document and filter, with the document's metric values.

Every task of the results file is a slice (`--slice TASK` picks one when the file has
several); a document is a task of that slice and the file is one seed. The metric
that decides a pass is `--scorer METRIC[,FILTER]`, by default the task's first
higher-is-better metric under its first filter. A document passes when that metric
is 1 (exact match, accuracy: lm-eval's 0/1 metrics); any lower value is
wrong_result (a generative metric such as a BLEU score of 0.7 is not a pass). The
harness records no errors, limits or tool calls per document.

Without samples, the counts come from the metric and `n-samples.effective` (so
`acc` 0.25 of 8 documents is 2 passed), under placeholder task ids. With samples,
their passes must add up to the metric the results file states (a mismatch means
files of two runs). The dataset version of a slice is the task's version plus a
digest of its task config (prompt, few-shot, metric and dataset settings), so that
two runs of one task version with different configs are not compared as equals;
the harness version is `lm_eval_version`.
"""

from __future__ import annotations

import hashlib
import json
import re
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
    load_json,
    parse_json,
    placeholder_rows,
    read_bytes,
    whole_passes,
)
from .report import ImportInputError

_HINT = "an lm-eval results_<date>.json or the folder holding it"
_RESULTS = re.compile(r"^results_(?P<date>.+)\.json$")
_CONFIG_DIGEST = 12


def read(path: Path, options: ReadOptions = NO_OPTIONS) -> ImportedRun:
    """Read one lm-eval run (every task of its results file)."""
    file = _results_file(path)
    root = expect_object(load_json(file, _HINT), str(file), "an lm-eval results file")
    results = root.child("results")
    groups = _groups(root)
    tasks = [task for task in results.data if task not in groups]
    if not tasks:
        raise ImportFormatError(f"{file}: field 'results' names no task")
    _check_scorer(results, tasks, options.scorer)
    date = _RESULTS.match(file.name)
    notes: list[str] = []
    rows: list[TaskResult] = []
    versions: dict[str, str] = {}
    per_task = True
    for task in tasks:
        entry = results.child(task)
        metric = _metric(root, entry, task, options.scorer)
        samples = file.parent / f"samples_{task}_{date.group('date')}.jsonl" if date else None
        stated = entry.number(metric, upper=1.0)
        effective = _effective(root, task, entry)
        if samples is not None and samples.is_file():
            task_rows = _sample_rows(samples, task, metric, stated)
        else:
            task_rows = _count_rows(task, metric, stated, effective, str(file))
            per_task = False
            notes.append(
                f"{task}: no samples file beside the results: {metric} x n-samples gives the "
                "counts, under placeholder ids"
            )
        rows += task_rows
        stderr = entry.raw(metric.replace(",", "_stderr,", 1))
        notes.append(
            f"{task}: {metric} {stated:.4g}"
            + (f" ± {stderr:.3g} (lm-eval's stderr)" if is_number(stderr) else "")
            + f" over {len(task_rows)} document(s)"
        )
        versions[task] = _version(root, task)
    if len(tasks) > 1:
        notes.append(
            f"{len(tasks)} tasks ({first_lines(tasks)}): one slice each; pick one with --slice"
        )
    config = root.opt_child("config")
    return ImportedRun(
        source=path,
        results=rows,
        benchmark=tasks[0] if len(tasks) == 1 else None,
        capability=None,
        model=root.opt_text("model_name") or _pretrained(config),
        dataset_version=versions[tasks[0]] if len(tasks) == 1 else None,
        slice_dataset_versions=versions,
        harness_version=root.opt_text("lm_eval_version"),
        run_id=f"lm-eval-{date.group('date')}" if date else None,
        notes=notes,
        per_task=per_task,
    )


def _results_file(path: Path) -> Path:
    if not path.is_dir():
        return path
    found = sorted(p for p in path.iterdir() if _RESULTS.match(p.name))
    if len(found) != 1:
        raise ImportFormatError(
            f"{path}: holds {len(found)} results_<date>.json files: pass one of them"
            if found
            else f"{path}: no results_<date>.json in this folder"
        )
    return found[0]


def _groups(root: Record) -> set[str]:
    """Group names (their metrics aggregate subtasks, which are read themselves)."""
    subtasks = root.opt_child("group_subtasks")
    return {name for name, tasks in (subtasks.data.items() if subtasks else ()) if tasks}


def _metric(root: Record, entry: Record, task: str, chosen: str | None) -> str:
    """The `metric,filter` key of the results entry that decides passes."""
    keys = _metrics(entry)
    if chosen is not None:
        matches = [k for k in keys if k == chosen or k.split(",", 1)[0] == chosen]
        if matches:
            return matches[0]
    better = root.opt_child("higher_is_better")
    preferred = better.opt_child(task) if better else None
    for name in preferred.data if preferred else ():
        assert preferred is not None
        if preferred.raw(name) is True:
            for key in keys:
                if key.split(",", 1)[0] == name:
                    return key
    if not keys:
        raise ImportFormatError(f"{entry.file}: field 'results.{task}' has no metric")
    return keys[0]


def _metrics(entry: Record) -> list[str]:
    return [k for k in entry.data if "," in k and "_stderr," not in k]


def _check_scorer(results: Record, tasks: list[str], chosen: str | None) -> None:
    """`--scorer` must name a metric of some task (the others keep their default)."""
    if chosen is None:
        return
    names = {key for task in tasks for key in _metrics(results.child(task))}
    if chosen not in names | {name.split(",", 1)[0] for name in names}:
        raise ImportInputError(
            f"--scorer: {results.file} has no metric {chosen!r} "
            f"(its metrics: {', '.join(sorted(names))})"
        )


def _effective(root: Record, task: str, entry: Record) -> int:
    counts = root.opt_child("n-samples")
    count = counts.opt_child(task) if counts else None
    if count is not None:
        return count.count("effective", MAX_TASKS)
    return entry.count("sample_len", MAX_TASKS)


def _sample_rows(samples: Path, task: str, metric: str, stated: float) -> list[TaskResult]:
    name, _, filter_name = metric.partition(",")
    rows: list[TaskResult] = []
    for number, line in enumerate(read_bytes(samples, _HINT).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{samples}:{number}"
        sample = expect_object(parse_json(line, where), where, "an lm-eval sample line")
        if sample.opt_text("filter") not in (filter_name, None):
            continue
        value = sample.number(name, upper=1.0)
        passed = value >= 1 - REWARD_TOLERANCE
        rows.append(
            TaskResult(
                task_id=f"{task}/{sample.ident('doc_id')}",
                passed=passed,
                failure=None if passed else FailureClass.WRONG_RESULT,
                slice=task,
            )
        )
    if not rows:
        raise ImportFormatError(f"{samples}: no sample line of filter {filter_name!r}")
    share = sum(row.passed for row in rows) / len(rows)
    if abs(share - stated) > 1e-6:
        raise ImportFormatError(
            f"{samples}: {sum(row.passed for row in rows)} of {len(rows)} documents pass on "
            f"{metric}, but the results file states {stated:.6g}: files of two runs, or a "
            "metric that is not 0 or 1 per document"
        )
    return rows


def _count_rows(
    task: str, metric: str, stated: float, effective: int, file: str
) -> list[TaskResult]:
    passed = whole_passes(
        stated,
        effective,
        f"{file}: field 'results.{task}.{metric}' ({stated}) times the {effective} document(s)",
    )
    counts = [(None, passed), (FailureClass.WRONG_RESULT, effective - passed)]
    return placeholder_rows(task, counts, slice_name=task)


def _version(root: Record, task: str) -> str:
    """`<task version>+config.<digest>`: the version and the task config it ran with.

    The config's `metadata` is left out of the digest: it holds the path the task's
    YAML was read from and arguments of the model, which differ between machines
    and candidates without changing the task.
    """
    versions = root.opt_child("versions")
    version = versions.raw(task) if versions else None
    configs = root.opt_child("configs")
    config = configs.opt_child(task) if configs else None
    text = "unversioned" if version is None else f"{version}"
    if config is None:
        return text
    kept: dict[str, Any] = {k: v for k, v in config.data.items() if k != "metadata"}
    digest = hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()
    return f"{text}+config.{digest[:_CONFIG_DIGEST]}"


def _pretrained(config: Record | None) -> str | None:
    args = config.raw("model_args") if config else None
    if isinstance(args, dict):
        value = args.get("pretrained")
        return value if isinstance(value, str) and value else None
    if isinstance(args, str):
        for part in args.split(","):
            key, _, value = part.partition("=")
            if key.strip() == "pretrained" and value.strip():
                return value.strip()
    return None
