"""A small async Kubernetes API client on httpx, with kopf's credentials.

Kopf brings its own API client for watching and for its own patches, but it is
internal; the official `kubernetes` client is synchronous and would block the event
loop. So the operator logs in once through kopf (kubeconfig or service account,
see `connect`) and talks to the API with httpx: get, list, create, merge-patch and
the status subresource is all it needs. The CLI uses the same class.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import kopf

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
        # 409 Conflict: a stale resourceVersion, read again; 429 and 5xx: the server is busy.
        return self.status in (0, 409, 429) or self.status >= 500


class NotFound(ApiError):
    pass


class AlreadyExists(ApiError):
    pass


@dataclass(frozen=True, slots=True)
class Resource:
    """An API resource: group ('' for core), version, plural; namespaced or not."""

    group: str
    version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None, sub: str = "") -> str:
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace)}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name)}"
        if sub:
            base += f"/{sub}"
        return base


AGENTRELEASES = Resource("agentrelease.dev", "v1alpha1", "agentreleases")
EVALREPORTS = Resource("agentrelease.dev", "v1alpha1", "evalreports")
RELEASEPOLICIES = Resource("agentrelease.dev", "v1alpha1", "releasepolicies", namespaced=False)
ROLLOUTS = Resource("argoproj.io", "v1alpha1", "rollouts")
REPLICASETS = Resource("apps", "v1", "replicasets")
EVENTS = Resource("", "v1", "events")
SELF_SUBJECT_REVIEWS = Resource(
    "authentication.k8s.io", "v1", "selfsubjectreviews", namespaced=False
)


def login() -> kopf.ConnectionInfo:
    """Credentials as kopf finds them: in-cluster service account, else kubeconfig."""
    settings = kopf.OperatorSettings()
    info = kopf.login_with_service_account(settings=settings) or kopf.login_with_kubeconfig(
        settings=settings
    )
    if info is None:
        raise ApiError(0, "NoCredentials", "no service account and no kubeconfig (set KUBECONFIG)")
    return info


class Kube:
    """Async access to the API server. One instance per process; close() at exit.

    A 401 logs in again once and retries: in-cluster ServiceAccount tokens are rotated
    by the kubelet, and a client that kept its first token would eventually be refused.
    """

    def __init__(self, info: kopf.ConnectionInfo, timeout: float = 30.0) -> None:
        self.default_namespace = info.default_namespace or "default"
        self._timeout = timeout
        self._http = self._client(info)

    def _client(self, info: kopf.ConnectionInfo) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=info.server,
            verify=info.as_ssl_context(),
            headers={**info.as_http_headers(), "Accept": "application/json"},
            timeout=self._timeout,
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
        response = await self._http.request(
            method, path, content=content, headers=headers, params=params
        )
        if response.status_code == 401:
            stale, self._http = self._http, self._client(login())
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
            elif response.status_code == 409 and reason == "AlreadyExists":
                kind = AlreadyExists
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
