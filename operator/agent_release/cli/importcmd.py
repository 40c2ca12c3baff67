"""`agent-release import`: real benchmark outputs to an EvalReport manifest."""

from __future__ import annotations

from typing import Any


def register(commands: Any) -> None:
    """Placeholder until the importers land (same session)."""
