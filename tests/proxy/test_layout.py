"""The proxy's parts import only downwards: a layer never imports one above it."""

from __future__ import annotations

import ast
from pathlib import Path

import tokenway.proxy

ROOT = Path(tokenway.proxy.__file__).parent

# Lowest first. A module may import its own part and the parts of lower layers.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"config", "echo", "json_depth", "usage"}),  # values and rules
    frozenset({"models"}),  # the served deployments
    frozenset({"errors", "accounting", "cors"}),  # errors on the wire; who pays
    frozenset({"auth", "services", "pipeline"}),  # callers; the store; the request steps
    frozenset({"admin", "observability", "served"}),  # management; request log, metrics; models
    frozenset({"endpoints", "ui"}),  # the model endpoints, health, OpenAPI; the admin UI
    frozenset({"app", "app_parts", "supervisor"}),
    frozenset({"serve"}),
)
LEVEL = {part: level for level, parts in enumerate(LAYERS) for part in parts}


def _part(module: str) -> str:
    """``tokenway.proxy.pipeline.relay`` → ``pipeline``."""
    return module.split(".")[2]


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "tokenway.proxy":
                found.update(f"tokenway.proxy.{alias.name}" for alias in node.names)
            elif node.module.startswith("tokenway.proxy."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("tokenway.proxy."))
    return found


def test_every_part_has_a_layer() -> None:
    parts = {p.stem if p.is_file() else p.name for p in ROOT.iterdir()}
    parts -= {"__init__", "__pycache__", "py"}
    assert parts == set(LEVEL)


def test_no_part_imports_a_higher_layer() -> None:
    upward = []
    for path in ROOT.rglob("*.py"):
        own = path.relative_to(ROOT).parts[0].removesuffix(".py")
        if own == "__init__":
            continue
        for module in _imports(path):
            if LEVEL[_part(module)] > LEVEL[own]:
                upward.append(f"{path.relative_to(ROOT)} imports {module}")
    assert upward == []
