"""`agent-release plan` and `replay`: a canary policy before and after the fact, no cluster.

`plan` says how long each step should take a healthy canary at a given traffic, and how
many canary tasks each guardrail needs (`canary.forecast`, the same forecast the
operator writes into a release's status). `replay` runs recorded analysis intervals, or
a past canary's Prometheus history fetched with the operator's own queries, through the
operator's own analyzer (`canary.Analyzer`): what would this policy have done?
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from ..adapters.prometheus import Prometheus, PrometheusUnavailable
from ..api.policy import CanaryPolicy, GuardrailMetric, ReleasePolicy
from ..api.types import parse_duration
from ..canary import Analyzer, Counts, Decision, Verdict
from ..canary.forecast import DEFAULT_RATES, plan, rates_problem
from ..canary.queries import (
    TRAFFIC_KEY,
    Series,
    by_time,
    guardrail_query,
    interval_counts,
    selector,
    traffic_query,
)
from ..files import is_number, parse_json, read_text
from ..manifests import ManifestError, load
from .errors import EX_UNAVAILABLE, UsageError


def register(commands: Any) -> None:
    plan = commands.add_parser(
        "plan",
        help="how long a canary under a policy takes at a given traffic",
        description="Per step and guardrail: the canary tasks needed and the expected time "
        "to 100%% of a healthy canary, at the traffic given (docs/gates.md, 'Forecast').",
    )
    plan.add_argument("--policy", required=True, type=Path, help="ReleasePolicy manifest")
    plan.add_argument(
        "--traffic", required=True, help="tasks the agent serves in all: 600/min, 10/s, 36000/h"
    )
    plan.add_argument(
        "--rates",
        default="",
        help="base rates, comma-separated NAME=VALUE; names: " + ", ".join(DEFAULT_RATES),
    )
    plan.add_argument("--output", "-o", choices=["text", "json"], default="text")
    plan.set_defaults(run=_plan)

    replay = commands.add_parser(
        "replay",
        help="what a policy would have decided on a recorded canary",
        description="Replay analysis intervals through the operator's analyzer: from a "
        "JSON-lines file (one object a line: at, canary, stable, with the Counts fields), "
        "or from Prometheus history with the operator's queries.",
    )
    replay.add_argument("--policy", required=True, type=Path, help="ReleasePolicy manifest")
    replay.add_argument("intervals", nargs="?", type=Path, help="INTERVALS.jsonl")
    replay.add_argument("--prometheus", help="Prometheus URL to read the canary's history from")
    replay.add_argument("--ca-file", help="CA bundle to verify Prometheus' TLS with")
    replay.add_argument("--token-file", help="bearer token for Prometheus")
    replay.add_argument("--agent")
    replay.add_argument("--canary-revision")
    replay.add_argument("--stable-revision")
    replay.add_argument("--from", dest="start", help="when the canary began (RFC 3339 or epoch)")
    replay.add_argument("--to", dest="end", help="the end of the history to replay")
    replay.add_argument("--output", "-o", choices=["text", "json"], default="text")
    replay.set_defaults(run=_replay)


# -- plan ----------------------------------------------------------------------------------

_PER = {"s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "hour": 3600.0}


def traffic_per_second(text: str) -> float:
    """`600/min`, `10/s`, `36000/h`; a bare number is per minute."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(?:/\s*([a-z]+))?\s*", text)
    if match is None or (match.group(2) and match.group(2) not in _PER):
        raise UsageError(f"agent-release plan: --traffic {text!r}: expected N/s, N/min or N/h")
    value = float(match.group(1))
    if value <= 0:
        raise UsageError(f"agent-release plan: --traffic {text!r}: must be positive")
    return value / _PER[match.group(2) or "min"]


def _rates(text: str) -> dict[str, float]:
    rates: dict[str, float] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = pair.partition("=")
        if name not in DEFAULT_RATES:
            raise UsageError(
                f"agent-release plan: --rates {name!r}: unknown; use {', '.join(DEFAULT_RATES)}"
            )
        try:
            rates[name] = float(value)
        except ValueError:
            raise UsageError(f"agent-release plan: --rates {pair!r}: not a number") from None
    problem = rates_problem(rates)
    if problem is not None:
        raise UsageError(f"agent-release plan: --rates: {problem}")
    return rates


def _duration(seconds: float) -> str:
    if math.isinf(seconds):
        return "never"
    minutes = round(seconds / 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def _plan(args: argparse.Namespace) -> int:
    policy = load(args.policy, ReleasePolicy)
    settings = policy.spec.canary
    per_second = traffic_per_second(args.traffic)
    result = plan(settings, per_second, {**DEFAULT_RATES, **_rates(args.rates)})
    expected = result.forecast
    if args.output == "json":
        out = {
            "policy": policy.metadata.name,
            "tasks_per_minute": per_second * 60,
            "seconds_to_full": _finite(expected.seconds_to_full),
            "steps": [
                {
                    "step": p.step,
                    "weight": p.weight,
                    "require": p.requirement.value,
                    "canary_tasks_per_minute": per_second * 60 * p.weight / 100,
                    "seconds": _finite(p.seconds),
                    "bound_by": p.bound_by,
                }
                for p in expected.steps
            ],
            "guardrails": [
                {
                    "metric": g.metric.value,
                    "screen": _finite(g.screen),
                    "settle": _finite(g.settle),
                    "rollback_at_threshold": _finite(g.rollback),
                }
                for g in result.guardrails
            ],
        }
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(
        f"policy {policy.metadata.name} at {per_second * 60:g} tasks/min in all (looks every "
        f"{settings.analysis_interval}, minSamples {settings.min_samples}; per guardrail "
        f"falseRollback {settings.false_rollback:g}, missedRegression "
        f"{settings.missed_regression:g})\n"
    )
    header = ("step", "weight", "require", "bake", "canary/min", "lasts")
    print("  ".join(f"{c:>10}" for c in header) + "  bound by")
    for p in expected.steps:
        row = (
            str(p.step),
            f"{p.weight}%",
            p.requirement.value,
            settings.steps[p.step - 1].bake_time,
            f"{per_second * 60 * p.weight / 100:.1f}",
            _duration(p.seconds),
        )
        print("  ".join(f"{c:>10}" for c in row) + f"  {p.bound_by}")
    print(f"{len(settings.steps):>10}  {'100%':>10}")
    print(
        f"\nexpected time to 100% (median, healthy canary): {_duration(expected.seconds_to_full)}"
    )
    print("\ncanary tasks needed (means, with the evidence pooled since the canary began)")
    print(f"{'guardrail':<26}{'threshold':>11}{'screen':>9}{'settle':>9}  roll back at threshold")
    limits = {g.metric: g for g in settings.guardrails}
    for g in result.guardrails:
        guardrail = limits[g.metric]
        limit = (
            f"×{guardrail.max_ratio:.2f}"
            if guardrail.max_ratio
            else f"{guardrail.threshold * 100:+.2f} pts"
        )
        print(
            f"{g.metric.value:<26}{limit:>11}{g.screen:>9.0f}{g.settle:>9.0f}  {g.rollback:>22.0f}"
        )
    return 0


def _finite(value: float) -> float | None:
    return None if math.isinf(value) else value


# -- replay ----------------------------------------------------------------------------------


def _read_intervals(path: Path) -> Iterator[tuple[float, Counts, Counts]]:
    text = read_text(path, "a JSON-lines file of intervals", ManifestError)
    previous = -math.inf
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        data = parse_json(line, where, ManifestError)
        if not isinstance(data, dict) or set(data) - {"at", "canary", "stable"}:
            raise ManifestError(f"{where}: expected an object with at, canary and stable")
        at = data.get("at")
        if not is_number(at) or at <= previous:
            raise ManifestError(f"{where}: field at: must be a finite number after {previous:g}")
        previous = float(at)
        sides = []
        for side in ("canary", "stable"):
            counts = data.get(side)
            if not isinstance(counts, dict):
                raise ManifestError(f"{where}: field {side}: must be an object of Counts fields")
            try:
                sides.append(Counts.from_json(counts, f"{where}: field {side}"))
            except ValueError as error:
                raise ManifestError(str(error)) from None
        yield previous, sides[0], sides[1]


def _moment(text: str | None, flag: str) -> float:
    if text is None:
        raise UsageError(f"agent-release replay: --prometheus needs {flag}")
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise UsageError(
            f"agent-release replay: {flag} {text!r}: expected RFC 3339 or epoch seconds"
        ) from None


async def _history(
    args: argparse.Namespace, settings: CanaryPolicy
) -> list[
    tuple[float, Counts | dict[GuardrailMetric, Counts], Counts | dict[GuardrailMetric, Counts]]
]:
    missing = [
        flag
        for flag, value in (
            ("--agent", args.agent),
            ("--canary-revision", args.canary_revision),
            ("--stable-revision", args.stable_revision),
            ("--from", args.start),
            ("--to", args.end),
        )
        if value is None
    ]
    if missing:
        raise UsageError(f"agent-release replay: --prometheus needs {', '.join(missing)}")
    interval = parse_duration(settings.analysis_interval)
    began = math.ceil(_moment(args.start, "--from") / interval) * interval
    end = math.floor(_moment(args.end, "--to") / interval) * interval
    if end < began + interval:
        raise UsageError("agent-release replay: --to must be at least one interval after --from")
    try:
        matchers = selector(
            [(args.agent, args.canary_revision), (args.agent, args.stable_revision)]
        )
    except ValueError as error:
        raise UsageError(f"agent-release replay: {error}") from None
    prometheus = Prometheus(args.prometheus, ca_file=args.ca_file, token_file=args.token_file)
    answers: dict[str, Series] = {}
    try:
        answers[TRAFFIC_KEY] = by_time(
            await prometheus.query_range(
                traffic_query(matchers, interval), began + interval, end, interval
            )
        )
        for guardrail in settings.guardrails:
            expr = guardrail_query(guardrail, matchers, interval)
            answers[guardrail.metric.value] = by_time(
                await prometheus.query_range(expr, began + interval, end, interval)
            )
    finally:
        await prometheus.close()
    out = []
    t = began + interval
    while t <= end + 1e-3:
        canary = interval_counts(answers, settings.guardrails, args.agent, args.canary_revision, t)
        stable = interval_counts(answers, settings.guardrails, args.agent, args.stable_revision, t)
        out.append((t - began, canary, stable))
        t += interval
    return out


def _replay(args: argparse.Namespace) -> int:
    policy = load(args.policy, ReleasePolicy)
    settings = policy.spec.canary
    if (args.intervals is None) == (args.prometheus is None):
        raise UsageError(
            "agent-release replay: give INTERVALS.jsonl or --prometheus URL, one of them"
        )
    if args.prometheus is not None:
        try:
            intervals: Any = asyncio.run(_history(args, settings))
        except PrometheusUnavailable as error:
            print(f"agent-release: Prometheus unavailable: {error}", file=sys.stderr)
            return EX_UNAVAILABLE
    else:
        intervals = _read_intervals(args.intervals)
    analyzer = Analyzer(policy)
    last: Decision | None = None
    for at, canary, stable in intervals:
        decision = analyzer.look(at, canary, stable)
        if args.output == "json" or _news(last, decision):
            _tell(args.output, decision)
        last = decision
        if decision.verdict is Verdict.ROLLBACK or analyzer.state.step >= len(settings.steps):
            break
    if last is None:
        raise ManifestError(f"{args.intervals or args.prometheus}: no analysis interval to replay")
    ended = (
        "rolled back"
        if last.verdict is Verdict.ROLLBACK
        else ("reached 100%" if analyzer.state.step >= len(settings.steps) else "still at a step")
    )
    if args.output == "text":
        print(
            f"{ended} after {_duration(last.at)} ({last.state.looks} looks, "
            f"{analyzer.canary_tasks:.0f} canary tasks)"
            + (
                f": {last.reason.value} on {last.metric}"
                if last.verdict is Verdict.ROLLBACK and last.reason
                else ""
            )
        )
    return 0


def _news(last: Decision | None, d: Decision) -> bool:
    """Worth a line of text: a decision, or the first look of a hold."""
    if d.verdict is Verdict.CONTINUE:
        return False
    if d.verdict is not Verdict.HOLD or last is None:
        return True
    return (last.verdict, last.reason, last.step) != (d.verdict, d.reason, d.step)


def _tell(output: str, d: Decision) -> None:
    if output == "json":
        record = {
            "at": d.at,
            "verdict": d.verdict.value,
            "step": d.step,
            "weight": d.weight,
            "reason": d.reason.value if d.reason else None,
            "metric": d.metric,
            "message": d.message,
            "guardrails": {
                g.metric: {"result": g.result.value, "observed": g.observed, "evidence": g.evidence}
                for g in d.guardrails
            },
        }
        print(json.dumps(record))
    else:
        print(f"{_duration(d.at):>8}  step {d.step} ({d.weight}%)  {d.verdict.value}: {d.message}")
