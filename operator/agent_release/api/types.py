"""Shared field types of the three resources: the model base, enums, durations, names.

Every model is frozen and forbids unknown fields: a typo in a manifest is an error
naming the field, never a silently ignored setting. Python attribute names are
snake_case; the wire names (YAML, JSON, CRD schema) are the camelCase of SPEC §4.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue
from pydantic.alias_generators import to_camel


class Model(BaseModel):
    """Base of every API model: frozen, camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_enum_values=False,
    )

    def wire(self) -> dict[str, Any]:
        """The object as it is written to YAML/JSON and to the API server."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def is_empty(value: Any) -> bool:
    return not value


# A map whose absence and emptiness mean the same (no tools, no labels): left out of
# written manifests when empty, so they hold what a person would write.
OMIT_EMPTY: Any = Field(default_factory=dict, exclude_if=is_empty)


def cel(*rules: tuple[str, str]) -> ConfigDict:
    """Model config carrying CEL rules (`x-kubernetes-validations`) as (rule, message).

    Each rule has a pydantic twin in the same model, so the CLI refuses what the API
    server refuses, in the same words.
    """
    validations: list[JsonValue] = [{"rule": rule, "message": msg} for rule, msg in rules]
    return ConfigDict(json_schema_extra={"x-kubernetes-validations": validations})


class Stage(StrEnum):
    OFFLINE = "offline"
    PRERELEASE = "prerelease"


class Capability(StrEnum):
    """Capability slices of the offline portfolio (SPEC §1) plus business workflows."""

    CODE = "code"
    TERMINAL = "terminal"
    GUI = "gui"
    TOOL_DIALOG = "tool-dialog"
    BUSINESS = "business"


class FailureClass(StrEnum):
    """Failure taxonomy: every task that did not pass lands in exactly one class.

    `infra_error` is the harness/infrastructure class (container crash, parse error,
    missing report): it says nothing about the agent, but it is still a task that did
    not pass, so pass rates are not inflated by dropping it.
    """

    TOOL_ERROR = "tool_error"
    POLICY_VIOLATION = "policy_violation"
    TIMEOUT = "timeout"
    WRONG_RESULT = "wrong_result"
    INFRA_ERROR = "infra_error"


# -- durations ---------------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string ("30m", "1h30m", "90s", "500ms").

    The grammar is Go's `time.ParseDuration` (what CEL's `duration()` accepts), so a
    value the API server admits always parses here and vice versa. Negative and
    zero durations are refused: every duration in the API is a positive wait.
    """
    pos, total = 0, 0.0
    if not text:
        raise ValueError("empty duration; use a Go duration such as 30m, 90s or 1h30m")
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None:
            raise ValueError(
                f"invalid duration {text!r}; use a Go duration such as 30m, 90s or 1h30m"
            )
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if total <= 0:
        raise ValueError(f"duration {text!r} must be positive")
    return total


def _check_duration(text: str) -> str:
    parse_duration(text)
    return text


# CEL twin of parse_duration's acceptance.
_DURATION_CEL: list[JsonValue] = [
    {
        "rule": "duration(self) > duration('0s')",
        "message": "must be a positive Go duration such as 30m, 90s or 1h30m",
    }
]

# In the CRD only: the pattern makes the API server's message name the value and the
# grammar, and CEL refuses zero (the pattern alone cannot). The models check with
# parse_duration, whose message is friendlier than a regular expression.
DURATION_PATTERN = r"^([0-9]+(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$"

Duration = Annotated[
    str,
    Field(
        max_length=64,
        json_schema_extra={"pattern": DURATION_PATTERN, "x-kubernetes-validations": _DURATION_CEL},
    ),
    AfterValidator(_check_duration),
]

# A Kubernetes object name (RFC 1123 subdomain) — used for references to other objects.
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
ObjectName = Annotated[str, Field(min_length=1, max_length=253, pattern=NAME_PATTERN)]
# An agent name ends up in a label value and a PromQL label matcher: keep it a DNS label.
AGENT_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
AgentName = Annotated[str, Field(min_length=1, max_length=63, pattern=AGENT_PATTERN)]
NonEmpty = Annotated[str, Field(min_length=1, max_length=253)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Count = Annotated[int, Field(ge=0)]
