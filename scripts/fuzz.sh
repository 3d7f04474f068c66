#!/usr/bin/env bash
# Fuzz every parser and public constructor (tests/fuzzing.py) for SECONDS each (default 60):
# `bash scripts/fuzz.sh 600` = ten minutes per target; `bash scripts/fuzz.sh 60 arpa,counts`
# runs two targets. Prints the examples run per target; exits 1 on a finding (the input is
# printed, shrunk). CI runs a short deterministic version (tests/test_fuzz.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${RNNRS_VENV:-.venv}/bin/python
exec "$PY" tests/fuzzing.py --seconds "${1:-60}" --targets "${2:-}"
