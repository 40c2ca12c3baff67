"""What the operator process holds: clients, settings, the release registry, locks.

The registry (see `registry`) has an entry for every AgentRelease kopf has seen, fed
by a kopf event handler, so the analysis loop can batch all canaries without listing
them from the API on every tick.
"""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from dataclasses import dataclass, field

from ..adapters.kube import Kube
from ..adapters.prometheus import Prometheus
from .observability import Metrics
from .registry import Key, Tracked


@dataclass(frozen=True, slots=True)
class Config:
    prometheus_url: str | None
    prometheus_ca_file: str | None
    prometheus_token_file: str | None
    metrics_address: str
    metrics_port: int
    reconcile_seconds: float  # how often a release not in a final phase is looked at
    tick_seconds: float  # how often the analysis loop checks which canaries are due

    @classmethod
    def from_env(cls) -> Config:
        env = os.environ
        return cls(
            prometheus_url=env.get("PROMETHEUS_URL") or None,
            prometheus_ca_file=env.get("PROMETHEUS_CA_FILE") or None,
            prometheus_token_file=env.get("PROMETHEUS_TOKEN_FILE") or None,
            metrics_address=env.get("AGENT_RELEASE_METRICS_ADDRESS", "0.0.0.0"),
            metrics_port=int(env.get("AGENT_RELEASE_METRICS_PORT", "9808")),
            reconcile_seconds=float(env.get("AGENT_RELEASE_RECONCILE_SECONDS", "5")),
            tick_seconds=float(env.get("AGENT_RELEASE_TICK_SECONDS", "1")),
        )


@dataclass
class Runtime:
    kube: Kube
    prometheus: Prometheus | None
    config: Config
    metrics: Metrics = field(default_factory=Metrics)
    registry: dict[Key, Tracked] = field(default_factory=dict)
    locks: defaultdict[Key, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))
