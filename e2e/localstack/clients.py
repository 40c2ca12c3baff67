"""Clients of a running stack, for its bootstrap and for tests.

:class:`Kubectl` runs the stack's own kubectl binary (what a person would type);
:class:`Prometheus` runs PromQL queries with TLS verified against the stack CA.
"""

from __future__ import annotations

import json
import ssl
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml


class KubectlError(RuntimeError):
    """kubectl exited non-zero; ``stderr`` holds its message (e.g. the API server's denial)."""

    def __init__(self, args: tuple[str, ...], returncode: int, stderr: str) -> None:
        super().__init__(f"`kubectl {' '.join(args)}` failed ({returncode}): {stderr.strip()}")
        self.returncode = returncode
        self.stderr = stderr


@dataclass(frozen=True)
class Kubectl:
    """``kubectl --kubeconfig=<kubeconfig> ...`` with the stack's binary."""

    binary: Path
    kubeconfig: Path

    def run(self, *args: str, stdin: str | None = None) -> str:
        """Run ``kubectl args``; return stdout or raise :class:`KubectlError`."""
        argv = [str(self.binary), f"--kubeconfig={self.kubeconfig}", *args]
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise KubectlError(args, done.returncode, done.stderr)
        return done.stdout

    def json(self, *args: str) -> Any:
        """``kubectl args -o json``, parsed."""
        return json.loads(self.run(*args, "-o", "json"))

    def apply(self, objects: Iterable[Mapping[str, Any]], *args: str) -> str:
        """Server-side apply ``objects`` (as the ``localstack`` field manager)."""
        manifest = yaml.safe_dump_all(list(objects), sort_keys=False)
        return self.run(
            "apply", "--server-side", "--field-manager=localstack", *args, "-f", "-", stdin=manifest
        )


class Prometheus:
    """Instant PromQL queries against the stack's Prometheus."""

    def __init__(self, url: str, ca_file: Path) -> None:
        tls = ssl.create_default_context(cafile=str(ca_file))
        self._client = httpx.Client(base_url=url, verify=tls, timeout=10)

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """The ``result`` list of ``/api/v1/query`` (a vector, or a matrix for ``x[5m]``)."""
        params = {"query": promql} | ({"time": f"{at:.3f}"} if at is not None else {})
        response = self._client.get("/api/v1/query", params=params)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result

    def close(self) -> None:
        self._client.close()
