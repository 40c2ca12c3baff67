"""Reading an input file: the one place that turns OS errors into one-line messages.

Every reader of a person's file (manifests, per-task results, benchmark outputs) reads
it here, so they all say the same thing for the same problem, name the file, and
never show a traceback:

    runs/report.json: no such file
    runs/report.json: a Git LFS pointer, not the file: the real file (144,465 bytes,
    sha256 ffe86eef...) is in Git LFS; fetch it with `git lfs pull`

The Git LFS check is why this is one helper and not a habit: a repository that
stores result files in LFS checks out small text pointers in their place (every
official MLE-bench run file is one), and each reader would otherwise report one as
invalid JSON or YAML at line 1. None of these errors goes away on a retry: the file
has to be fixed or fetched.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, TypeGuard

# https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md: a pointer is a small
# UTF-8 file of `key value` lines that starts with the version line.
_LFS_PREFIX = b"version https://git-lfs.github.com/spec/"
_LFS_MAX_SIZE = 1024
_LFS_FIELD = re.compile(rb"^(oid sha256:(?P<oid>[0-9a-f]{64})|size (?P<size>\d+))$", re.M)


class FileError(ValueError):
    """A file that cannot be used as given; the one-line message names it.

    The readers' own errors (`ManifestError`, `TaskFileError`, `ImportFormatError`)
    derive from it, so a caller may catch them all at once, and `read_bytes` raises
    the reader's own class.
    """


def read_bytes[E: FileError](path: Path, what: str, error: type[E]) -> bytes:
    """The content of `path`; `what` says what to pass ("a manifest file").

    Raises `error` for a missing, unreadable or LFS-pointer file and for a folder.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder; pass {what}") from None
    except OSError as problem:
        raise error(f"{path}: cannot read ({problem.strerror or problem})") from None
    pointer = lfs_pointer(raw)
    if pointer is not None:
        raise error(f"{path}: {pointer}")
    return raw


def read_text[E: FileError](path: Path, what: str, error: type[E]) -> str:
    """`read_bytes` decoded as UTF-8."""
    try:
        return read_bytes(path, what, error).decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text") from None


def lfs_pointer(raw: bytes) -> str | None:
    """What a Git LFS pointer says about its real file, or None for any other content."""
    if len(raw) > _LFS_MAX_SIZE or not raw.startswith(_LFS_PREFIX):
        return None
    oid = size = None
    for match in _LFS_FIELD.finditer(raw):
        oid = oid or match.group("oid")
        size = size or match.group("size")
    real = f"{int(size):,} bytes" if size else "size unknown"
    if oid:
        real += f", sha256 {oid[:8].decode()}..."
    return (
        f"a Git LFS pointer, not the file: the real file ({real}) is in Git LFS; "
        "fetch it with `git lfs pull`"
    )


def parse_json[E: FileError](raw: bytes | str, where: str, error: type[E]) -> Any:
    """One JSON document; `where` ("file" or "file:line") prefixes every error.

    Besides invalid JSON, `json.loads` raises a plain ValueError for an integer of more
    digits than Python converts (4,300) and RecursionError for arrays nested deeper than
    the interpreter's stack: both are bad input, said in one line like the rest.
    """
    try:
        return json.loads(raw)
    except json.JSONDecodeError as problem:
        if not problem.doc.strip():
            raise error(f"{where}: empty, expected JSON") from None
        raise error(
            f"{where}: invalid JSON at line {problem.lineno} column {problem.colno} ({problem.msg})"
        ) from None
    except UnicodeDecodeError:
        raise error(f"{where}: not UTF-8 text") from None
    except ValueError as problem:  # an integer of more digits than Python converts
        raise error(f"{where}: invalid JSON ({problem})") from None
    except RecursionError:
        raise error(f"{where}: JSON nested too deeply") from None


_FLOAT_MAX = 1e308


def is_number(value: Any) -> TypeGuard[int | float]:
    """A finite JSON number that fits a float. json.loads also accepts NaN and Infinity,
    and integers of any length: one too large for a float is refused like a string, not
    an internal error (`float` and `math.isfinite` raise OverflowError on it)."""
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < _FLOAT_MAX
