"""Cluster-side commands for people: run the operator, and status/promote/abort/approve.

A person's action is a request, not a write to status (status is the operator's):
the command puts an `api.requests.PersonRequest` in the release's request annotation,
the operator carries it out once (the id is recorded in `status.actions`) and posts an
Event, and the command waits to report what the operator did. `by` is who the API
server says you are (SelfSubjectReview).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
import uuid
from typing import Any, cast

from ..adapters.kube import ApiError, Kube, login
from ..api.names import (
    AGENTRELEASES,
    ANNOTATION_REQUEST,
    CLI_FIELD_MANAGER,
    SELF_SUBJECT_REVIEWS,
)
from ..api.release import AgentRelease
from ..api.requests import PersonRequest, RequestAction
from .errors import EX_DATAERR, EX_UNAVAILABLE


def register(commands: Any) -> None:
    operator = commands.add_parser(
        "operator",
        help="run the operator (kopf) against the current kubeconfig or in-cluster",
        description="Run the operator. Prometheus: PROMETHEUS_URL (and PROMETHEUS_CA_FILE).",
    )
    operator.add_argument(
        "--namespace", "-n", action="append", default=[], help="watch only these (repeatable)"
    )
    operator.set_defaults(run=_operator)

    status = commands.add_parser("status", help="show an AgentRelease: phase, gates, analysis")
    status.add_argument("name")
    status.add_argument("--namespace", "-n")
    status.add_argument("--output", "-o", choices=["text", "json"], default="text")
    status.set_defaults(run=_status)

    for action in RequestAction:
        sub = commands.add_parser(action.value, help=action.help)
        sub.add_argument("name")
        sub.add_argument("--reason", required=True, help="why; recorded in status and Events")
        sub.add_argument("--namespace", "-n")
        sub.add_argument(
            "--wait", type=float, default=30.0, help="seconds to wait for the operator"
        )
        sub.set_defaults(run=_request, action=action)


def _operator(args: argparse.Namespace) -> int:
    import kopf  # noqa: PLC0415 - only this command needs kopf's runtime

    from ..controller import handlers  # noqa: F401, PLC0415 - registers the handlers

    kopf.run(
        # kopf's default identity calls getpass.getuser(), which fails for a numeric uid
        # with no passwd entry (the container image runs as 65532).
        identity=cast(Any, f"agent-release-operator@{socket.gethostname()}"),
        standalone=True,
        clusterwide=not args.namespace,
        namespaces=args.namespace,
    )
    return 0


async def _connect() -> Kube:
    try:
        return Kube(login(), field_manager=CLI_FIELD_MANAGER)
    except ApiError as error:
        raise ClusterUnavailable(str(error)) from None


class ClusterUnavailable(Exception):
    """No cluster to talk to (exit 69)."""


async def _get(kube: Kube, namespace: str, name: str) -> AgentRelease:
    try:
        body = await kube.get(AGENTRELEASES, namespace, name)
    except ApiError as error:
        raise ClusterUnavailable(str(error)) from None
    if body is None:
        raise LookupError(f"AgentRelease {namespace}/{name} not found")
    return AgentRelease.model_validate(body)


def _run(coro: Any) -> int:
    try:
        code: int = asyncio.run(coro)
        return code
    except ClusterUnavailable as error:
        print(f"agent-release: cluster unavailable: {error}", file=sys.stderr)
        return EX_UNAVAILABLE
    except LookupError as error:
        print(f"agent-release: {error}", file=sys.stderr)
        return EX_DATAERR


def _status(args: argparse.Namespace) -> int:
    async def show() -> int:
        kube = await _connect()
        try:
            release = await _get(kube, args.namespace or kube.default_namespace, args.name)
        finally:
            await kube.close()
        if args.output == "json":
            print(json.dumps(release.wire(), indent=2))
        else:
            print(describe(release))
        return 0

    return _run(show())


def describe(release: AgentRelease) -> str:
    """What an on-call person wants first: phase, why, the numbers behind it."""
    status = release.status
    spec = release.spec
    where = f"{release.metadata.namespace}/{release.metadata.name}"
    lines = [f"{where}: agent {spec.agent}, {spec.candidate.describe()}"]
    if status is None:
        return "\n".join([*lines, "phase    Pending (not yet seen by the operator)"])
    lines.append(
        f"phase    {status.phase.value}"
        + (f"  step {status.progress}" if status.progress else "")
        + (f"  attempt {status.attempt}" if status.attempt > 1 else "")
    )
    if status.reason:
        lines.append(f"reason   {status.reason}: {status.message or ''}")
    if status.eval_run_ids:
        lines.append(f"evals    {', '.join(status.eval_run_ids)}")
    for gate in (status.gates.offline, status.gates.prerelease) if status.gates else ():
        if gate is not None:
            lines.append(f"gate     {gate.stage.value}: {gate.decision.value} — {gate.headline()}")
    if status.analysis is not None:
        a = status.analysis
        when, verdict = f"{a.time:%H:%M:%S}", a.verdict or a.result.value
        lines.append(f"analysis step {a.step} ({a.weight}%), look {a.look} at {when}: {verdict}")
        lines.extend(f"  {g.result.value:<13} {g.message}" for g in a.guardrails)
    if status.forecast is not None:
        f = status.forecast
        full = f"{f.full_at:%Y-%m-%d %H:%M} UTC" if f.full_at else "not at this traffic"
        lines.append(
            f"forecast 100% by {full} (median if healthy, {f.tasks_per_minute:g} tasks/min)"
        )
        lines.extend(
            f"  step {s.step} ({s.weight}%, {s.require}) ends "
            + (f"{s.ends_at:%H:%M}" if s.ends_at else "never")
            + f", set by {s.bound_by}"
            for s in f.steps
        )
        lines.extend(
            f"  {g.metric:<26} {g.collected} canary tasks"
            + (f" of {g.needed} needed" if g.needed is not None else "")
            for g in f.guardrails
        )
    if status.rollback is not None:
        r = status.rollback
        lines.append(f"rollback {r.reason.value} at step {r.step} ({r.weight}%): {r.message}")
    lines.extend(
        f"action   {a.time:%H:%M:%S} {a.action.value} by {a.by or '?'}: {a.reason} ({a.outcome})"
        for a in status.actions
    )
    lines.extend(  # what people did to the Rollout itself (kubectl argo rollouts ...)
        f"rollout  {a.time:%H:%M:%S} {a.action.value} by {a.by or '?'}: {a.outcome}"
        for a in status.rollout_actions
    )
    return "\n".join(lines)


async def _whoami(kube: Kube) -> str | None:
    try:
        review = await kube.create(
            SELF_SUBJECT_REVIEWS,
            None,
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
    except ApiError:
        return None
    user: str | None = review.get("status", {}).get("userInfo", {}).get("username")
    return user


def _request(args: argparse.Namespace) -> int:
    async def send() -> int:
        kube = await _connect()
        try:
            namespace = args.namespace or kube.default_namespace
            await _get(kube, namespace, args.name)
            request = PersonRequest(
                id=uuid.uuid4().hex[:12],
                action=args.action,
                reason=args.reason,
                by=await _whoami(kube),
            )
            patch = {"metadata": {"annotations": {ANNOTATION_REQUEST: request.encode()}}}
            try:
                await kube.patch(AGENTRELEASES, namespace, args.name, patch)
            except ApiError as error:
                raise ClusterUnavailable(str(error)) from None
            deadline = time.monotonic() + args.wait
            while time.monotonic() < deadline:
                release = await _get(kube, namespace, args.name)
                done = [
                    a
                    for a in (release.status.actions if release.status else [])
                    if a.id == request.id
                ]
                if done:
                    print(f"{args.action.value} {namespace}/{args.name}: {done[0].outcome}")
                    print(describe(release))
                    return 0
                await asyncio.sleep(0.5)
            print(
                f"agent-release: the operator did not act on the {args.action.value} request "
                f"within {args.wait:g}s; it stays pending in the {ANNOTATION_REQUEST} annotation",
                file=sys.stderr,
            )
            return EX_UNAVAILABLE
        finally:
            await kube.close()

    return _run(send())
