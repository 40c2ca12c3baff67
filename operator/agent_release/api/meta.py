"""Object metadata and status conditions, shared by all resources."""

from __future__ import annotations

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
