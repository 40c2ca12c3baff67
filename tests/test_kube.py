"""The API client: what goes on the wire, and how each answer of the API server is taken.

On `httpx.MockTransport`: everything above the HTTP transport is the production code.
"""

from __future__ import annotations

import httpx
import kopf
import pytest

from agent_release.adapters.kube import (
    AlreadyExists,
    ApiError,
    Conflict,
    NotFound,
    field_selector,
)
from agent_release.api.names import AGENTRELEASES, FIELD_MANAGER, RELEASEPOLICIES, ROLLOUTS
from builders import wire
from builders.wire import Script, status_error


def test_field_selector_escapes_its_metacharacters() -> None:
    selector = field_selector({"spec.agent": "support", "spec.candidate.model": r"a=b,c\d"})
    assert selector == r"spec.agent=support,spec.candidate.model=a\=b\,c\\d"


def test_paths() -> None:
    assert AGENTRELEASES.path("ns", "r1", "status") == (
        "/apis/agentrelease.dev/v1alpha1/namespaces/ns/agentreleases/r1/status"
    )
    assert RELEASEPOLICIES.path("ignored", "prod") == (
        "/apis/agentrelease.dev/v1alpha1/releasepolicies/prod"
    )


# (answer, error class, status, retriable): the contract every caller relies on
ANSWERS = [
    (status_error(404, "NotFound"), NotFound, 404, False),
    (status_error(409, "AlreadyExists"), AlreadyExists, 409, True),
    (status_error(409, "Conflict"), Conflict, 409, True),
    (status_error(410, "Expired"), ApiError, 410, False),
    (status_error(422, "Invalid"), ApiError, 422, False),
    (status_error(403, "Forbidden"), ApiError, 403, False),
    (status_error(429, "TooManyRequests"), ApiError, 429, True),
    (status_error(500, "InternalError"), ApiError, 500, True),
    (status_error(503, "ServiceUnavailable"), ApiError, 503, True),
    (httpx.Response(502, text="<html>bad gateway</html>"), ApiError, 502, True),
    (wire.timeout, ApiError, 0, True),
]


@pytest.mark.parametrize(("answer", "kind", "code", "retriable"), ANSWERS)
async def test_every_refusal_is_an_error_that_says_if_a_retry_can_help(
    answer: wire.Answer, kind: type[ApiError], code: int, retriable: bool
) -> None:
    script = Script().on("PATCH", ".*", answer)
    kube = wire.kube(script)
    with pytest.raises(kind) as raised:
        await kube.patch(ROLLOUTS, "agents", "support-agent", {"status": {"abort": True}})
    assert type(raised.value) is kind
    assert (raised.value.status, raised.value.retriable) == (code, retriable)
    await kube.close()


async def test_a_missing_object_is_none_for_get() -> None:
    script = Script().on("GET", ".*", status_error(404, "NotFound"))
    kube = wire.kube(script)
    assert await kube.get(ROLLOUTS, "agents", "gone") is None
    await kube.close()


async def test_an_expired_token_logs_in_again_once() -> None:
    """ServiceAccount tokens rotate: a 401 fetches fresh credentials and retries once."""

    def by_token(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] != "Bearer token-2":
            return status_error(401, "Unauthorized")
        return wire.ok({"metadata": {"name": "support-agent"}})

    script = Script().on("GET", ".*", by_token)
    logins: list[str] = []

    def relogin() -> kopf.ConnectionInfo:
        logins.append("again")
        return wire.connection("token-2")

    kube = wire.kube(script, relogin=relogin)
    assert await kube.get(ROLLOUTS, "agents", "support-agent") == {
        "metadata": {"name": "support-agent"}
    }
    assert logins == ["again"]
    assert [r.headers["Authorization"] for r in script.requests] == [
        "Bearer token-1",
        "Bearer token-2",
    ]
    # the new credentials stay: the next call does not log in again
    await kube.get(ROLLOUTS, "agents", "support-agent")
    assert logins == ["again"]
    await kube.close()


async def test_credentials_refused_after_a_fresh_login_are_not_retried_forever() -> None:
    script = Script().on("GET", ".*", status_error(401, "Unauthorized"))
    kube = wire.kube(script)
    with pytest.raises(ApiError) as raised:
        await kube.get(ROLLOUTS, "agents", "support-agent")
    assert (raised.value.status, raised.value.retriable) == (401, False)
    assert len(script.requests) == 2
    await kube.close()


async def test_lists_send_label_and_field_selectors() -> None:
    script = Script().on("GET", ".*", wire.ok({"items": [{"metadata": {"name": "a"}}]}))
    kube = wire.kube(script)
    items = await kube.list(ROLLOUTS, "agents", labels="x=y", fields={"spec.agent": "a=b"})
    assert items == [{"metadata": {"name": "a"}}]
    params = script.requests[0].url.params
    assert (params["labelSelector"], params["fieldSelector"]) == ("x=y", r"spec.agent=a\=b")
    await kube.close()


async def test_every_write_names_its_field_manager_and_reads_do_not() -> None:
    """The API server records the manager in managedFields: how the operator tells its
    own changes to a Rollout from a person's (docs/operator.md, "People's actions")."""
    script = Script()
    for method in ("GET", "POST", "PATCH"):
        script.on(method, ".*", wire.ok({"items": []}))
    kube = wire.kube(script)
    await kube.get(ROLLOUTS, "ns", "r")
    await kube.list(ROLLOUTS, "ns")
    await kube.create(ROLLOUTS, "ns", {})
    await kube.patch(ROLLOUTS, "ns", "r", {}, status=True)
    await kube.json_patch(ROLLOUTS, "ns", "r", [])
    managers = [(r.method, r.url.params.get("fieldManager")) for r in script.requests]
    assert managers == [
        ("GET", None),
        ("GET", None),
        ("POST", FIELD_MANAGER),
        ("PATCH", FIELD_MANAGER),
        ("PATCH", FIELD_MANAGER),
    ]
    await kube.close()
