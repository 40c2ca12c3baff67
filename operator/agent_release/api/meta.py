"""Object metadata and status conditions, shared by all resources."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import ConfigDict, Field

from .types import OMIT_EMPTY, Model


class ObjectMeta(Model):
    """The part of `metadata` the project reads; the API server owns the rest."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=253)
    namespace: str | None = None
    labels: dict[str, str] = OMIT_EMPTY
    annotations: dict[str, str] = OMIT_EMPTY
    generation: int | None = None
    uid: str | None = None
    resource_version: str | None = None
    creation_timestamp: datetime | None = None


# Condition and Event messages are cut here: events.k8s.io caps an Event's note at 1 kB,
# and a condition longer than that is no longer read by anyone on call.
MESSAGE_LIMIT = 1024


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(Model):
    """A Kubernetes-style condition (metav1.Condition)."""

    type: str
    status: ConditionStatus
    reason: str
    message: str = ""
    last_transition_time: datetime | None = None
    observed_generation: int | None = None


def with_condition(
    conditions: Sequence[Condition],
    kind: str,
    value: bool | None,
    reason: str,
    message: str,
    *,
    now: datetime,
    generation: int | None,
    order: Sequence[str] = (),
) -> list[Condition]:
    """`conditions` with the one of type `kind` set: the only way conditions are written.

    `value` None is Unknown. As metav1.Condition asks, `lastTransitionTime` moves only
    when the status flips: setting the same status again with a new message keeps it.
    Conditions are listed in `order` (types not in it last, as they were).
    """
    state = (
        ConditionStatus.UNKNOWN
        if value is None
        else (ConditionStatus.TRUE if value else ConditionStatus.FALSE)
    )
    old = next((c for c in conditions if c.type == kind), None)
    since = old.last_transition_time if old is not None and old.status is state else now
    new = Condition(
        type=kind,
        status=state,
        reason=reason,
        message=message[:MESSAGE_LIMIT],
        last_transition_time=since,
        observed_generation=generation,
    )
    rank = {name: i for i, name in enumerate(order)}
    merged = [*(c for c in conditions if c.type != kind), new]
    return sorted(merged, key=lambda c: rank.get(c.type, len(rank)))
