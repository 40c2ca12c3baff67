"""Starting, recognising and stopping the stack's processes.

Every component runs in its own session (``start_new_session``), so its pid is also its
process-group id and ``down`` can signal the whole group. The stack outlives the command that
started it (``make stack-up`` returns), so later commands find processes through
``state.json``: a pid plus the process's start time from ``/proc/<pid>/stat``, which tells our
process from an unrelated one that reused the pid after a reboot or a crash.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class ProcessRecord:
    """Enough to find a started process again: pid and kernel start time (clock ticks)."""

    pid: int
    start_ticks: int


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in ticks) of ``pid``, or None if there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) is in parentheses and may contain spaces: split after it.
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def start(
    argv: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> ProcessRecord:
    """Start ``argv`` detached, appending stdout and stderr to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        log.write(f"\n--- localstack {stamp}: {' '.join(argv)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    stat = _stat(process.pid)
    return ProcessRecord(process.pid, stat[1] if stat else 0)


def _reap(pid: int) -> None:
    """Collect the exit status if ``pid`` is our child (the test fixture starts the stack)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def is_running(record: ProcessRecord) -> bool:
    """Whether the process is alive and is the one we started (zombies count as exited)."""
    _reap(record.pid)
    stat = _stat(record.pid)
    return stat is not None and stat[0] != "Z" and stat[1] == record.start_ticks


def stop(records: Sequence[ProcessRecord], timeout: float = 30.0) -> list[ProcessRecord]:
    """SIGTERM each process group, wait up to ``timeout``, then SIGKILL what is left.

    Returns the processes that were still alive after SIGKILL (normally none).
    """
    alive = [record for record in records if is_running(record)]
    for record in alive:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [record for record in alive if is_running(record)]
    for record in alive:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(record.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [record for record in alive if is_running(record)]
    return alive


def rss_bytes(record: ProcessRecord) -> int:
    """Resident set size of the process, 0 if it is gone."""
    if not is_running(record):
        return 0
    for line in Path(f"/proc/{record.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0
