"""EvalReports and ReleasePolicies: their validation beyond the schema, as their status.

The API server has validated the schema (and its CEL rules) already; here come what it
cannot see (an eval run ID used by another report) and what people read first: each
slice's pass rate with its interval, and a `Valid` condition that names the problem.
Only the leader writes it (`validate`); a standby remembers what changed, and the
replica that takes the lead validates that first (`sweep`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ..adapters.kube import Conflict, Kube, NotFound
from ..api.evalreport import EvalReport
from ..api.names import EVALREPORTS, RELEASEPOLICIES, EventReason, StatusReason
from ..api.outcomes import ReasonCode
from ..api.policy import ReleasePolicy
from ..manifests import validation_message
from ..summary import summarize
from .observability import logger
from .runtime import Runtime
from .telling import post_event_on
from .writes import valid_conditions


async def report_status(rt: Runtime, body: Mapping[str, Any]) -> dict[str, Any]:
    """The status of an EvalReport, and its ReportValid/ReportInvalid Event."""
    generation = (body.get("metadata") or {}).get("generation")
    try:
        report = EvalReport.model_validate(dict(body))
    except ValidationError as error:
        problem = validation_message(error)
        return await _invalid(rt, body, ReasonCode.REPORT_INVALID.value, problem)
    duplicate = await _same_run(rt.kube, report)
    if duplicate is not None:
        problem = f"runId {report.spec.run_id} is already used by EvalReport {duplicate}"
        return await _invalid(rt, body, StatusReason.DUPLICATE_RUN_ID.value, problem)
    slices = summarize(report.spec)
    message = "; ".join(
        f"{s.name}: {s.pass_rate * 100:.1f}% [{s.interval.low * 100:.1f}, "
        f"{s.interval.high * 100:.1f}] over {s.seeds} seed(s)"
        for s in slices
    )
    await post_event_on(rt.kube, body, EventReason.REPORT_VALID, message)
    return {
        "slices": [s.wire() for s in slices],
        "conditions": valid_conditions(body, True, StatusReason.VALID.value, message, rt.clock()),
        "observedGeneration": generation,
    }


async def _invalid(
    rt: Runtime, body: Mapping[str, Any], reason: str, problem: str
) -> dict[str, Any]:
    await post_event_on(rt.kube, body, EventReason.REPORT_INVALID, problem, warning=True)
    return {
        "conditions": valid_conditions(body, False, reason, problem, rt.clock()),
        "observedGeneration": (body.get("metadata") or {}).get("generation"),
    }


async def _same_run(kube: Kube, report: EvalReport) -> str | None:
    """Another EvalReport of the namespace that claims the same eval run ID."""
    namespace = report.metadata.namespace
    for other in await kube.list(EVALREPORTS, namespace, fields={"spec.runId": report.spec.run_id}):
        name = other["metadata"]["name"]
        if name != report.metadata.name:
            return str(name)
    return None


def policy_status(rt: Runtime, body: Mapping[str, Any]) -> dict[str, Any]:
    """The status of a ReleasePolicy: valid or not, and what it does in one line."""
    generation = (body.get("metadata") or {}).get("generation")
    try:
        policy = ReleasePolicy.model_validate(dict(body))
    except ValidationError as error:
        problem = validation_message(error)
        reason = StatusReason.POLICY_INVALID.value
        return {
            "conditions": valid_conditions(body, False, reason, problem, rt.clock()),
            "observedGeneration": generation,
        }
    canary = policy.spec.canary
    weights = " → ".join(f"{s.weight}%" for s in canary.steps)
    message = (
        f"{policy.spec.decision.mode.value} decisions at {policy.spec.decision.confidence:g}; "
        f"canary {weights}, {len(canary.guardrails)} guardrails"
    )
    return {
        "conditions": valid_conditions(body, True, StatusReason.VALID.value, message, rt.clock()),
        "observedGeneration": generation,
    }


# -- driving it: the leader validates, a standby remembers ---------------------------------


def stale(body: Mapping[str, Any]) -> bool:
    """Its status does not describe its spec yet (never validated, or the spec changed)."""
    generation = (body.get("metadata") or {}).get("generation")
    status = body.get("status") or {}
    return status.get("observedGeneration") != generation or not status.get("conditions")


async def validate(rt: Runtime, plural: str, body: Mapping[str, Any]) -> None:
    """Write the status of an EvalReport or ReleasePolicy that needs it, as the leader;
    a standby only remembers it, for the leader it may become (`sweep`)."""
    if _to_write(rt, plural, body):
        async with rt.reconciling:  # a burst of reports waits its turn, as reconciles do
            await _write(rt, plural, body)


def _to_write(rt: Runtime, plural: str, body: Mapping[str, Any]) -> bool:
    """Whether this replica writes the object's status now: it is stale and this replica
    leads (a standby remembers it instead)."""
    key = _key(plural, body)
    if not stale(body):
        rt.unvalidated.pop(key, None)
        return False
    if not rt.leading():
        rt.unvalidated[key] = dict(body)
        return False
    rt.unvalidated.pop(key, None)
    return True


def validate_soon(rt: Runtime, plural: str, body: Mapping[str, Any]) -> None:
    """`validate`, for a watch event: the handler returns at once and the object is read
    again when its turn comes, so a burst of new reports holds their names, not their
    bodies, while it waits for slots (and a report changed twice meanwhile is validated
    once)."""
    key = _key(plural, body)
    if not _to_write(rt, plural, body) or key in rt.waiting_validation:
        return
    rt.waiting_validation.add(key)
    _, namespace, name = key

    async def run() -> None:
        try:
            async with rt.reconciling:
                rt.waiting_validation.discard(key)
                if plural == EVALREPORTS.plural:
                    current = await rt.kube.get(EVALREPORTS, namespace, name)
                else:
                    current = await rt.kube.get(RELEASEPOLICIES, None, name)
                if current is not None and stale(current) and rt.leading():
                    await _write(rt, plural, current)
        except Exception as error:  # its next watch event, or the next leader, tries again
            logger(namespace=namespace, name=name).warning(
                "validation failed", kind=plural, error=f"{type(error).__name__}: {error}"
            )
        finally:
            rt.waiting_validation.discard(key)

    task = asyncio.get_running_loop().create_task(run())
    rt.background.add(task)
    task.add_done_callback(rt.background.discard)


def _key(plural: str, body: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = body.get("metadata") or {}
    return (plural, meta.get("namespace") or "", meta.get("name") or "")


async def _write(rt: Runtime, plural: str, body: Mapping[str, Any]) -> None:
    meta = body.get("metadata") or {}
    if plural == EVALREPORTS.plural:
        status = await report_status(rt, body)
    else:
        status = policy_status(rt, body)
    rt.must_lead()
    patch = {"metadata": {"resourceVersion": meta.get("resourceVersion")}, "status": status}
    namespace, name = meta.get("namespace"), meta["name"]
    # changed or gone meanwhile (409, 404): its next watch event validates it again
    with contextlib.suppress(Conflict, NotFound):
        if plural == EVALREPORTS.plural:
            await rt.kube.patch(EVALREPORTS, namespace, name, patch, status=True)
        else:
            await rt.kube.patch(RELEASEPOLICIES, None, name, patch, status=True)


async def sweep(rt: Runtime) -> None:
    """What a standby saw change while another replica led, validated now that it leads."""
    for plural, namespace, name in list(rt.unvalidated):
        if not rt.leading():
            return
        if plural == EVALREPORTS.plural:
            current = await rt.kube.get(EVALREPORTS, namespace, name)
        else:
            current = await rt.kube.get(RELEASEPOLICIES, None, name)
        if current is None:
            rt.unvalidated.pop((plural, namespace, name), None)
            continue
        await validate(rt, plural, current)
