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
from typing import Any

import httpx

from ..canary.queries import Points, QueryResultError, SeriesKey, parse_matrix


class PrometheusUnavailable(Exception):
    """Prometheus could not answer; retrying at the next analysis interval may help."""


class Prometheus:
    def __init__(self, url: str, *, ca_file: str | None = None, timeout: float = 10.0) -> None:
        verify: ssl.SSLContext | bool = True
        if ca_file:
            verify = ssl.create_default_context(cafile=ca_file)
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.url, verify=verify, timeout=timeout)
        self.last_latency = 0.0

    async def close(self) -> None:
        await self._http.aclose()

    async def query_range(
        self, expr: str, start: float, end: float, step: float
    ) -> dict[SeriesKey, Points]:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}s"}
        began = time.perf_counter()
        try:
            response = await self._http.post("/api/v1/query_range", data=params)
            body: Any = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise PrometheusUnavailable(f"{self.url}: {type(error).__name__}: {error}") from error
        finally:
            self.last_latency = time.perf_counter() - began
        if response.status_code >= 400 and not isinstance(body, dict):
            raise PrometheusUnavailable(f"{self.url}: HTTP {response.status_code}")
        try:
            return parse_matrix(body)
        except QueryResultError as error:
            raise PrometheusUnavailable(f"{self.url}: {error}") from error
