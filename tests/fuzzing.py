"""The fuzzing campaign's shared parts: sizes, hostile values, mutations, the CLI's contract.

Every fuzz test (marked `fuzz`) runs in two sizes. In `make test` and `make unit` a short,
derandomized run (a few hundred inputs in all, the same ones every time, so CI is
deterministic); in `make fuzz` (AGENT_RELEASE_FUZZ=campaign) the full campaign, seeded by
`--hypothesis-seed`, at least 10,000 inputs. Each input a test tries is counted with
`tally`, and the session's summary prints the counts and time per target
(`tests/conftest.py`).

The invariants are the CLI's contract with a person and a pipeline (cli/main.py): an exit
code among the documented ones, never 70 (an internal error is an exception that escaped);
an error is one line, `agent-release: <file>...`, with no traceback; and whatever is
accepted is valid by the API's own models.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from agent_release.cli.main import main

CAMPAIGN = os.environ.get("AGENT_RELEASE_FUZZ") == "campaign"

INPUTS: Counter[str] = Counter()
SECONDS: dict[str, float] = {}


def sized(short: int, campaign: int) -> settings:
    """Hypothesis settings for `short` examples in the test suite, `campaign` in make fuzz."""
    return settings(
        max_examples=campaign if CAMPAIGN else short,
        derandomize=not CAMPAIGN,
        database=None,  # nothing written into the tree; a campaign is replayed by its seed
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
    )


@contextlib.contextmanager
def tally(target: str) -> Iterator[None]:
    """Count one input tried on `target`, and the time it took."""
    began = time.perf_counter()
    try:
        yield
    finally:
        INPUTS[target] += 1
        SECONDS[target] = SECONDS.get(target, 0.0) + time.perf_counter() - began


def summary() -> list[str]:
    """The campaign's table: inputs and seconds per target, and the totals."""
    if not INPUTS:
        return []
    width = max(len(t) for t in INPUTS)
    lines = [f"{'target':<{width}}  {'inputs':>7}  {'seconds':>8}"]
    for target in sorted(INPUTS):
        lines.append(f"{target:<{width}}  {INPUTS[target]:>7}  {SECONDS[target]:>8.1f}")
    total = sum(INPUTS.values())
    lines.append(f"{'total':<{width}}  {total:>7}  {sum(SECONDS.values()):>8.1f}")
    return lines


# -- the CLI and its contract -------------------------------------------------------------


def run_cli(argv: Sequence[str]) -> tuple[int, str, str]:
    """`agent-release argv` in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def check_contract(code: int, err: str, allowed: set[int], names: Sequence[str] = ()) -> None:
    """A documented exit code; an error is one line that names one of `names` (files)."""
    assert code in allowed, f"exit {code}: {err}"
    assert "Traceback" not in err, err
    if code in (64, 65):
        errors = [line for line in err.splitlines() if not line.startswith("note: ")]
        assert len(errors) == 1, err
        assert errors[0].startswith("agent-release"), err
        if code == 65 and names:
            assert any(name in errors[0] for name in names), err


# -- hostile values -----------------------------------------------------------------------

TRICKY_TEXT = [
    "",
    " ",
    "\x00",
    "\ud800",  # a lone surrogate: valid in JSON, not encodable as UTF-8
    "\u202e\u0645",  # right-to-left override
    "é" * 3,
    "true",
    "null",
    "1",
    "-1",
    "NaN",
    "1e999",
    '"',
    "}",
    "$selector",
    "../../etc/passwd",
    "a\nb",
    "x" * 5000,
]
TRICKY_NUMBERS: list[Any] = [0, -1, 1, 2, -0.0, 0.5, 1.5, 2**31, 2**63, 10**30, 10**400]
TRICKY_NUMBERS += [1e308, 5e-324, math.nan, math.inf, -math.inf]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(TRICKY_NUMBERS),
    st.integers(),
    st.floats(),
    st.sampled_from(TRICKY_TEXT),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


def deep(depth: int) -> Any:
    """A list nested `depth` deep."""
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


# -- mutations of a JSON document ---------------------------------------------------------

Path_ = tuple[str | int, ...]


def paths(data: Any, limit: int = 4000) -> list[Path_]:
    """Every path into `data` (keys and indexes), shallow ones first, at most `limit`."""
    found: list[Path_] = []
    level: list[tuple[Path_, Any]] = [((), data)]
    while level and len(found) < limit:
        below: list[tuple[Path_, Any]] = []
        for path, value in level:
            if isinstance(value, dict | list):
                items = value.items() if isinstance(value, dict) else enumerate(value)
                for key, child in items:
                    found.append((*path, key))
                    below.append(((*path, key), child))
        level = below
    return found[:limit]


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    return "container"


def confused(original: Any, replacement: Any) -> bool:
    """Whether `replacement` cannot stand for `original` in any sane file: a truth value
    replaced by anything but a truth value, or a container by a scalar and vice versa.
    (A number for a string, or null, may be a legitimate variant of a format.)"""
    before, after = _kind(original), _kind(replacement)
    if "null" in (before, after) or before == after:
        return False
    return before == "bool" or "container" in (before, after)


@st.composite
def mutation(draw: st.DrawFn, data: Any) -> tuple[Callable[[Any], Any], str, bool]:
    """A change to a JSON document: (apply, description, wrong-typed).

    `apply` edits a deep copy in place and returns it. `wrong-typed` says the change put
    a value of a kind the position cannot hold (`confused`): accepting it silently is a
    finding when it changes the result.
    """
    found = paths(data)
    if not found:
        return (lambda d: d), "none", False
    path = draw(st.sampled_from(found))
    op = draw(st.sampled_from(["replace", "replace", "replace", "delete", "insert", "deep"]))
    depth = draw(st.sampled_from([50, 400]))  # json.dumps recurses: deeper ones are bytes
    value = draw(json_values) if op != "deep" else deep(depth)
    key = draw(st.text(max_size=6))

    def parent(d: Any) -> tuple[Any, str | int]:
        for step in path[:-1]:
            d = d[step]
        return d, path[-1]

    target, last = parent(data)
    original = target[last]
    wrong = op in ("replace", "deep") and confused(original, value)

    def apply(d: Any) -> Any:
        holder, at = parent(d)
        if op in ("replace", "deep"):
            holder[at] = value
        elif op == "delete":
            del holder[at]
        elif isinstance(holder[at], dict):
            holder[at][key] = value
        elif isinstance(holder[at], list):
            holder[at].insert(0, value)
        else:
            holder[at] = value
        return d

    shown = f"nested {depth} deep" if op == "deep" else show(value)
    return apply, f"{op} {'/'.join(map(str, path))} = {shown}", wrong


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 80 else text[:77] + "..."


def dumps(data: Any) -> str:
    """JSON as Python writes it (NaN and Infinity included, as many harnesses write)."""
    return json.dumps(data, ensure_ascii=False)


@st.composite
def byte_damage(draw: st.DrawFn, raw: bytes) -> tuple[bytes, str]:
    """The bytes of a file cut short, with a byte changed, or with junk inserted."""
    op = draw(st.sampled_from(["cut", "flip", "insert", "digits", "nest"]))
    at = draw(st.integers(0, max(len(raw) - 1, 0)))
    if op == "cut":
        return raw[:at], f"cut at {at}"
    if op == "flip" and raw:
        byte = draw(st.integers(0, 255))
        return raw[:at] + bytes([byte]) + raw[at + 1 :], f"byte {at} = {byte}"
    if op == "digits":  # an integer of more digits than Python converts
        return raw[:at] + b"9" * 5000 + raw[at:], f"5000 digits at {at}"
    if op == "nest":  # deeper than any recursive reader goes
        return b"[" * 100_000 + b"]" * 100_000, "nested 100,000 deep"
    junk = draw(st.binary(min_size=1, max_size=16))
    return raw[:at] + junk + raw[at:], f"insert {junk!r} at {at}"
