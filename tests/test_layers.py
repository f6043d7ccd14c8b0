"""The import graph: no module imports a higher layer, peers stay apart, and no imports run in a circle.

The layers are the README's ("Layout"); this test is where they are enforced.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("schemas", "storage", "streams")

# Lowest first. A module may import its own layer's package and anything below, never above; modules of
# two different packages in one layer never import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("schemas",),
    ("storage",),
    (
        "streams.settings",
        "streams.logs",
        "streams.metrics",
        "streams.retry",
        "streams.failures",
        "streams.recent",
        "streams.tracing",
    ),
    ("streams.kafka",),
    ("streams.commands", "streams.callbacks", "streams.batches"),
    ("streams.worker", "streams.poller", "streams.api", "streams.client"),
    ("streams.devtools",),
    ("streams.cli",),
)


def _package(module: str) -> tuple[int, str]:
    """(layer, package) of a module: the longest layer entry it falls under."""
    matches = [
        (len(entry), rank, entry)
        for rank, entries in enumerate(LAYERS)
        for entry in entries
        if module == entry or module.startswith(entry + ".")
    ]
    if not matches:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS and to the README's layout")
    _, rank, entry = max(matches)
    return rank, entry


def _modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def _imports(path: Path) -> set[str]:
    """Every project module this file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] in PACKAGES and name not in PACKAGES}


# The three top-level packages' own __init__ modules are empty namespaces, in no layer.
GRAPH = {module: _imports(path) for module, path in _modules() if module not in PACKAGES}
MODULES = set(GRAPH)
EDGES = [(module, target) for module, targets in GRAPH.items() for target in targets if target in MODULES]


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        _package(module)


@pytest.mark.parametrize("importer", sorted(MODULES))
def test_no_import_runs_up_or_across(importer: str) -> None:
    rank, package = _package(importer)
    wrong = []
    for target in sorted(GRAPH[importer] & MODULES):
        target_rank, target_package = _package(target)
        if target_rank > rank or (target_rank == rank and target_package != package):
            wrong.append(f"{importer} ({package}) imports {target} ({target_package})")
    assert not wrong, "\n".join(wrong)


def test_no_circular_imports() -> None:
    """Tarjan's strongly connected components over module imports; any component of two is a circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in GRAPH[module] & MODULES:
            if target == module:
                continue
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(MODULES):
        if module not in index:
            visit(module)
    assert not circles, circles
