"""The demo: three releases of one agent through the gates and the canary.

v1 is the agent's first release (gated, then deployed at once); v2 is better on every
eval and healthy in production, so it promotes 5% → 20% → 50% → 100%; v3 passes its
gates but five times as many of its tasks need a human, so the canary guardrail on
`human_intervention_rate` rolls it back. The manifests are in `examples/demo/`; the
policy there bakes for a minute per step, so the whole story takes about six minutes.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_release.api.release import AgentRelease, Phase
from localstack.clients import Kubectl, KubectlError

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "examples" / "demo"
NAMESPACE = "agent-demo"
STEPS = [
    ("10-baseline.yaml", "support-agent-v1", Phase.PROMOTED),
    ("20-good-candidate.yaml", "support-agent-v2", Phase.PROMOTED),
    ("30-bad-candidate.yaml", "support-agent-v3", Phase.ROLLED_BACK),
]


_RATES = ("task_success_rate", "human_intervention_rate", "tool_failure_rate")


@dataclass(frozen=True)
class Row:
    name: str
    phase: str
    progress: str
    reason: str
    guardrails: str

    def cells(self) -> tuple[str, ...]:
        return (self.name, self.phase, self.progress, self.reason, self.guardrails)


def rows(kubectl: Kubectl) -> list[Row]:
    listed = kubectl.json("get", "agentreleases.agentrelease.dev", "-n", NAMESPACE)
    out = []
    for body in sorted(listed["items"], key=lambda b: b["metadata"]["creationTimestamp"]):
        release = AgentRelease.model_validate(body)
        status = release.status
        if status is None:
            out.append(Row(release.metadata.name, "Pending", "", "", ""))
            continue
        values = ""
        if status.analysis is not None:
            parts = [
                f"{g.metric.removesuffix('_rate')} {g.canary * 100:.1f}% vs {g.stable * 100:.1f}%"
                for g in status.analysis.guardrails
                if g.canary is not None and g.stable is not None and g.metric in _RATES
            ]
            values = f"look {status.analysis.look} @{status.analysis.weight}%: " + ", ".join(parts)
        out.append(
            Row(
                release.metadata.name,
                status.phase.value,
                status.progress or "",
                status.reason or "",
                values,
            )
        )
    return out


def render(table: list[Row]) -> str:
    heads = ("RELEASE", "PHASE", "STEP", "REASON", "LATEST GUARDRAILS (canary vs stable)")
    cells = [heads, *(r.cells() for r in table)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(heads) - 1)]
    return "\n".join(
        "  ".join([*(c[i].ljust(widths[i]) for i in range(len(widths))), c[-1]]) for c in cells
    )


class View:
    """A live table on a terminal; on a pipe (CI), one line per change."""

    def __init__(self, kubectl: Kubectl, out: Any = sys.stdout) -> None:
        self.kubectl, self.out = kubectl, out
        self.tty = out.isatty()
        self.seen: dict[str, tuple[str, str, str]] = {}

    def refresh(self) -> None:
        table = rows(self.kubectl)
        if self.tty:
            self.out.write("\033[H\033[J" + render(table) + "\n")
        else:
            for row in table:
                key = (row.phase, row.progress, row.reason)
                if self.seen.get(row.name) != key:
                    self.seen[row.name] = key
                    stamp = time.strftime("%H:%M:%S")
                    self.out.write(f"{stamp} {row.name}: {' '.join(key)}\n")
        self.out.flush()


def reset(kubectl: Kubectl) -> None:
    """A fresh namespace, so the demo tells its whole story every time."""
    try:
        kubectl.run("delete", "namespace", NAMESPACE, "--wait=true", "--timeout=120s")
    except KubectlError as error:
        if "NotFound" not in str(error):
            raise
    kubectl.run("create", "namespace", NAMESPACE)
    kubectl.run("apply", "-f", str(MANIFESTS / "00-policy.yaml"))


def wait_phase(
    kubectl: Kubectl, name: str, want: Phase, view: View, timeout: float
) -> AgentRelease:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view.refresh()
        body = kubectl.json("get", "agentreleases.agentrelease.dev", name, "-n", NAMESPACE)
        release = AgentRelease.model_validate(body)
        phase = release.status.phase if release.status else Phase.PENDING
        if phase is want:
            return release
        if phase.final or phase is Phase.BLOCKED:
            why = release.status.message if release.status else ""
            raise RuntimeError(f"{name} ended {phase.value}, expected {want.value}: {why}")
        time.sleep(2)
    raise TimeoutError(f"{name} did not reach {want.value} within {timeout:.0f}s")


def run(kubectl: Kubectl, view: View | None = None, timeout: float = 600) -> list[AgentRelease]:
    """Play the three releases in order; each waits for the previous to finish."""
    view = view or View(kubectl)
    reset(kubectl)
    finished = []
    for manifest, name, want in STEPS:
        kubectl.run("apply", "-n", NAMESPACE, "-f", str(MANIFESTS / manifest))
        finished.append(wait_phase(kubectl, name, want, view, timeout))
    view.refresh()
    return finished


def summary(releases: list[AgentRelease]) -> str:
    lines = []
    for release in releases:
        status = release.status
        assert status is not None
        lines.append(f"{release.metadata.name}: {status.phase.value} — {status.message}")
        if status.rollback is not None:
            lines.append("  rollback: " + json.dumps(status.rollback.wire()))
    return "\n".join(lines)
