#!/usr/bin/env bash
# The whole test suite, as CI runs it: builds the Rust extension into a virtualenv (.venv),
# then Rust checks and tests (also of the core without the Python bindings), Python lint,
# type and stub checks, and pytest on BOTH backends.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k bpe`, `--runslow`).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${RNNRS_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  # --system-site-packages: reuse what the machine has (e.g. torch for the optional tests).
  python3 -m venv --system-site-packages "$VENV"
fi
PY="$VENV/bin/python"

step() { printf '\n=== %s\n' "$*"; }

step "build and install rnnrs with the Rust extension (release), with the dask extra"
"$PY" -m pip install --quiet --disable-pip-version-check -e '.[test,dask]'

step "cargo fmt --check"
cargo fmt --check
step "cargo clippy -D warnings"
cargo clippy --quiet --all-targets -- -D warnings
step "cargo test"
cargo test --quiet
step "cargo test --no-default-features (the core without the python feature)"
cargo test --quiet --no-default-features

step "ruff"
"$PY" -m ruff check python tests benches build_backend
step "mypy (configured in pyproject.toml)"
"$PY" -m mypy
step "stubtest rnnrs._core"
"$PY" -m mypy.stubtest rnnrs._core --allowlist .ci/stubtest-allowlist.txt

# Both backends run even when the first fails; the exit code says whether either failed.
failed=()
for backend in rust numpy; do
  step "pytest, $backend backend"
  RNNRS_BACKEND=$backend "$PY" -m pytest -q "$@" || failed+=("$backend")
done
if [ ${#failed[@]} -gt 0 ]; then
  step "pytest FAILED on: ${failed[*]}"
  exit 1
fi
step "pytest passed on both backends"

step "wheels: manylinux2014 (zig) and pure-Python, each installed in a fresh venv"
bash scripts/check_wheels.sh
