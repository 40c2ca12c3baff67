"""Exit codes (sysexits.h) and the error raised for a wrong command line."""

from __future__ import annotations

EX_USAGE = 64
EX_DATAERR = 65
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70


class UsageError(Exception):
    """The command line itself is wrong (exit 64)."""
