"""What the operator writes on its own objects: status, and nothing else.

Status is the operator's only memory, so every write of an AgentRelease's status is a
merge patch conditional on the resourceVersion the decision was read at: of two writers
(a kopf handler and the analysis loop, or two replicas), the later one gets a 409 and
decides again on fresh data instead of overwriting the other's decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ..adapters.kube import Kube
from ..api.meta import Condition, with_condition
from ..api.names import AGENTRELEASES, ConditionType, StatusReason
from ..api.release import AgentRelease, AgentReleaseStatus, Phase


def status_patch(before: AgentReleaseStatus | None, after: AgentReleaseStatus) -> dict[str, Any]:
    """The top-level status fields that changed, as a JSON merge patch (null deletes)."""
    old = before.wire() if before is not None else {}
    new = after.wire()
    patch: dict[str, Any] = {k: v for k, v in new.items() if old.get(k) != v}
    patch.update({k: None for k in old if k not in new})
    return patch


async def write_status(kube: Kube, release: AgentRelease, status: AgentReleaseStatus) -> str | None:
    """Write the new status, if it differs, at the release's resourceVersion.

    Returns the resourceVersion written, None when nothing was; a concurrent change
    raises `Conflict`.
    """
    patch = status_patch(release.status, status)
    if not patch:
        return None
    body = {"metadata": {"resourceVersion": release.metadata.resource_version}, "status": patch}
    written = await kube.patch(
        AGENTRELEASES, release.metadata.namespace, release.metadata.name, body, status=True
    )
    return str(written.get("metadata", {}).get("resourceVersion") or "") or None


async def mark_failed(kube: Kube, body: Mapping[str, Any], message: str) -> None:
    """An AgentRelease the operator cannot parse: phase Failed, and why."""
    meta = body["metadata"]
    failed = {"phase": Phase.FAILED.value, "reason": StatusReason.INVALID.value, "message": message}
    namespace, name = meta.get("namespace"), meta["name"]
    await kube.patch(AGENTRELEASES, namespace, name, {"status": failed}, status=True)


def valid_conditions(
    body: Mapping[str, Any], ok: bool, reason: str, message: str, now: datetime
) -> list[dict[str, Any]]:
    """The `Valid` condition of an EvalReport or ReleasePolicy, set on its conditions."""
    status = body.get("status") or {}
    existing = []
    for raw in status.get("conditions") or []:
        try:
            existing.append(Condition.model_validate(raw))
        except ValidationError:
            continue  # not a condition as the schema has it: dropped
    meta = body.get("metadata") or {}
    conditions = with_condition(
        existing,
        ConditionType.VALID.value,
        ok,
        reason,
        message,
        now=now,
        generation=meta.get("generation"),
    )
    return [c.wire() for c in conditions]
