"""What the watches already delivered: the operator's reads that need no API round trip.

Every replica watches AgentReleases, EvalReports and ReleasePolicies anyway (kopf's
event handlers). Kopf indexes them as they arrive (`handlers`, `@kopf.index`) and runs
no handler before every index holds the whole first listing, so a reconcile never sees a
half-filled cache: a release's baseline, its rival and its reports' names are found
here, not by listing the namespace on every reconcile.

What stays an API read, and why:
- the release itself, at each attempt: its status write is conditional on the
  resourceVersion read, and a stale read would only cost a 409;
- the Rollout: what the operator decides about it (reached a pause, healthy at 100%)
  must not be a moment old, and the Rollouts are not worth keeping whole in memory;
- the body of an EvalReport a gate reads: reports are large and read once per gate,
  so only what finds them (agent, stage, candidate, creation) is kept here.

Entries are small frozen values, never the objects: memory grows by a few hundred bytes
per object, and `Store` only rewrites an entry that changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..api.types import Stage
from .registry import Key, Tracked

AgentKey = tuple[str, str]  # namespace, agent


@dataclass(frozen=True, slots=True)
class ReportRef:
    """What finds an EvalReport: whose, which stage, what it evaluated, when."""

    name: str
    stage: str
    model: str
    runtime: str
    tools: tuple[tuple[str, str], ...]
    created: str  # RFC 3339, as the API server wrote it: sorts as time


def report_ref(body: Mapping[str, Any]) -> tuple[AgentKey, ReportRef] | None:
    """The index entry of an EvalReport (None for one the schema would not have let in)."""
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    candidate = spec.get("candidate") or {}
    agent, name = spec.get("agent"), meta.get("name")
    if not isinstance(agent, str) or not isinstance(name, str) or not isinstance(candidate, dict):
        return None
    tools = candidate.get("tools") or {}
    ref = ReportRef(
        name=name,
        stage=str(spec.get("stage")),
        model=str(candidate.get("model")),
        runtime=str(candidate.get("runtime")),
        tools=tuple(sorted((str(k), str(v)) for k, v in tools.items()))
        if isinstance(tools, dict)
        else (),
        created=str(meta.get("creationTimestamp") or ""),
    )
    return (str(meta.get("namespace") or ""), agent), ref


def policy_entry(body: Mapping[str, Any]) -> dict[str, Any]:
    """A ReleasePolicy as kept: what parses, without managedFields or status."""
    meta = body.get("metadata") or {}
    return {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {k: meta[k] for k in ("name", "generation", "uid") if k in meta},
        "spec": body.get("spec"),
    }


@dataclass(frozen=True)
class Cache:
    """Read-only views of the indices: each maps a key to the entries of the objects
    that have it (kopf's `Index` of `Store`s is exactly that; tests pass plain dicts).

    `releases` has every AgentRelease under two keys, its own (namespace, name) and its
    agent's (namespace, agent): one index, so each release is parsed once per event."""

    releases: Mapping[Any, Iterable[Tracked]] = field(default_factory=dict)
    reports: Mapping[AgentKey, Iterable[ReportRef]] = field(default_factory=dict)
    policies: Mapping[str, Iterable[dict[str, Any]]] = field(default_factory=dict)

    def release(self, key: Key) -> Tracked | None:
        return next(iter(self.releases.get(release_key(key), ())), None)

    def releases_of(self, namespace: str, agent: str) -> list[Tracked]:
        return list(self.releases.get(agent_key(namespace, agent), ()))

    def reports_of(self, namespace: str, agent: str, stage: Stage) -> list[ReportRef]:
        return [r for r in self.reports.get((namespace, agent), ()) if r.stage == stage.value]

    def policy(self, name: str) -> dict[str, Any] | None:
        return next(iter(self.policies.get(name, ())), None)

    @property
    def registry(self) -> Registry:
        return Registry(self.releases)


def release_key(key: Key) -> tuple[str, str, str]:
    return ("release", *key)


def agent_key(namespace: str, agent: str) -> tuple[str, str, str]:
    return ("agent", namespace, agent)


def release_entries(entry: Tracked) -> dict[tuple[str, str, str], Tracked]:
    """The keys a release is indexed under (see `Cache`)."""
    return {release_key(entry.key): entry, agent_key(entry.key[0], entry.agent): entry}


class Registry(Mapping[Key, Tracked]):
    """Every release by (namespace, name), as the analysis loop walks them."""

    def __init__(self, releases: Mapping[Any, Iterable[Tracked]]) -> None:
        self._releases = releases

    def __getitem__(self, key: Key) -> Tracked:
        found = next(iter(self._releases.get(release_key(key), ())), None)
        if found is None:
            raise KeyError(key)
        return found

    def __iter__(self) -> Iterator[Key]:
        for key in list(self._releases):
            if key[0] == "release":
                yield key[1], key[2]

    def __len__(self) -> int:
        return sum(1 for _ in self)
