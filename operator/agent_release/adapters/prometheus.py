"""Async Prometheus HTTP API client (range queries), on httpx.

prometheus-api-client is synchronous (requests) and would stall the operator's event
loop during a slow query, so it is not used here. A failure of any kind — refused
connection, timeout, HTTP error, an error status in the body — is a
`PrometheusUnavailable`: the caller counts it toward `metricsUnavailable` and never
mistakes it for a metric breach.
"""

from __future__ import annotations

import ssl
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from ..canary.queries import Points, QueryResultError, SeriesKey, parse_matrix, parse_vector


class PrometheusUnavailable(Exception):
    """Prometheus could not answer; retrying at the next analysis interval may help."""


class Prometheus:
    """TLS is verified (against `ca_file` when given). A bearer token, when the
    Prometheus needs one, is read from `token_file` at every request, so a rotated
    token is picked up. Messages name the server without any credentials in its URL.
    `transport` is the seam for tests (an `httpx.MockTransport`)."""

    def __init__(
        self,
        url: str,
        *,
        ca_file: str | None = None,
        token_file: str | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        verify: ssl.SSLContext | bool = True
        if ca_file:
            verify = ssl.create_default_context(cafile=ca_file)
        parts = urlsplit(url)
        host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        self.url = urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))
        self._token_file = token_file
        self._http = httpx.AsyncClient(
            base_url=url.rstrip("/"), verify=verify, timeout=timeout, transport=transport
        )
        self.last_latency = 0.0

    def _headers(self) -> dict[str, str]:
        if not self._token_file:
            return {}
        try:
            token = Path(self._token_file).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise PrometheusUnavailable(f"cannot read the Prometheus token: {error}") from None
        return {"Authorization": f"Bearer {token}"}

    async def close(self) -> None:
        await self._http.aclose()

    async def query_range(
        self, expr: str, start: float, end: float, step: float
    ) -> dict[SeriesKey, Points]:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}s"}
        body = await self._post("/api/v1/query_range", params)
        try:
            return parse_matrix(body)
        except QueryResultError as error:
            raise PrometheusUnavailable(f"{self.url}: {error}") from error

    async def query(self, expr: str, at: float) -> dict[SeriesKey, float]:
        """An instant query at `at`, its vector keyed like a range query's series."""
        body = await self._post("/api/v1/query", {"query": expr, "time": f"{at:.3f}"})
        try:
            return parse_vector(body)
        except QueryResultError as error:
            raise PrometheusUnavailable(f"{self.url}: {error}") from error

    async def _post(self, path: str, params: dict[str, str]) -> Any:
        began = time.perf_counter()
        try:
            response = await self._http.post(path, data=params, headers=self._headers())
            body: Any = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise PrometheusUnavailable(f"{self.url}: {type(error).__name__}: {error}") from error
        finally:
            self.last_latency = time.perf_counter() - began
        if response.status_code >= 400 and not isinstance(body, dict):
            raise PrometheusUnavailable(f"{self.url}: HTTP {response.status_code}")
        return body
