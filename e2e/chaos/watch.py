"""The record the invariants are checked against: watches of the Rollouts and the Lease.

A :class:`Watch` runs `kubectl get ... --watch -o json --output-watch-events` in a thread
and keeps, for every event, when it arrived (this machine's clock, which the stack's
programs share) and a summary of the object. The API server keeps only about 25 Events
per object, so steps are never counted from Events: a watch sees every version of a
Rollout's status. When the API server restarts, kubectl's watch ends; the thread starts
it again, and kubectl lists the objects as they are now before it watches on, so a change
made while no watch ran is seen as the state it left (a pause lasts tens of seconds, far
longer than a restart, so none is missed).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent_release.api.names import ANNOTATION_RELEASE, ANNOTATION_ROLLBACK, COMPONENT
from localstack.clients import Kubectl

LEASE_NAME = COMPONENT
WATCHED = ("ADDED", "MODIFIED", "DELETED")
"""Watch events with an object; an `ERROR` event carries a Status instead."""
"""The operator's Lease (`controller/leadership.py`, LEASE_NAME)."""


def stamp(text: str | None) -> float | None:
    """Seconds since the epoch of a Kubernetes timestamp (RFC 3339, Z or microseconds)."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class RolloutSeen:
    """One version of a Rollout, as the watch delivered it."""

    at: float
    namespace: str
    name: str
    resource_version: int
    deleted: bool
    caught_up: bool
    """Argo's controller has seen this generation of the spec (observedGeneration)."""
    template_release: str | None
    """The release whose template the Rollout runs (`agentrelease.dev/release`)."""
    step_index: int | None
    paused_since: float | None
    """`startTime` of the canary step's pause condition, if paused at a step."""
    abort: bool
    phase: str | None
    stable_rs: str | None
    current_pod_hash: str | None
    rollback_reason: str | None
    """`reason` of the `agentrelease.dev/rollback` annotation."""

    @property
    def key(self) -> tuple[str, str]:
        return self.namespace, self.name


def rollout_seen(at: float, kind: str, body: dict[str, Any]) -> RolloutSeen:
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    template = ((body.get("spec") or {}).get("template") or {}).get("metadata") or {}
    pauses = [
        stamp(p.get("startTime"))
        for p in status.get("pauseConditions") or []
        if p.get("reason") == "CanaryPauseStep"
    ]
    rollback = (meta.get("annotations") or {}).get(ANNOTATION_ROLLBACK)
    reason = None
    if rollback:
        with contextlib.suppress(ValueError, AttributeError):
            reason = json.loads(rollback).get("reason")
    observed = status.get("observedGeneration")
    index = status.get("currentStepIndex")
    return RolloutSeen(
        at=at,
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        resource_version=int(meta.get("resourceVersion") or 0),
        deleted=kind == "DELETED",
        caught_up=observed not in (None, "") and int(observed) == int(meta.get("generation") or 0),
        template_release=(template.get("annotations") or {}).get(ANNOTATION_RELEASE),
        step_index=int(index) if index is not None else None,
        paused_since=pauses[0] if pauses else None,
        abort=bool(status.get("abort")),
        phase=status.get("phase"),
        stable_rs=status.get("stableRS"),
        current_pod_hash=status.get("currentPodHash"),
        rollback_reason=reason,
    )


@dataclass(frozen=True)
class LeaseSeen:
    """One version of the operator's Lease."""

    at: float
    resource_version: int
    holder: str | None
    acquired: float | None
    renewed: float | None


def lease_seen(at: float, kind: str, body: dict[str, Any]) -> LeaseSeen:  # noqa: ARG001
    spec = body.get("spec") or {}
    return LeaseSeen(
        at=at,
        resource_version=int((body.get("metadata") or {}).get("resourceVersion") or 0),
        holder=spec.get("holderIdentity"),
        acquired=stamp(spec.get("acquireTime")),
        renewed=stamp(spec.get("renewTime")),
    )


class Watch[T]:
    """`kubectl get ARGS --watch` in a background thread, restarted whenever it ends."""

    def __init__(
        self,
        kubectl: Kubectl,
        args: list[str],
        summary: Callable[[float, str, dict[str, Any]], T],
    ) -> None:
        self._kubectl = kubectl
        self._args = args
        self._summary = summary
        self._seen: list[T] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._process: subprocess.Popen[str] | None = None
        self.restarts = 0
        self.errors = 0
        self.failure: BaseException | None = None
        """What ended the thread early, if anything did: the record is incomplete."""
        self._thread = threading.Thread(target=self._run, name=f"watch {args[0]}", daemon=True)

    def start(self) -> Watch[T]:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
        self._thread.join(timeout=10)

    def seen(self) -> list[T]:
        with self._lock:
            return list(self._seen)

    def _run(self) -> None:
        try:
            self._watch()
        except BaseException as error:  # the campaign fails on it: its record has a hole
            self.failure = error

    def _watch(self) -> None:
        argv = [
            str(self._kubectl.binary),
            f"--kubeconfig={self._kubectl.kubeconfig}",
            "get",
            *self._args,
            "--watch",
            "--output-watch-events",
            "-o",
            "json",
        ]
        while not self._stopping.is_set():
            self._process = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
            )
            assert self._process.stdout is not None
            text = ""
            for line in self._process.stdout:
                text += line  # kubectl writes one event a line (an object may span more)
                try:
                    event = json.loads(text)
                except ValueError:
                    continue
                text = ""
                if event.get("type") not in WATCHED:  # an ERROR (a Status): kubectl goes on
                    self.errors += 1
                    continue
                summary = self._summary(time.time(), event["type"], event["object"])
                with self._lock:
                    self._seen.append(summary)
            self._process.wait()
            if not self._stopping.is_set():
                self.restarts += 1
                time.sleep(0.5)


def rollouts(kubectl: Kubectl) -> Watch[RolloutSeen]:
    """Every Rollout of the cluster, every version."""
    return Watch(kubectl, ["rollouts.argoproj.io", "--all-namespaces"], rollout_seen)


def lease(kubectl: Kubectl, namespace: str) -> Watch[LeaseSeen]:
    """The operator's Lease, every version (whoever held it, acquired and renewed when)."""
    selector = f"metadata.name={LEASE_NAME}"
    return Watch(kubectl, ["leases", "-n", namespace, "--field-selector", selector], lease_seen)
