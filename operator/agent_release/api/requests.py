"""A person's request to the operator: the contract between the CLI and the controller.

Status belongs to the operator, so people do not write it: `agent-release promote|abort|
approve` puts one request, as JSON, in the release's `agentrelease.dev/request`
annotation (`names.ANNOTATION_REQUEST`). The operator carries it out once (its id is
recorded in `status.actions`) and says what came of it. Anything can be written into an
annotation, so reading a request never fails: a value that is not a request is no
request, and the operator goes on as if the annotation were absent.
"""

from __future__ import annotations

import json
from enum import StrEnum

from pydantic import Field, ValidationError

from .types import Model


class RequestAction(StrEnum):
    PROMOTE = "promote"  # end the current step's bake now
    ABORT = "abort"  # roll back (ManualAbort)
    APPROVE = "approve"  # accept an Inconclusive gate or a held canary step

    @property
    def help(self) -> str:
        return _HELP[self]


_HELP = {
    RequestAction.PROMOTE: "promote the canary one step now",
    RequestAction.ABORT: "abort the release and roll the canary back",
    RequestAction.APPROVE: "accept an Inconclusive gate or a held canary step",
}

NO_REASON = "no reason given"


class PersonRequest(Model):
    id: str = Field(min_length=1, max_length=64, description="carried out once per id")
    action: RequestAction
    reason: str = Field(default=NO_REASON, max_length=1024)
    by: str | None = Field(default=None, description="who the API server says sent it")

    def encode(self) -> str:
        return json.dumps(self.wire(), sort_keys=True)

    @classmethod
    def decode(cls, text: str | None) -> PersonRequest | None:
        """The request in an annotation's value, or None when it holds none."""
        if not text:
            return None
        try:
            data = json.loads(text)
            if isinstance(data, dict) and not data.get("reason"):
                data = {**data, "reason": NO_REASON}
            return cls.model_validate(data)
        except (ValueError, ValidationError, RecursionError):  # RecursionError: nested too deep
            return None
