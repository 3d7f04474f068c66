"""The package's import graph, read from the source with ``ast``: no module imports itself
through others, the folders of the package depend on each other in one direction only, and
the NumPy spec (``rnnrs.reference``) imports nothing else from rnnrs.

Every import counts, also one inside a function: a lazy import is a dependency all the same.
Importing ``rnnrs.a.b`` also runs ``rnnrs/a/__init__.py``; those files hold only a docstring
(checked below), so the edges read here are all the package's imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rnnrs

PACKAGE = Path(rnnrs.__file__).parent


def _modules() -> dict[str, Path]:
    """Dotted name -> source file of every module of the package."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ["rnnrs", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()
PACKAGES = {name for name, path in MODULES.items() if path.name == "__init__.py"}
# The compiled core has only a stub here (_core.pyi): an import target, never an importer.
TARGETS = {*MODULES, "rnnrs._core"}


def _imports(name: str) -> set[str]:
    """The modules of the package that ``name`` imports (anywhere in its source)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:  # "from pkg import module" imports the module
                sub = f"{source}.{alias.name}"
                found.add(sub if sub in TARGETS else source)
    return {m for m in found if m in MODULES}


GRAPH = {name: _imports(name) for name in MODULES}


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of ``graph`` as a list of nodes (first == last), or [] when it has none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def _folder(name: str) -> str:
    """The folder a module belongs to (``rnnrs.nn.recurrent`` -> ``rnnrs.nn``); a module at
    the top of the package (``rnnrs.errors``, ``rnnrs.cli``) is a node of its own."""
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 or name in PACKAGES else name


def test_the_walk_sees_the_whole_package() -> None:
    expected = {"rnnrs", "rnnrs.nn.recurrent", "rnnrs.models.registry", "rnnrs.reference.cells"}
    assert expected <= set(MODULES)
    assert "rnnrs.nn.config" in GRAPH["rnnrs.nn.recurrent"]
    # "from .. import _core" names the compiled module, not the package's __init__
    assert "rnnrs" not in GRAPH["rnnrs.backends.selection"]


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_no_module_imports_itself_through_others() -> None:
    assert _cycle(GRAPH) == []


def test_the_folders_depend_on_each_other_in_one_direction() -> None:
    folders: dict[str, set[str]] = {}
    for name, targets in GRAPH.items():
        edges = folders.setdefault(_folder(name), set())
        edges.update(_folder(t) for t in targets if _folder(t) != _folder(name))
    assert _cycle(folders) == []


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("rnnrs.reference")))
def test_the_reference_imports_nothing_else_from_rnnrs(name: str) -> None:
    outside = {m for m in GRAPH[name] if not m.startswith("rnnrs.reference")}
    assert outside == set(), f"{name} imports {sorted(outside)}"


@pytest.mark.parametrize("name", sorted(PACKAGES - {"rnnrs"}))
def test_folder_init_files_hold_only_a_docstring(name: str) -> None:
    body = ast.parse(MODULES[name].read_text(encoding="utf-8")).body
    assert len(body) == 1 and isinstance(body[0], ast.Expr), f"{name} runs code on import"
