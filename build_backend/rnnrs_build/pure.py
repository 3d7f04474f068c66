"""The pure-Python wheels: the rnnrs package without its Rust extension (py3-none-any), and
the editable variant that points the interpreter at the source tree's python/ folder."""

from __future__ import annotations

from pathlib import Path

from .metadata import Project
from .wheel import write_wheel

_TAG = "py3-none-any"
# Never packed: byte code, and extension modules left in the tree by an earlier Rust build.
_SKIPPED_SUFFIXES = {".pyc", ".so", ".pyd"}


def dist_info_members(project: Project) -> list[tuple[str, bytes]]:
    """The .dist-info files except RECORD (written by write_wheel)."""
    wheel = f"Wheel-Version: 1.0\nGenerator: rnnrs_build\nRoot-Is-Purelib: true\nTag: {_TAG}\n"
    members = [
        ("METADATA", project.metadata()),
        ("WHEEL", wheel),
        ("entry_points.txt", project.entry_points()),
    ]
    files = [(name, text.encode()) for name, text in members]
    files += [
        (f"licenses/{p.as_posix()}", (project.root / p).read_bytes())
        for p in project.license_files()
    ]
    return [(f"{project.dist_info}/{name}", data) for name, data in files]


def write_dist_info(project: Project, metadata_directory: Path) -> str:
    """prepare_metadata_for_build_wheel: the .dist-info folder on its own."""
    for name, data in dist_info_members(project):
        path = metadata_directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return project.dist_info


def build_wheel(project: Project, wheel_directory: Path) -> str:
    """The package's files from python/, without compiled modules."""
    sources = [p for p in _package_files(project) if p.suffix not in _SKIPPED_SUFFIXES]
    members = [(p.relative_to(project.python_source).as_posix(), p.read_bytes()) for p in sources]
    return _write(project, wheel_directory, members)


def build_editable(project: Project, wheel_directory: Path) -> str:
    """A .pth file that puts python/ on sys.path: edits to the sources apply without a rebuild.

    An extension module left in python/rnnrs by an earlier Rust build is then imported too.
    """
    pth = f"{project.python_source.resolve()}\n".encode()
    return _write(project, wheel_directory, [(f"{project.wheel_name}.pth", pth)])


def compiled_modules(project: Project) -> list[Path]:
    """Extension modules in the package folder, left there by an earlier Rust build."""
    return [p for p in _package_files(project) if p.suffix in (".so", ".pyd")]


def _package_files(project: Project) -> list[Path]:
    package_dir = project.python_source / project.package
    return [
        p for p in sorted(package_dir.rglob("*")) if p.is_file() and "__pycache__" not in p.parts
    ]


def _write(project: Project, wheel_directory: Path, members: list[tuple[str, bytes]]) -> str:
    filename = f"{project.wheel_name}-{project.version}-{_TAG}.whl"
    write_wheel(wheel_directory / filename, members + dist_info_members(project), project.dist_info)
    return filename
