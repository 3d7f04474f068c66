"""The spec and the fast code name each other: every public function and class of the NumPy
reference names its Rust counterpart, and the table of docs/equations.md names specs, Rust
files and tests that exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import rnnrs

PACKAGE = Path(rnnrs.__file__).parent
ROOT = Path(__file__).resolve().parents[1]
REFERENCE = sorted(p for p in (PACKAGE / "reference").glob("*.py") if p.name != "__init__.py")


def _public_defs(path: Path) -> dict[str, ast.AST]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        n.name: n
        for n in tree.body
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_")
    }


def _table() -> list[list[str]]:
    text = (ROOT / "docs" / "equations.md").read_text(encoding="utf-8")
    section = text.split("## Spec and fast code, side by side", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][2:]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


@pytest.mark.parametrize("path", REFERENCE, ids=lambda p: p.name)
def test_every_reference_function_names_its_rust_counterpart(path: Path) -> None:
    # A spec written before its Rust kernel says so once, in its module docstring.
    module_doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    if "Rust: none yet" in module_doc:
        return
    missing = [
        name
        for name, node in _public_defs(path).items()
        if not re.search(r"Rust: .*src/\w+", ast.get_docstring(node) or "", re.DOTALL)
    ]
    assert missing == [], f"{path.name}: no 'Rust: src/...' line in {missing}"


def test_the_rust_files_named_exist() -> None:
    texts = [p.read_text(encoding="utf-8") for p in REFERENCE]
    texts.append((ROOT / "docs" / "equations.md").read_text(encoding="utf-8"))
    named = {m.rstrip("/.") for text in texts for m in re.findall(r"src/[\w/]+(?:\.rs)?", text)}
    assert len(named) > 20
    assert sorted(p for p in named if not (ROOT / p).exists()) == []


def test_the_table_has_a_row_per_kernel() -> None:
    rows = _table()
    assert len(rows) >= 20 and all(len(row) == 4 for row in rows)
    assert all("src/" in rust for _, _, rust, _ in rows)


@pytest.mark.parametrize("row", _table(), ids=lambda row: row[0])
def test_the_table_names_specs_and_tests_that_exist(row: list[str]) -> None:
    _, spec, _, tests = row
    # "`cells.py::rnn_forward`, `rnn_backward`": names after the first belong to its file
    module = None
    for ref in re.findall(r"`([^`]+)`", spec):
        if "::" in ref:
            module, ref = ref.split("::")
        assert module is not None, spec
        path = PACKAGE / "reference" / module  # else a path from the package's top
        if not path.exists():
            path = PACKAGE / module
        name = ref.split(".")[0].split(" ")[0]
        assert name in _public_defs(path), f"{module}::{name}"
    named = re.findall(r"`(test_\w+\.py)::(test_\w+)`", tests)
    assert named or tests == "as above" or tests.startswith("through"), tests
    for file, test in named:
        source = (ROOT / "tests" / file).read_text(encoding="utf-8")
        assert f"def {test}(" in source, f"{file}::{test}"
