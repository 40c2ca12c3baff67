"""Where the local stack keeps things: everything outside the git tree.

Two roots, both overridable from the environment:

* the cache, ``AGENT_RELEASE_CACHE_DIR`` (default ``${XDG_CACHE_HOME:-~/.cache}/agent-release``,
  the same folder as the Makefile's ``CACHE_DIR``): Go module and build caches and the built
  binaries, one folder per component and pinned version. Kept by ``down``.
* the stack state, ``AGENT_RELEASE_STACK_DIR`` (default ``<cache>/stack``): certificates,
  kubeconfigs, data directories, logs and ``state.json``. One running stack per state directory;
  several state directories can run side by side since every port is chosen at start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The checkout this package lives in (``e2e/localstack`` is two levels below it)."""

E2E_DIR = REPO_ROOT / "e2e"


def default_cache_dir() -> Path:
    """``AGENT_RELEASE_CACHE_DIR``, else ``${XDG_CACHE_HOME:-~/.cache}/agent-release``."""
    explicit = os.environ.get("AGENT_RELEASE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "agent-release"


@dataclass(frozen=True)
class CacheLayout:
    """Folders under the cache root that the builds use."""

    root: Path

    @classmethod
    def from_env(cls) -> CacheLayout:
        return cls(default_cache_dir())

    @property
    def bin_root(self) -> Path:
        return self.root / "bin"

    @property
    def gomodcache(self) -> Path:
        return self.root / "go" / "mod"

    @property
    def gocache(self) -> Path:
        return self.root / "go" / "build"


def default_stack_dir(cache: CacheLayout) -> Path:
    """``AGENT_RELEASE_STACK_DIR``, else ``<cache>/stack``."""
    explicit = os.environ.get("AGENT_RELEASE_STACK_DIR")
    return Path(explicit) if explicit else cache.root / "stack"


@dataclass(frozen=True)
class StackLayout:
    """Files of one stack instance, all below ``root``."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def kubeconfigs(self) -> Path:
        return self.root / "kubeconfigs"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def data(self) -> Path:
        """Per-component data directories (etcd, Prometheus TSDB) and generated configs."""
        return self.root / "data"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def env_file(self) -> Path:
        return self.root / "env"

    @property
    def ca_cert(self) -> Path:
        return self.pki / "ca.crt"

    def kubeconfig(self, user: str) -> Path:
        return self.kubeconfigs / f"{user}.kubeconfig"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def cert(self, name: str) -> Path:
        return self.pki / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.pki / f"{name}.key"
