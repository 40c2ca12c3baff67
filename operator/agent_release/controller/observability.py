"""Structured logs and the operator's own /metrics (SPEC §7).

Logs are JSON lines (structlog) and always carry the release's identity: agent,
release, candidate model, eval run IDs and the canary revision, so a log search
for one of them finds every decision about it.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ..api.release import AgentRelease


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(stream=sys.stderr, level=level, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def release_fields(release: AgentRelease) -> dict[str, Any]:
    status = release.status
    return {
        "namespace": release.metadata.namespace,
        "release": release.metadata.name,
        "agent": release.spec.agent,
        "candidate": release.spec.candidate.describe(),
        "eval_run_ids": list(status.eval_run_ids) if status else [],
        "revision": status.rollout.canary_revision if status and status.rollout else None,
    }


def logger(**fields: Any) -> Any:
    return structlog.get_logger("agent-release").bind(**fields)


class Metrics:
    """The operator's Prometheus metrics, in a registry of its own (not the global one)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.gate_decisions = Counter(
            "agentrelease_gate_decisions",
            "Gate decisions by stage, result and first reason code.",
            ["stage", "result", "reason"],
            registry=r,
        )
        self.rollbacks = Counter(
            "agentrelease_rollbacks",
            "Releases rolled back, by reason code.",
            ["reason"],
            registry=r,
        )
        self.releases = Gauge(
            "agentrelease_releases", "AgentReleases by phase.", ["phase"], registry=r
        )
        self.step_duration = Histogram(
            "agentrelease_step_duration_seconds",
            "Time from a canary step starting to bake to its promotion.",
            buckets=(30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, float("inf")),
            registry=r,
        )
        self.query_latency = Histogram(
            "agentrelease_prometheus_query_duration_seconds",
            "Latency of guardrail queries to Prometheus.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, float("inf")),
            registry=r,
        )
        self.query_errors = Counter(
            "agentrelease_prometheus_query_errors", "Guardrail queries that failed.", registry=r
        )
        self.queries = Counter(
            "agentrelease_prometheus_queries", "Guardrail queries sent to Prometheus.", registry=r
        )
        self.hard_checks = Counter(
            "agentrelease_prometheus_hard_checks",
            "Instant queries for hard violations between looks (not in the queries' count).",
            registry=r,
        )
        self.analyses = Counter(
            "agentrelease_canary_analyses",
            "Canary looks taken, by verdict.",
            ["verdict"],
            registry=r,
        )
        self.reconcile_latency = Histogram(
            "agentrelease_reconcile_duration_seconds",
            "Time to reconcile one AgentRelease.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, float("inf")),
            registry=r,
        )
        self.api_requests = Counter(
            "agentrelease_api_requests",
            "Requests the operator sent to the API server (not kopf's watches), by method.",
            ["method"],
            registry=r,
        )
        self.conflicts = Counter(
            "agentrelease_status_conflicts",
            "Status writes refused as stale (409), each followed by a fresh decision.",
            registry=r,
        )
        self.breach_to_abort = Histogram(
            "agentrelease_breach_to_abort_seconds",
            "From the look that found a breach to the Rollout abort being accepted.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, float("inf")),
            registry=r,
        )
