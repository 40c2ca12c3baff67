"""The project's vocabulary: every name that crosses a process boundary, in one place.

API group and version, the resources the operator reads and writes, the label and
annotation keys it sets, condition types, status reasons and Event reasons. Each is
spelled once, here; the CLI, the controller, the CRD generator and the chart's tests
all import it. Reason codes of decisions (the public contract of SPEC §5) are in
`outcomes.ReasonCode`; the reasons here say where a release is, not why it stopped.

Names are contracts with people and tools (kubectl columns, Argo CD health checks,
alerting rules, dashboards): add names, never rename one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from urllib.parse import quote

GROUP: Final = "agentrelease.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = "agentrelease.dev/v1alpha1"  # GROUP/VERSION, as a literal for typing


# -- resources ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resource:
    """An API resource: group ('' for core), version, plural; namespaced or not."""

    group: str
    version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None, sub: str = "") -> str:
        """The REST path of the collection, or of one object and its subresource."""
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace)}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name)}"
        if sub:
            base += f"/{sub}"
        return base


AGENTRELEASES: Final = Resource(GROUP, VERSION, "agentreleases")
EVALREPORTS: Final = Resource(GROUP, VERSION, "evalreports")
RELEASEPOLICIES: Final = Resource(GROUP, VERSION, "releasepolicies", namespaced=False)
# Other APIs the operator and the CLI use. The chart's ClusterRole is derived from the
# calls naming these (tests/test_packaging.py), so a new one needs no RBAC guesswork.
ROLLOUTS: Final = Resource("argoproj.io", "v1alpha1", "rollouts")
REPLICASETS: Final = Resource("apps", "v1", "replicasets")
EVENTS: Final = Resource("", "v1", "events")
SELF_SUBJECT_REVIEWS: Final = Resource(
    "authentication.k8s.io", "v1", "selfsubjectreviews", namespaced=False
)
# The operator's leader election, in its own namespace only (a Role, not the ClusterRole).
LEASES: Final = Resource("coordination.k8s.io", "v1", "leases")


# -- labels and annotations --------------------------------------------------------------

# On the Rollout, its selector and its pods: which agent they serve.
LABEL_AGENT: Final = f"{GROUP}/agent"
# On the Rollout and its pod template: the release whose template it is.
ANNOTATION_RELEASE: Final = f"{GROUP}/release"
# On the pod template from the start, and on the Rollout once promoted.
ANNOTATION_EVAL_RUNS: Final = f"{GROUP}/eval-run-ids"
# On the Rollout after a rollback: the RollbackRecord as JSON (Argo records no reason).
ANNOTATION_ROLLBACK: Final = f"{GROUP}/rollback"
# On an AgentRelease: a person's request (see `requests.PersonRequest`).
ANNOTATION_REQUEST: Final = f"{GROUP}/request"
# Set by Argo Rollouts on the ReplicaSets and pods of each revision.
LABEL_POD_TEMPLATE_HASH: Final = "rollouts-pod-template-hash"


# -- conditions, reasons, Events ---------------------------------------------------------


class ConditionType(StrEnum):
    OFFLINE_GATE_PASSED = "OfflineGatePassed"
    PRERELEASE_GATE_PASSED = "PreReleaseGatePassed"
    CANARY_HEALTHY = "CanaryHealthy"
    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"
    VALID = "Valid"  # EvalReports and ReleasePolicies


class StatusReason(StrEnum):
    """`status.reason` and condition reasons that are not decision reason codes."""

    POLICY_MISSING = "PolicyMissing"
    FIRST_RELEASE = "FirstRelease"
    CANARY_STARTED = "CanaryStarted"
    BAKING = "Baking"
    STEP_PROMOTED = "StepPromoted"
    PROMOTED = "Promoted"
    INVALID = "Invalid"  # an AgentRelease the operator cannot parse: phase Failed
    GATE_PASSED = "GatePassed"
    APPROVED = "Approved"  # an Inconclusive gate accepted by a person
    NO_BREACH = "NoBreach"
    VALID = "Valid"
    DUPLICATE_RUN_ID = "DuplicateRunId"
    POLICY_INVALID = "PolicyInvalid"
    # People acting on the Rollout itself (Argo's kubectl plugin, kubectl patch), as the
    # operator follows them (docs/operator.md, "People's actions")
    MANUAL_PROMOTE = "ManualPromote"  # promoted past the step: the release follows
    MANUAL_FULL_PROMOTE = "ManualFullPromote"  # `promote --full`: ends Promoted with a note
    MANUAL_PAUSE = "ManualPause"  # the Rollout is held paused: no step is promoted
    MANUAL_RESUME = "ManualResume"
    MANUAL_RETRY = "ManualRetry"  # an aborted Rollout retried: a new attempt


class EventReason(StrEnum):
    GATE_PASSED = "GatePassed"
    GATE_BLOCKED = "GateBlocked"
    CANARY_STARTED = "CanaryStarted"
    STEP_PROMOTED = "StepPromoted"
    HOLDING = "Holding"
    METRICS_UNAVAILABLE = "MetricsUnavailable"
    GUARDRAIL_BREACHED = "GuardrailBreached"
    ROLLED_BACK = "RolledBack"
    PROMOTED = "Promoted"
    SUPERSEDED = "Superseded"
    MANUAL_ACTION = "ManualAction"
    REPORT_VALID = "ReportValid"
    REPORT_INVALID = "ReportInvalid"
    RETRY_REFUSED = "RetryRefused"  # a retry of a Rollout the operator rolled back for harm


# The component that posts Events and owns the operator's field manager.
COMPONENT: Final = "agent-release-operator"
# Field managers, as the API server records them in an object's metadata.managedFields:
# the operator's and the CLI's writes name themselves (`fieldManager`), and the one of
# Argo Rollouts' controller. Any other manager of a Rollout field is someone else acting
# on the Rollout: Argo's kubectl plugin (`kubectl-argo-rollouts`), `kubectl patch`, ...
FIELD_MANAGER: Final = COMPONENT
CLI_FIELD_MANAGER: Final = "agent-release"
ARGO_CONTROLLER_MANAGER: Final = "rollouts-controller"
