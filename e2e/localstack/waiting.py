"""Polling with a deadline: how the stack waits for health and tests wait for state.

A check returns its result when the condition holds and raises :class:`Pending` with a
description of what it saw otherwise; :func:`wait_for` calls it until it succeeds or the
deadline passes, and then names the condition and the last thing seen. Other exceptions
propagate at once: they mean the wait is pointless (a process died, a request was refused).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Pending(Exception):
    """The condition does not hold yet; the message says what was observed."""


def wait_for[T](check: Callable[[], T], timeout: float, what: str, interval: float = 0.5) -> T:
    """Return ``check()``'s first result that does not raise :class:`Pending`.

    Raises :class:`TimeoutError` naming ``what`` and the last :class:`Pending` message.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except Pending as pending:
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{what}: not after {timeout:.0f}s; last seen: {pending}"
                ) from None
        time.sleep(interval)
