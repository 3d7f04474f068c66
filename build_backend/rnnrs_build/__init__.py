"""The PEP 517 / PEP 660 build backend of rnnrs (pyproject.toml: backend-path build_backend).

It builds the Rust extension when it can, and a pure-Python wheel that runs on the NumPy
backend when it cannot:

- ``RNNRS_PURE_PYTHON=1``: the pure-Python wheel (py3-none-any), even when Rust is installed.
- ``RNNRS_PURE_PYTHON=0``: the Rust extension; an error when ``cargo`` is not on PATH.
- unset or empty: the Rust extension when ``cargo`` is on PATH, else the pure-Python wheel,
  with a warning.

The Rust path is maturin's own PEP 517 backend, called as it is (maturin is then a build
requirement, fetched by the frontend). The pure path needs only the standard library (and
tomli below Python 3.11, to read pyproject.toml), so a machine without Rust never downloads
maturin or a Rust toolchain. Source distributions are always maturin's: they carry the Rust
sources and this folder, so they can be built either way.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from . import pure
from .metadata import TOML_REQUIREMENTS, Project

# 1.16 writes the METADATA that metadata.py reproduces (PEP 639 license fields included);
# scripts/check_wheels.sh compares the two.
MATURIN_REQUIREMENT = "maturin>=1.16,<2"
SWITCH = "RNNRS_PURE_PYTHON"
ConfigSettings = Optional[Mapping[str, Any]]


def _rust() -> bool:
    """True to build the Rust extension, False for the pure-Python wheel."""
    switch = os.environ.get(SWITCH, "").strip()
    if switch not in ("", "0", "1"):
        raise ValueError(
            f"{SWITCH} must be 1 (pure-Python wheel) or 0 (Rust extension), not {switch!r}"
        )
    have_cargo = shutil.which("cargo") is not None
    if switch == "0" and not have_cargo:
        raise RuntimeError(
            f"{SWITCH}=0 asks for the Rust extension, but cargo is not on PATH: "
            "install Rust (https://rustup.rs) or unset it"
        )
    return switch != "1" and have_cargo


def _say(message: str) -> None:
    # Frontends show the backend's output with -v (pip) or always (python -m build).
    print(f"rnnrs: {message}", file=sys.stderr, flush=True)


def _announce_pure() -> None:
    if os.environ.get(SWITCH, "").strip() == "1":
        _say(f"{SWITCH}=1: building the pure-Python wheel (NumPy backend).")
    else:
        _say(
            "WARNING: cargo (the Rust toolchain) is not on PATH, so this builds the "
            "pure-Python wheel: rnnrs will run on its NumPy backend, the same API and results "
            "but slower than the Rust core. Install Rust (https://rustup.rs) and reinstall "
            f"for the Rust core, or set {SWITCH}=1 to choose this build explicitly. "
            "See docs/install.md."
        )


def _maturin_hook(name: str, *args: Any) -> str:
    """Call maturin's hook `name` (each returns a file name); when it fails, say how to
    install without Rust."""
    import maturin  # type: ignore  # present when get_requires_* asked for it (no stubs)

    try:
        filename: str = getattr(maturin, name)(*args)
        return filename
    except SystemExit:  # maturin's hooks exit(1) after printing the compiler's errors
        _say(
            f"building the Rust extension failed (see above). Without it rnnrs runs on its "
            f"NumPy backend: set {SWITCH}=1 to install that way."
        )
        raise


def get_requires_for_build_wheel(config_settings: ConfigSettings = None) -> list[str]:
    return [MATURIN_REQUIREMENT] if _rust() else TOML_REQUIREMENTS


def get_requires_for_build_editable(config_settings: ConfigSettings = None) -> list[str]:
    return get_requires_for_build_wheel(config_settings)


def get_requires_for_build_sdist(config_settings: ConfigSettings = None) -> list[str]:
    _require_cargo_for_sdist()
    return [MATURIN_REQUIREMENT]


def prepare_metadata_for_build_wheel(
    metadata_directory: str, config_settings: ConfigSettings = None
) -> str:
    if _rust():
        return _maturin_hook(
            "prepare_metadata_for_build_wheel", metadata_directory, config_settings
        )
    return pure.write_dist_info(Project(Path.cwd()), Path(metadata_directory))


def prepare_metadata_for_build_editable(
    metadata_directory: str, config_settings: ConfigSettings = None
) -> str:
    return prepare_metadata_for_build_wheel(metadata_directory, config_settings)


def build_wheel(
    wheel_directory: str,
    config_settings: ConfigSettings = None,
    metadata_directory: Optional[str] = None,
) -> str:
    if _rust():
        return _maturin_hook("build_wheel", wheel_directory, config_settings, metadata_directory)
    _announce_pure()
    return pure.build_wheel(Project(Path.cwd()), Path(wheel_directory))


def build_editable(
    wheel_directory: str,
    config_settings: ConfigSettings = None,
    metadata_directory: Optional[str] = None,
) -> str:
    if _rust():
        return _maturin_hook("build_editable", wheel_directory, config_settings, metadata_directory)
    _announce_pure()
    project = Project(Path.cwd())
    for leftover in pure.compiled_modules(project):
        _say(
            f"note: {leftover} (from an earlier Rust build) will be imported; delete it to "
            "run on the NumPy backend."
        )
    return pure.build_editable(project, Path(wheel_directory))


def build_sdist(sdist_directory: str, config_settings: ConfigSettings = None) -> str:
    _require_cargo_for_sdist()
    return _maturin_hook("build_sdist", sdist_directory, config_settings)


def _require_cargo_for_sdist() -> None:
    # maturin lists the crate's files with `cargo package --list`; without cargo it would
    # try to download a Rust toolchain.
    if shutil.which("cargo") is None:
        raise RuntimeError(
            "building an sdist needs cargo (the Rust toolchain) on PATH; without it, build "
            "the pure-Python wheel directly: `pip wheel .` or `python -m build --wheel`"
        )
