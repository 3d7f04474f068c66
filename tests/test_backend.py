"""Backend selection: rust when the extension imports, numpy otherwise, env override."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import rnnrs
from rnnrs.backends.selection import resolve_backend


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full_env, check=False
    )


def test_backend_reports_a_known_name() -> None:
    assert rnnrs.backend() in ("rust", "numpy")


def test_env_forces_numpy() -> None:
    out = run_python("import rnnrs; print(rnnrs.backend())", RNNRS_BACKEND="numpy")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "numpy"


def test_env_rejects_unknown_backend() -> None:
    out = run_python("import rnnrs; rnnrs.backend()", RNNRS_BACKEND="cuda")
    assert out.returncode != 0
    assert "RNNRS_BACKEND" in out.stderr and "cuda" in out.stderr


def test_explicit_unknown_backend_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="backend"):
        resolve_backend("tpu")


def test_rust_without_extension_says_how_to_build() -> None:
    # Hide the extension by making its import fail, then ask for rust.
    code = (
        "import sys; sys.modules['rnnrs._core'] = None\n"
        "import rnnrs\n"
        "assert rnnrs.backend() == 'numpy'\n"
        "from rnnrs.backends.selection import resolve_backend\n"
        "try:\n"
        "    resolve_backend('rust')\n"
        "except rnnrs.BackendUnavailableError as e:\n"
        "    print(e)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "RNNRS_BACKEND"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "pip install" in out.stdout and "numpy" in out.stdout


def test_rust_extension_present_when_forced() -> None:
    if os.environ.get("RNNRS_BACKEND") != "rust":
        pytest.skip("only meaningful on the rust backend run")
    assert rnnrs.rust_available()
    assert rnnrs.backend() == "rust"
