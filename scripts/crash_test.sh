#!/usr/bin/env bash
# Crash-safety test, long version: kill a process saving checkpoints N times (default 200)
# at random moments and check each time that the checkpoint loads, old or new and whole.
# `bash scripts/crash_test.sh 500 7` = 500 kills with seed 7. CI runs a short version
# (tests/test_crash_safety.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${RNNRS_VENV:-.venv}/bin/python
exec "$PY" tests/crash_safety.py --kills "${1:-200}" --seed "${2:-0}"
