"""What the operator process holds: clients, settings, the clock, the release registry, locks.

The registry (see `registry`) has an entry for every AgentRelease kopf has seen, fed
by a kopf event handler, so the analysis loop can batch all canaries without listing
them from the API on every tick.
"""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import get_args

from ..adapters.kube import Kube
from ..adapters.prometheus import Prometheus
from .observability import Metrics
from .plan import Effect
from .registry import Key, Live, Tracked

FAULT_PREFIX = "crash-before:"
EFFECT_NAMES = frozenset(kind.__name__ for kind in get_args(Effect))


class ConfigError(ValueError):
    """A setting the operator cannot start with; fix the setting, retrying will not help."""


@dataclass(frozen=True, slots=True)
class Config:
    """The operator's settings, read once at start-up (docs/operator.md, "Settings")."""

    prometheus_url: str | None = None
    prometheus_ca_file: str | None = None
    prometheus_token_file: str | None = None
    metrics_address: str = "0.0.0.0"
    metrics_port: int = 9808
    reconcile_seconds: float = 5.0  # how often a release not in a final phase is looked at
    tick_seconds: float = 1.0  # how often the analysis loop checks which canaries are due
    # Fault injection, for the crash tests only: the name of an effect class
    # (`PromoteStep`) before which the process exits, after status was written. It is
    # the most delicate line to be killed at, and the end-to-end tests kill it there.
    crash_before: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Config:
        defaults = cls()
        fault = env.get("AGENT_RELEASE_FAULT") or None
        crash_before = None
        if fault is not None:
            crash_before = fault.removeprefix(FAULT_PREFIX)
            if not fault.startswith(FAULT_PREFIX) or crash_before not in EFFECT_NAMES:
                raise ConfigError(
                    f"AGENT_RELEASE_FAULT={fault!r}: expected {FAULT_PREFIX}EFFECT with EFFECT "
                    f"one of {', '.join(sorted(EFFECT_NAMES))}"
                )
        try:
            return cls(
                prometheus_url=env.get("PROMETHEUS_URL") or None,
                prometheus_ca_file=env.get("PROMETHEUS_CA_FILE") or None,
                prometheus_token_file=env.get("PROMETHEUS_TOKEN_FILE") or None,
                metrics_address=env.get("AGENT_RELEASE_METRICS_ADDRESS", defaults.metrics_address),
                metrics_port=int(env.get("AGENT_RELEASE_METRICS_PORT", str(defaults.metrics_port))),
                reconcile_seconds=float(
                    env.get("AGENT_RELEASE_RECONCILE_SECONDS", str(defaults.reconcile_seconds))
                ),
                tick_seconds=float(
                    env.get("AGENT_RELEASE_TICK_SECONDS", str(defaults.tick_seconds))
                ),
                crash_before=crash_before,
            )
        except ValueError as error:
            raise ConfigError(f"invalid operator setting: {error}") from None


def now() -> datetime:
    """The operator's clock: UTC, whole seconds (what status timestamps can hold)."""
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class Runtime:
    kube: Kube
    prometheus: Prometheus | None
    config: Config
    metrics: Metrics = field(default_factory=Metrics)
    clock: Callable[[], datetime] = now
    registry: dict[Key, Tracked] = field(default_factory=dict)
    analyzers: dict[Key, Live] = field(default_factory=dict)  # of baking canaries
    locks: defaultdict[Key, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))
