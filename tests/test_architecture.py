"""The layout is the architecture (STYLE.md): no import cycle anywhere in our packages, and each
package imports only what its layer may. Imports are read with `ast`, so nothing is executed;
imports inside functions count (a deferred import is still a dependency), imports under
`if TYPE_CHECKING:` do not (they never run)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("qbank", "irt_models", "ingestion", "serving_api", "orchestration", "demo", "bench")

# What each package may import of ours (STYLE.md, "Who may import whom").
ALLOWED = {
    "irt_models": set(),
    "qbank": set(),
    "ingestion": {"qbank"},
    "serving_api": {"qbank", "ingestion", "irt_models"},
    "orchestration": {"qbank", "ingestion", "irt_models"},
}
# irt_models is pure numerics: the standard library plus these.
IRT_THIRD_PARTY = {"numpy", "scipy", "pandas"}


def module_files() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except the bodies of `if TYPE_CHECKING:` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def imported_names(name: str, path: Path) -> set[str]:
    """Fully qualified names this module imports (modules, or module.attribute)."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base if is_pkg else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{alias.name}" for alias in node.names)
    return out


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        deps = {n for n in imported_names(name, path) if n in files and n != name}
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_our_packages() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" ↔ ".join(c) for c in found)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_its_layers(package: str) -> None:
    files = module_files()
    wrong = set()
    for name, path in files.items():
        if name.split(".")[0] != package:
            continue
        for imp in imported_names(name, path):
            top = imp.split(".")[0]
            if top in PACKAGES and top != package and top not in ALLOWED[package]:
                wrong.add(f"{name} imports {imp}")
    assert not wrong, "\n".join(sorted(wrong))


def test_irt_models_is_pure_numerics() -> None:
    import sys

    files = module_files()
    outside = set()
    for name, path in files.items():
        if not name.startswith("irt_models"):
            continue
        for imp in imported_names(name, path):
            top = imp.split(".")[0]
            if top and top not in sys.stdlib_module_names | IRT_THIRD_PARTY | {
                "irt_models",
                "__future__",
            }:
                outside.add(f"{name} imports {imp}")
    assert not outside, "\n".join(sorted(outside))
