"""What may import what (docs/architecture.md), checked on the source.

The layers, bottom up: `api` (the vocabulary and the models) → the pure core (`stats`,
`gates`, `canary`, and the controller's decision modules) → the adapters (HTTP clients)
→ the controller's shell (observe, write, apply, tell) → the CLI. A module may import
its own layer and the ones below, never above; the pure core imports no I/O at all.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "operator" / "agent_release"

# the controller's modules that decide, and are told and asked in plain values
DECISION = {"machine", "plan", "facts", "rollouts", "registry"}
# `files`, `manifests`, `taskresults` read a person's local files: no cluster, no network
PURE = {
    "api",
    "stats",
    "special",
    "summary",
    "gates",
    "canary",
    "taskresults",
    "manifests",
    "files",
}
IO_LIBRARIES = {"httpx", "kopf", "kubernetes", "prometheus_client", "socket", "asyncio"}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Modules `path` imports, absolute, relative imports resolved."""
    package = _module(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            stem = ".".join([*base, *([node.module] if node.module else [])])
            if node.module:  # `from . import x` imports x, not the package's contents
                found.add(stem)
            found |= {f"{stem}.{alias.name}" for alias in node.names}
    return found


GRAPH = {_module(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def _ours(name: str) -> list[str]:
    """`agent_release.x.y` -> ["x", "y"]; anything else -> []."""
    parts = name.split(".")
    return parts[1:] if parts[0] == "agent_release" else []


def _layer(module: str) -> str:
    parts = _ours(module)
    if not parts:
        return ""
    if parts[0] == "controller" and len(parts) > 1 and parts[1] in DECISION:
        return "decision"
    return parts[0]


def test_the_graph_is_read() -> None:
    """The checks below see real imports, so an empty graph cannot pass them."""
    assert "agent_release.controller.machine" in GRAPH
    assert "agent_release.controller.plan" in GRAPH["agent_release.controller.machine"]
    assert "httpx" in GRAPH["agent_release.adapters.kube"]


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _layer(m) in PURE | {"decision"}))
def test_the_pure_core_does_no_io(module: str) -> None:
    """Gates, statistics, canary analysis and the state machine: no clients, no I/O."""
    for name in GRAPH[module]:
        assert name.split(".")[0] not in IO_LIBRARIES, f"{module} imports {name}"
        layer = _layer(name)
        assert layer in {"", *PURE, "decision"}, f"{module} imports {name} ({layer})"


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _layer(m) == "api"))
def test_the_api_imports_only_itself(module: str) -> None:
    for name in GRAPH[module]:
        assert _layer(name) in {"", "api"}, f"{module} imports {name}"


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _layer(m) == "adapters"))
def test_adapters_know_nothing_of_the_controller_or_the_cli(module: str) -> None:
    for name in GRAPH[module]:
        assert _layer(name) not in {"controller", "decision", "cli", "gates", "importers"}, (
            f"{module} imports {name}"
        )


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _layer(m) != "cli"))
def test_nothing_but_the_cli_imports_the_cli(module: str) -> None:
    assert not any(_layer(name) == "cli" for name in GRAPH[module]), module


def test_the_cli_and_the_controller_share_the_vocabulary_not_each_other() -> None:
    """The people's request contract is in `api`; the CLI imports no controller module
    except the handlers it runs (`agent-release operator`)."""
    for module, names in GRAPH.items():
        if _layer(module) != "cli":
            continue
        controller = {n for n in names if _layer(n) in {"controller", "decision"}}
        assert controller <= {"agent_release.controller", "agent_release.controller.handlers"}, (
            f"{module} imports {controller}"
        )


@pytest.mark.parametrize("path", sorted((REPO / "benchmarks").glob("*.py")), ids=lambda p: p.name)
def test_benchmarks_never_import_tests(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            assert node.module.split(".")[0] != "tests", f"{path.name} imports {node.module}"
        if isinstance(node, ast.Import):
            assert all(a.name.split(".")[0] != "tests" for a in node.names), path.name
