"""What the operator process holds: clients, settings, the clock, the release registry, locks.

The registry (see `registry`) has an entry for every AgentRelease kopf has seen, kept
by a kopf index with the other watched kinds (`cache`), so the analysis loop can batch
all canaries without listing them from the API on every tick.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, get_args

from ..adapters.kube import Kube
from ..adapters.prometheus import Prometheus
from .cache import Cache
from .facts import AnalysisOutcome
from .leadership import Leadership, NotLeader, Timing
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
    health_port: int = 8080  # /healthz and /readyz
    reconcile_seconds: float = 5.0  # how often a release on the move is reconciled anyway
    resync_seconds: float = 60.0  # ... and one that waits (Blocked, baking between looks)
    concurrent_reconciles: int = 8
    tick_seconds: float = 1.0  # how often the analysis loop checks which canaries are due
    hard_check_seconds: float = 1.0  # how often hard violations are checked between looks
    # Leader election: the Lease lives in the operator's own namespace
    namespace: str = "default"
    leader_election: bool = True
    lease_seconds: float = 15.0
    renew_deadline_seconds: float = 10.0
    retry_seconds: float = 2.0
    # Fault injection, for the crash tests only: the name of an effect class
    # (`PromoteStep`) before which the process exits, after status was written. It is
    # the most delicate line to be killed at, and the end-to-end tests kill it there.
    crash_before: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Config:
        values: dict[str, object] = {}
        for name, (variable, parse) in _ENV.items():
            text = env.get(variable)
            if not text:
                continue
            try:
                values[name] = parse(text)
            except ValueError as error:
                raise ConfigError(f"invalid operator setting {variable}: {error}") from None
        fault = env.get("AGENT_RELEASE_FAULT") or None
        if fault is not None:
            effect = fault.removeprefix(FAULT_PREFIX)
            if not fault.startswith(FAULT_PREFIX) or effect not in EFFECT_NAMES:
                raise ConfigError(
                    f"AGENT_RELEASE_FAULT={fault!r}: expected {FAULT_PREFIX}EFFECT with EFFECT "
                    f"one of {', '.join(sorted(EFFECT_NAMES))}"
                )
            values["crash_before"] = effect
        try:
            return cls(**values)  # type: ignore[arg-type]
        except ValueError as error:
            raise ConfigError(f"invalid operator setting: {error}") from None

    @property
    def lease_timing(self) -> Timing:
        return Timing(self.lease_seconds, self.renew_deadline_seconds, self.retry_seconds)


def _flag(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError(f"{text!r}: expected true or false")
    return text == "true"


# Each setting's environment variable (the Deployment's env, docs/operator.md "Settings")
# and how it is read.
_ENV: dict[str, tuple[str, Callable[[str], object]]] = {
    "prometheus_url": ("PROMETHEUS_URL", str),
    "prometheus_ca_file": ("PROMETHEUS_CA_FILE", str),
    "prometheus_token_file": ("PROMETHEUS_TOKEN_FILE", str),
    "metrics_address": ("AGENT_RELEASE_METRICS_ADDRESS", str),
    "metrics_port": ("AGENT_RELEASE_METRICS_PORT", int),
    "health_port": ("AGENT_RELEASE_HEALTH_PORT", int),
    "reconcile_seconds": ("AGENT_RELEASE_RECONCILE_SECONDS", float),
    "resync_seconds": ("AGENT_RELEASE_RESYNC_SECONDS", float),
    "concurrent_reconciles": ("AGENT_RELEASE_CONCURRENT_RECONCILES", int),
    "tick_seconds": ("AGENT_RELEASE_TICK_SECONDS", float),
    "hard_check_seconds": ("AGENT_RELEASE_HARD_CHECK_SECONDS", float),
    "namespace": ("POD_NAMESPACE", str),
    "leader_election": ("AGENT_RELEASE_LEADER_ELECTION", _flag),
    "lease_seconds": ("AGENT_RELEASE_LEASE_SECONDS", float),
    "renew_deadline_seconds": ("AGENT_RELEASE_RENEW_DEADLINE_SECONDS", float),
    "retry_seconds": ("AGENT_RELEASE_RETRY_SECONDS", float),
}


@dataclass(frozen=True, slots=True)
class Settling:
    """One of the analysis loop's reconciles, on its way: `urgent` when it carries a
    rollback."""

    task: asyncio.Task[None]
    urgent: bool


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
    leadership: Leadership | None = None  # None: the only replica, always acting
    cache: Cache = field(default_factory=Cache)  # kopf's indices, wired at start-up
    analyzers: dict[Key, Live] = field(default_factory=dict)  # of baking canaries

    locks: defaultdict[Key, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))
    # EvalReports and ReleasePolicies a standby saw change, for the leader to validate
    unvalidated: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    last_tick: float = field(default_factory=time.monotonic)  # of the analysis loop
    # releases whose last reconcile failed: tried again even when final (`analysis`)
    unsettled: set[Key] = field(default_factory=set)
    swept_term: int | None = None  # the leader's term the loop last reconciled everything in
    # a look's status write by release, whose watch event needs no reconcile (`reconcile`)
    echoes: dict[Key, str] = field(default_factory=dict)
    # releases a watch event woke, waiting for a slot (`reconcile.wake`), and those tasks
    waiting: set[Key] = field(default_factory=set)
    waiting_validation: set[tuple[str, str, str]] = field(default_factory=set)  # (plural, ns, name)
    background: set[asyncio.Task[None]] = field(default_factory=set)
    # a look waiting for its reconcile to start, by release (`analysis.settle`)
    looks: dict[Key, AnalysisOutcome] = field(default_factory=dict)
    # the loop's reconciles still on their way, by release (`analysis.tick` does not wait)
    settling: dict[Key, Settling] = field(default_factory=dict)
    reconciling: asyncio.Semaphore = field(init=False)  # Config.concurrent_reconciles

    def __post_init__(self) -> None:
        self.reconciling = asyncio.Semaphore(self.config.concurrent_reconciles)

    @property
    def registry(self) -> Mapping[Key, Tracked]:
        """Every release the watch delivered, by (namespace, name)."""
        return self.cache.registry

    @property
    def identity(self) -> str | None:
        """This replica's name in the Lease (None without leader election)."""
        return None if self.leadership is None else self.leadership.me

    def term(self) -> int:
        """The leader's term (`Leadership.term`); the only replica has one term."""
        return 1 if self.leadership is None else self.leadership.term

    def leading(self) -> bool:
        """May this replica act now? Checked before every write (`leadership`)."""
        return self.leadership is None or self.leadership.is_leader()

    def must_lead(self) -> None:
        """Refuse to write unless leading: the fence in front of every effect."""
        if not self.leading():
            assert self.leadership is not None
            raise NotLeader(self.leadership.me)
