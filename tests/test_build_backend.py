"""The in-tree build backend (build_backend/rnnrs_build): which wheel it chooses, and the
pure-Python wheels it writes itself. The maturin path and installing the wheels into fresh
virtualenvs are checked by scripts/check_wheels.sh."""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib
import io
import stat
import sys
import zipfile
from email.parser import Parser
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
DIST_INFO = "rnnrs-0.1.0.dist-info"


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The backend module, run from the source tree as frontends do, with no switch set."""
    monkeypatch.syspath_prepend(str(ROOT / "build_backend"))
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("RNNRS_PURE_PYTHON", raising=False)
    return importlib.import_module("rnnrs_build")


def set_path(monkeypatch: pytest.MonkeyPatch, folder: Path, with_cargo: bool) -> None:
    """PATH = one folder, holding a `cargo` executable or not."""
    if with_cargo:
        cargo = folder / "cargo"
        cargo.write_text("#!/bin/sh\n")
        cargo.chmod(cargo.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(folder))


def project_table() -> dict[str, Any]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def wheel_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as wheel:
        return {name: wheel.read(name) for name in wheel.namelist()}


def check_record(members: dict[str, bytes]) -> None:
    """RECORD lists every other member with its true sha256 and size, and itself bare."""
    rows = list(csv.reader(io.StringIO(members[f"{DIST_INFO}/RECORD"].decode())))
    assert sorted(r[0] for r in rows) == sorted(members)
    for name, digest, size in rows:
        if name == f"{DIST_INFO}/RECORD":
            assert (digest, size) == ("", "")
            continue
        data = members[name]
        expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        assert digest == f"sha256={expected.decode()}", name
        assert int(size) == len(data), name


def check_dist_info(members: dict[str, bytes]) -> None:
    """Metadata from pyproject.toml, the console script and the license text."""
    table = project_table()
    meta = Parser().parsestr(members[f"{DIST_INFO}/METADATA"].decode())
    assert meta["Name"] == "rnnrs" and meta["Version"] == table["version"]
    assert meta["License-Expression"] == "MIT" and meta["License-File"] == "LICENSE"
    assert meta["Requires-Python"] == table["requires-python"]
    assert meta.get_all("Classifier") == table["classifiers"]
    extras = dict(sorted(table["optional-dependencies"].items()))  # as maturin orders them
    in_extras = [f"{r} ; extra == '{name}'" for name, reqs in extras.items() for r in reqs]
    assert meta.get_all("Requires-Dist") == table["dependencies"] + in_extras
    assert meta.get_all("Provides-Extra") == list(extras) and "dask" in extras
    assert meta.get_payload() == (ROOT / "README.md").read_text(encoding="utf-8") + "\n"
    entry_points = members[f"{DIST_INFO}/entry_points.txt"].decode()
    assert entry_points == "[console_scripts]\nrnnrs=rnnrs.cli:main\n"
    assert members[f"{DIST_INFO}/licenses/LICENSE"] == (ROOT / "LICENSE").read_bytes()
    assert b"Tag: py3-none-any\n" in members[f"{DIST_INFO}/WHEEL"]
    assert b"Root-Is-Purelib: true\n" in members[f"{DIST_INFO}/WHEEL"]


def test_cargo_on_path_chooses_maturin(
    backend: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    set_path(monkeypatch, tmp_path, with_cargo=True)
    assert backend.get_requires_for_build_wheel() == [backend.MATURIN_REQUIREMENT]
    assert backend.get_requires_for_build_editable() == [backend.MATURIN_REQUIREMENT]
    monkeypatch.setenv("RNNRS_PURE_PYTHON", "1")
    assert backend.MATURIN_REQUIREMENT not in backend.get_requires_for_build_wheel()


def test_without_cargo_the_pure_wheel_needs_no_maturin(
    backend: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    set_path(monkeypatch, tmp_path, with_cargo=False)
    expected = [] if sys.version_info >= (3, 11) else ["tomli>=1.1"]
    assert backend.get_requires_for_build_wheel() == expected


def test_switch_refuses_unknown_values_and_rust_without_cargo(
    backend: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    set_path(monkeypatch, tmp_path, with_cargo=False)
    monkeypatch.setenv("RNNRS_PURE_PYTHON", "yes")
    with pytest.raises(ValueError, match=r"must be 1 \(pure-Python wheel\) or 0"):
        backend.get_requires_for_build_wheel()
    monkeypatch.setenv("RNNRS_PURE_PYTHON", "0")
    with pytest.raises(RuntimeError, match="cargo is not on PATH"):
        backend.get_requires_for_build_wheel()


def test_sdist_without_cargo_says_to_build_the_wheel_directly(
    backend: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    set_path(monkeypatch, tmp_path, with_cargo=False)
    with pytest.raises(RuntimeError, match="python -m build --wheel"):
        backend.build_sdist(str(tmp_path))


def test_pure_wheel_holds_the_package_and_its_metadata(
    backend: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    set_path(monkeypatch, tmp_path, with_cargo=False)
    name = backend.build_wheel(str(tmp_path))
    assert name == "rnnrs-0.1.0-py3-none-any.whl"
    assert "WARNING: cargo (the Rust toolchain) is not on PATH" in capsys.readouterr().err
    members = wheel_members(tmp_path / name)
    check_record(members)
    check_dist_info(members)
    sources = ROOT / "python"
    expected = {
        p.relative_to(sources).as_posix()
        for p in (sources / "rnnrs").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".so", ".pyc")
    }
    assert {n for n in members if not n.startswith(DIST_INFO)} == expected
    assert {"rnnrs/py.typed", "rnnrs/_core.pyi", "rnnrs/backends/numpy_rnnlm.py"} <= expected
    assert members["rnnrs/cli.py"] == (sources / "rnnrs" / "cli.py").read_bytes()


def test_explicit_switch_builds_pure_even_with_cargo(
    backend: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    set_path(monkeypatch, tmp_path, with_cargo=True)
    monkeypatch.setenv("RNNRS_PURE_PYTHON", "1")
    assert backend.build_wheel(str(tmp_path)).endswith("-py3-none-any.whl")
    err = capsys.readouterr().err
    assert "RNNRS_PURE_PYTHON=1: building the pure-Python wheel" in err
    assert "WARNING" not in err


def test_pure_editable_wheel_points_at_the_sources(
    backend: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    set_path(monkeypatch, tmp_path, with_cargo=False)
    members = wheel_members(tmp_path / backend.build_editable(str(tmp_path)))
    check_record(members)
    check_dist_info(members)
    assert members["rnnrs.pth"].decode() == f"{ROOT / 'python'}\n"
    assert not any(n.startswith("rnnrs/") for n in members)


def test_prepared_metadata_is_the_wheel_dist_info(
    backend: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    set_path(monkeypatch, tmp_path, with_cargo=False)
    prepared = tmp_path / "metadata"
    prepared.mkdir()
    assert backend.prepare_metadata_for_build_wheel(str(prepared)) == DIST_INFO
    members = wheel_members(tmp_path / backend.build_wheel(str(tmp_path)))
    written = {
        p.relative_to(prepared).as_posix(): p.read_bytes()
        for p in prepared.rglob("*")
        if p.is_file()
    }
    in_wheel = {n: d for n, d in members.items() if n.startswith(DIST_INFO) and "RECORD" not in n}
    assert written == in_wheel


def synthetic_project(tmp_path: Path, project: str) -> Path:
    """A source tree with the given [project] body, a readme, a license and a package."""
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\n{project}\n[tool.maturin]\npython-source = "py"\nmodule-name = "p._c"\n'
    )
    (tmp_path / "README.md").write_text("# p\n")
    (tmp_path / "COPYING").write_text("license text\n")
    return tmp_path


BASE = """name = "p"
version = "2.0"
description = "d"
readme = "README.md"
license = "MIT"
license-files = ["COPYING"]
scripts = { p = "p:main" }
"""


def test_metadata_writes_urls_sorted_and_authors_with_emails(
    backend: ModuleType, tmp_path: Path
) -> None:
    extra = """authors = [{ name = "A" }, { name = "B", email = "b@example.org" }]
urls = { Source = "https://example.org/s", Documentation = "https://example.org/d" }
"""
    metadata = importlib.import_module("rnnrs_build.metadata")
    text = metadata.Project(synthetic_project(tmp_path, BASE + extra)).metadata()
    assert text.splitlines() == [
        "Metadata-Version: 2.4",
        "Name: p",
        "Version: 2.0",
        "License-File: COPYING",
        "Summary: d",
        "Author: A",
        "Author-email: B <b@example.org>",
        "License-Expression: MIT",
        "Description-Content-Type: text/markdown; charset=UTF-8; variant=GFM",
        "Project-URL: Documentation, https://example.org/d",
        "Project-URL: Source, https://example.org/s",
        "",
        "# p",
        "",
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('maintainers = [{ name = "M" }]', r"does not write \[project\] maintainers"),
        ("optional-dependencies = { x = [\"a ; os_name == 'nt'\"] }", "cannot write the marker"),
    ],
)
def test_metadata_refuses_what_it_would_not_write_as_maturin_does(
    backend: ModuleType, tmp_path: Path, extra: str, message: str
) -> None:
    metadata = importlib.import_module("rnnrs_build.metadata")
    with pytest.raises(ValueError, match=message):
        metadata.Project(synthetic_project(tmp_path, BASE + extra)).metadata()
