"""A small async Kubernetes API client on httpx, with kopf's credentials.

Kopf brings its own API client for watching and for its own patches, but it is
internal; the official `kubernetes` client is synchronous and would block the event
loop. So the operator logs in once through kopf (kubeconfig or service account, see
`login`) and talks to the API with httpx: get, list, create, merge-patch, JSON patch and
the status subresource is all it needs. The CLI uses the same class.

`transport` is the seam for tests: an `httpx.MockTransport` stands in for the API
server's HTTP, and everything above it (paths, error mapping, the 401 re-login) is the
code that runs in production.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import kopf

from ..api.names import Resource

JSON = dict[str, Any]
Ops = list[JSON]  # a JSON Patch (aliased here: inside Kube, `list` is a method)


def field_selector(fields: Mapping[str, str]) -> str:
    """`a=x,b=y`, with the selector's own metacharacters escaped in values as the API
    server's parser expects (a model name may well contain `=` or `,`)."""

    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")

    return ",".join(f"{path}={escape(value)}" for path, value in fields.items())


class ApiError(Exception):
    """The API server refused or could not be reached; `retriable` says if trying again may help."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def retriable(self) -> bool:
        """0: unreachable or timed out; 409: a stale resourceVersion, read again; 429 and
        5xx: the server is busy. Anything else (400, 401 after a new login, 403, 404, 410,
        422) needs a change somewhere before the same request can succeed."""
        return self.status in (0, 409, 429) or self.status >= 500


class NotFound(ApiError):
    pass


class AlreadyExists(ApiError):
    pass


class Conflict(ApiError):
    """409 on a write with a resourceVersion precondition: the object changed meanwhile."""


def login() -> kopf.ConnectionInfo:
    """Credentials as kopf finds them: in-cluster service account, else kubeconfig."""
    settings = kopf.OperatorSettings()
    info = kopf.login_with_service_account(settings=settings) or kopf.login_with_kubeconfig(
        settings=settings
    )
    if info is None:
        raise ApiError(0, "NoCredentials", "no service account and no kubeconfig (set KUBECONFIG)")
    return info


CONNECTIONS = 16  # kept open to the API server (`Kube`)


class Kube:
    """Async access to the API server. One instance per process; close() at exit.

    A 401 logs in again once and retries: in-cluster ServiceAccount tokens are rotated
    by the kubelet, and a client that kept its first token would eventually be refused.

    Every write names `field_manager`, so the API server records it in the object's
    managedFields: that is how the operator tells its own changes to a Rollout from
    those of a person's tools (`names.FIELD_MANAGER`).

    The pool holds at most `CONNECTIONS`: httpcore checks every pooled connection for
    expiry on each request, which at two hundred canaries cost a seventh of the
    operator's CPU with the default hundred; reconciles are bounded by
    `Config.concurrent_reconciles` anyway, and a burst of rollbacks queues in the pool
    for milliseconds.
    """

    def __init__(
        self,
        info: kopf.ConnectionInfo,
        *,
        field_manager: str,
        timeout: float = 30.0,
        relogin: Callable[[], kopf.ConnectionInfo] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        on_request: Callable[[str], None] | None = None,
    ) -> None:
        self.default_namespace = info.default_namespace or "default"
        self.field_manager = field_manager
        self._on_request = on_request  # told each request's method, for the metrics
        self._timeout = timeout
        self._relogin = relogin or login
        self._transport = transport
        self._http = self._client(info)

    def _client(self, info: kopf.ConnectionInfo) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=info.server,
            verify=info.as_ssl_context(),
            headers={**info.as_http_headers(), "Accept": "application/json"},
            timeout=self._timeout,
            transport=self._transport,
            limits=httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS),
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def _send(
        self,
        method: str,
        path: str,
        content: str | None,
        headers: dict[str, str] | None,
        params: dict[str, str] | None,
    ) -> httpx.Response:
        if self._on_request is not None:
            self._on_request(method)
        response = await self._http.request(
            method, path, content=content, headers=headers, params=params
        )
        if response.status_code == 401:
            stale, self._http = self._http, self._client(self._relogin())
            await stale.aclose()
            response = await self._http.request(
                method, path, content=content, headers=headers, params=params
            )
        return response

    async def _call(
        self,
        method: str,
        path: str,
        body: JSON | Ops | None = None,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
    ) -> JSON:
        if method in ("POST", "PUT", "PATCH"):
            params = {**(params or {}), "fieldManager": self.field_manager}
        try:
            response = await self._send(
                method,
                path,
                None if body is None else json.dumps(body),
                {"Content-Type": content_type} if body is not None else None,
                params,
            )
        except httpx.HTTPError as error:
            raise ApiError(0, "Unreachable", f"{method} {path}: {error}") from error
        if response.status_code >= 400:
            try:
                status = response.json()
                reason, message = status.get("reason", ""), status.get("message", response.text)
            except ValueError:
                reason, message = response.reason_phrase, response.text
            kind: type[ApiError] = ApiError
            if response.status_code == 404:
                kind = NotFound
            elif response.status_code == 409:
                kind = AlreadyExists if reason == "AlreadyExists" else Conflict
            raise kind(response.status_code, reason, message)
        result: JSON = response.json()
        return result

    async def get(self, resource: Resource, namespace: str | None, name: str) -> JSON | None:
        try:
            return await self._call("GET", resource.path(namespace, name))
        except NotFound:
            return None

    async def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        labels: str | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> list[JSON]:
        """Objects of a resource; `fields` are equality field selectors (for custom
        resources, on the CRD's selectableFields), ANDed."""
        params = {}
        if labels:
            params["labelSelector"] = labels
        if fields:
            params["fieldSelector"] = field_selector(fields)
        body = await self._call("GET", resource.path(namespace), params=params or None)
        items: list[JSON] = body.get("items", [])
        return items

    async def create(self, resource: Resource, namespace: str | None, body: JSON) -> JSON:
        return await self._call("POST", resource.path(namespace), body)

    async def replace(
        self, resource: Resource, namespace: str | None, name: str, body: JSON
    ) -> JSON:
        """PUT the whole object; its `metadata.resourceVersion` makes it conditional (409)."""
        return await self._call("PUT", resource.path(namespace, name), body)

    async def json_patch(
        self, resource: Resource, namespace: str | None, name: str, ops: Ops
    ) -> JSON:
        """An RFC 6902 JSON Patch (a failed `test` op is a 422, not a conflict)."""
        return await self._call(
            "PATCH",
            resource.path(namespace, name),
            ops,
            content_type="application/json-patch+json",
        )

    async def patch(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        body: JSON,
        *,
        status: bool = False,
    ) -> JSON:
        """A JSON merge patch; `status=True` targets the status subresource.

        Put `metadata.resourceVersion` in the body to make it conditional: a concurrent
        change then fails with a retriable 409 instead of being overwritten.
        """
        return await self._call(
            "PATCH",
            resource.path(namespace, name, "status" if status else ""),
            body,
            content_type="application/merge-patch+json",
        )
