"""The import graph of a source tree, read with ``ast`` (nothing is imported): which module imports which,
function-level imports included, ``if TYPE_CHECKING:`` blocks left out (they never run)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, except the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def imported_names(source: str, module: str, is_package: bool) -> set[str]:
    """Dotted names a module imports (``from a import b`` gives ``a.b``; the caller decides if it is a module)."""
    names: set[str] = set()
    for node in _runtime_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, base] if base else package)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """{module: modules of ``packages`` it imports}, over the ``.py`` files of those packages under ``root``."""
    files = {module_name(root, p): p for package in packages for p in (root / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in sorted(files.items()):
        found = imported_names(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")
        # "from a import b" names module a.b where it exists, else a itself
        graph[module] = {n for n in found if n in files and n != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted, in a stable order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def crossings(graph: dict[str, set[str]], source: str, forbidden: str) -> list[str]:
    """Imports from package ``source`` into package ``forbidden``, as "importer -> imported"."""
    inside = lambda name, package: name == package or name.startswith(package + ".")  # noqa: E731
    return sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if inside(module, source)
        for target in targets
        if inside(target, forbidden)
    )
