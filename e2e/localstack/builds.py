"""Go builds of the upstream components, one ``go.mod`` per upstream under ``e2e/``.

Each upstream gets its own small module (``e2e/<name>/go.mod``) that requires the upstream at
the pinned version, names the programs with ``tool`` directives and repeats the upstream's
``replace`` directives; that keeps the four dependency graphs apart. The pin is the version
in that ``go.mod`` and nothing else: :func:`pinned_version` reads it from there.

Binaries go to ``<cache>/bin/<name>-<version>/``. A ``.build-stamp`` file in that folder
holds a digest of everything that shapes the output (``go.mod``, ``go.sum``, packages,
ldflags, toolchain); the build is skipped when the stamp matches, so a component is rebuilt
only when its pin or build recipe changes. Builds run one at a time with ``-p 2``: the
machine has two cores and the Kubernetes build alone takes most of the CI budget's first
half, so parallel builds would only thrash.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .paths import E2E_DIR, CacheLayout

STAMP_FILE = ".build-stamp"
BUILD_SETTINGS = {"GOFLAGS": "-mod=mod -buildvcs=false", "CGO_ENABLED": "0"}
"""``-mod=mod`` lets ``go`` complete ``go.sum`` from the proxy instead of failing;
``-buildvcs=false`` keeps the checkout's git state out of the binaries; ``CGO_ENABLED=0``
gives static binaries, as upstream releases are."""


class BuildError(RuntimeError):
    """A ``go`` command failed; the message carries the command and what to do."""


@dataclass(frozen=True)
class GoBuild:
    """How to build the programs of one upstream module.

    ``ldflags`` are templates: ``{version}`` is the pin as in ``go.mod`` (``v1.37.2``),
    ``{semver}`` the same without the ``v``, ``{major}``/``{minor}`` its first two numbers
    and ``{date}`` the build time (not part of the stamp).
    """

    name: str
    module: str
    binaries: Mapping[str, str]
    ldflags: tuple[str, ...] = ()
    toolchain: str = "local"
    folder: str | None = None
    """The ``e2e/`` folder of the module's ``go.mod``, when it is not ``name``."""

    @property
    def module_dir(self) -> Path:
        return E2E_DIR / (self.folder or self.name)


def _version_ldflags(*packages: str) -> tuple[str, ...]:
    """The ``-X`` flags Kubernetes' ``hack/lib/version.sh`` sets, for each version package."""
    flags: list[str] = []
    for package in packages:
        flags += [
            f"-X {package}.gitVersion={{version}}",
            f"-X {package}.gitMajor={{major}}",
            f"-X {package}.gitMinor={{minor}}",
            f"-X {package}.gitTreeState=archive",
            f"-X {package}.buildDate={{date}}",
        ]
    return tuple(flags)


ETCD = GoBuild(
    name="etcd",
    module="go.etcd.io/etcd/server/v3",
    binaries={"etcd": "go.etcd.io/etcd/server/v3"},
    ldflags=("-X go.etcd.io/etcd/api/v3/version.GitSHA={version}",),
)

KUBERNETES = GoBuild(
    name="kubernetes",
    module="k8s.io/kubernetes",
    binaries={
        "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
        "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
        "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
        "kubectl": "k8s.io/kubernetes/cmd/kubectl",
    },
    # client-go's copy makes `kubectl version` print the client version too.
    ldflags=_version_ldflags("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"),
)

KWOK = GoBuild(
    name="kwok",
    module="sigs.k8s.io/kwok",
    binaries={"kwok": "sigs.k8s.io/kwok/cmd/kwok"},
)

_ARGO_VERSION_LDFLAGS = (
    "-X github.com/argoproj/argo-rollouts/utils/version.version={semver}",
    "-X github.com/argoproj/argo-rollouts/utils/version.gitTag={version}",
    "-X github.com/argoproj/argo-rollouts/utils/version.gitTreeState=clean",
    "-X github.com/argoproj/argo-rollouts/utils/version.buildDate={date}",
)

ARGO_ROLLOUTS = GoBuild(
    name="argo-rollouts",
    module="github.com/argoproj/argo-rollouts",
    binaries={"rollouts-controller": "github.com/argoproj/argo-rollouts/cmd/rollouts-controller"},
    ldflags=_ARGO_VERSION_LDFLAGS,
    # v1.9.3's go.mod says `go 1.26.10`, newer than the machine's Go 1.26.8; go1.27.3 is the
    # toolchain the Go module proxy serves for that (fetched once into the module cache).
    toolchain="go1.27.3",
)

ARGO_ROLLOUTS_PLUGIN = GoBuild(
    name="kubectl-argo-rollouts",
    module=ARGO_ROLLOUTS.module,
    binaries={
        "kubectl-argo-rollouts": "github.com/argoproj/argo-rollouts/cmd/kubectl-argo-rollouts"
    },
    ldflags=_ARGO_VERSION_LDFLAGS,
    toolchain=ARGO_ROLLOUTS.toolchain,
    # The same go.mod, so the same pin as the controller. A build of its own (and a binary
    # folder of its own) because it is a person's tool, not a process of the stack: a
    # checkout that builds the controller by another recipe replaces the controller's
    # folder, and must not take the plugin away from a test that is using it.
    folder=ARGO_ROLLOUTS.name,
)

HELM = GoBuild(
    name="helm",
    module="helm.sh/helm/v3",
    binaries={"helm": "helm.sh/helm/v3/cmd/helm"},
    # As helm's Makefile does: its version, and the Kubernetes version `helm template`
    # assumes (the client-go it is built with, 1.37) instead of the 1.20 of `go build`.
    ldflags=(
        "-X helm.sh/helm/v3/internal/version.version={version}",
        "-X helm.sh/helm/v3/internal/version.gitTreeState=clean",
        "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1",
        "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37",
        "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1",
        "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37",
    ),
)

ALL_BUILDS = (ETCD, HELM, KUBERNETES, KWOK, ARGO_ROLLOUTS, ARGO_ROLLOUTS_PLUGIN)
"""In build order: quickest first, so a broken toolchain shows up within a minute."""


def pinned_version(build: GoBuild) -> str:
    """The version of ``build.module`` that ``e2e/<name>/go.mod`` requires."""
    gomod = (build.module_dir / "go.mod").read_text()
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(build.module)}\s+(v\S+)", gomod, re.M)
    if match is None:
        raise BuildError(f"{build.module_dir / 'go.mod'} does not require {build.module}")
    return match.group(1)


def go_env(cache: CacheLayout, build: GoBuild) -> dict[str, str]:
    """Environment for ``go`` commands on ``build``'s module: :data:`BUILD_SETTINGS`, the
    pinned toolchain and caches under the cache root (never in the tree)."""
    return {
        **os.environ,
        **BUILD_SETTINGS,
        "GOMODCACHE": str(cache.gomodcache),
        "GOCACHE": str(cache.gocache),
        "GOTOOLCHAIN": build.toolchain,
    }


def binary_dir(cache: CacheLayout, build: GoBuild) -> Path:
    return cache.bin_root / f"{build.name}-{pinned_version(build)}"


def _stamp(build: GoBuild) -> str:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((build.module_dir / name).read_bytes())
    recipe = [sorted(build.binaries.items()), build.ldflags, build.toolchain, BUILD_SETTINGS]
    digest.update(json.dumps(recipe).encode())
    return digest.hexdigest()


def is_built(cache: CacheLayout, build: GoBuild) -> bool:
    stamp = binary_dir(cache, build) / STAMP_FILE
    return stamp.is_file() and stamp.read_text().strip() == _stamp(build)


def _render_ldflags(build: GoBuild, version: str) -> str:
    semver = version.removeprefix("v")
    major, minor = semver.split(".")[:2]
    date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    values = {"version": version, "semver": semver, "major": major, "minor": minor, "date": date}
    return " ".join(["-s", "-w", *(flag.format(**values) for flag in build.ldflags)])


def _run_go(
    args: list[str], build: GoBuild, cache: CacheLayout
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["go", *args],
            cwd=build.module_dir,
            env=go_env(cache, build),
            check=True,
            text=True,
            stdout=subprocess.PIPE,
        )
    except FileNotFoundError as exc:
        raise BuildError("`go` is not on PATH; install Go 1.26 or newer") from exc
    except subprocess.CalledProcessError as exc:
        raise BuildError(
            f"`go {' '.join(args)}` failed in {build.module_dir} (exit {exc.returncode}); see the "
            "output above. A network error is worth a retry; a compile error is not."
        ) from exc


def ensure_built(cache: CacheLayout, build: GoBuild) -> Path:
    """Build ``build``'s binaries unless the stamped build for this pin exists; return the dir.

    Concurrent callers (two test sessions, say) serialise on a lock file; the build goes to
    a temporary folder that is renamed into place, so a killed build never leaves a folder
    that looks complete.
    """
    target = binary_dir(cache, build)
    cache.bin_root.mkdir(parents=True, exist_ok=True)
    with open(cache.bin_root / f".{build.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_built(cache, build):
            return target
        version = pinned_version(build)
        partial = target.with_name(f"{target.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        packages = list(build.binaries.values())
        # One package: -o names the file. Several: -o names a folder, and go names each
        # binary after its package's last path element (checked below).
        output = str(partial / next(iter(build.binaries))) if len(packages) == 1 else f"{partial}/"
        ldflags = _render_ldflags(build, version)
        print(
            f"localstack: building {build.name} {version} ({', '.join(build.binaries)})", flush=True
        )
        started = time.monotonic()
        _run_go(
            ["build", "-p", "2", "-trimpath", "-ldflags", ldflags, "-o", output, *packages],
            build,
            cache,
        )
        elapsed = time.monotonic() - started
        missing = [name for name in build.binaries if not (partial / name).is_file()]
        if missing:
            raise BuildError(
                f"go build of {build.name} produced no {', '.join(missing)} in {partial}"
            )
        (partial / STAMP_FILE).write_text(_stamp(build) + "\n")
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
        print(f"localstack: built {build.name} {version} in {elapsed:.0f}s -> {target}", flush=True)
        return target


def module_source(cache: CacheLayout, build: GoBuild) -> Path:
    """The upstream module's folder in the module cache (read-only), downloading it if needed.

    This is where the stack reads files that ship in the module zip: Argo Rollouts'
    ``manifests/crds`` and kwok's ``kustomize/stage`` and ``kustomize/rbac``.
    """
    done = _run_go(
        ["mod", "download", "-json", f"{build.module}@{pinned_version(build)}"], build, cache
    )
    directory = Path(json.loads(done.stdout)["Dir"])
    if not directory.is_dir():
        raise BuildError(f"module cache has no folder {directory} for {build.module}")
    return directory


def build_all(cache: CacheLayout) -> dict[str, Path]:
    """Build every component that is not built yet; return ``{component: binary dir}``."""
    return {build.name: ensure_built(cache, build) for build in ALL_BUILDS}
