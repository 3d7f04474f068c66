#!/usr/bin/env bash
# The two wheels users install, built as a release builds them and tried in a fresh virtualenv:
# - the Rust wheel, compiled with zig against glibc 2.17: tagged abi3 + manylinux2014
#   (manylinux_2_17), judged so by auditwheel, SIMD variants still chosen at run time;
# - the pure-Python wheel, built with cargo and rustc hidden from PATH: py3-none-any, and
#   built again from the sdist, which must carry the build backend.
# Both must install, import on the right backend and train a few steps, run the CLI, carry
# the LICENSE file and describe the same package (METADATA, entry points, files).
# Usage: bash scripts/check_wheels.sh  (run by scripts/test.sh; uses the venv it made)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${RNNRS_VENV:-.venv}
[[ $VENV == /* ]] || VENV="$(pwd)/$VENV"
PY="$VENV/bin/python"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

step() { printf '\n=== %s (at %ds)\n' "$*" "$SECONDS"; }
fail() {
  echo "check_wheels: $*" >&2
  exit 1
}
one_wheel() { # the single wheel in a folder
  local found=("$1"/*.whl)
  [ ${#found[@]} -eq 1 ] && [ -f "${found[0]}" ] || fail "expected one wheel in $1: ${found[*]}"
  echo "${found[0]}"
}

step "build tools: maturin, zig, auditwheel"
# maturin as build_backend/rnnrs_build asks for it; zig pinned to the version checked here.
"$PY" -m pip install --quiet --disable-pip-version-check \
  "maturin>=1.16,<2" "ziglang==0.17.1" "auditwheel>=6"

step "Rust wheel: maturin --zig --compatibility manylinux2014 (release)"
# zig runs as `$PY -m ziglang`. The target directory is the project's (its subfolder
# x86_64-unknown-linux-gnu/release): reruns only rebuild what changed.
PATH="$VENV/bin:$PATH" CARGO_ZIGBUILD_PYTHON_PATH="$PY" maturin build --quiet --release --zig \
  --compatibility manylinux2014 --interpreter "$PY" --out "$WORK/rust"
RUST_WHEEL=$(one_wheel "$WORK/rust")
name=$(basename "$RUST_WHEEL")
echo "$name"
[[ $name == *-abi3-* ]] || fail "$name: not an abi3 wheel"
[[ $name == *manylinux_2_17_x86_64* || $name == *manylinux2014_x86_64* ]] ||
  fail "$name: not a manylinux2014 (manylinux_2_17) wheel"

step "auditwheel show"
verdict=$("$PY" -m auditwheel show "$RUST_WHEEL" | tr -s ' \n' ' ')
echo "$verdict"
[[ $verdict == *'consistent with the following platform tag: "manylinux_2_17_x86_64"'* ]] ||
  fail "auditwheel does not find $name manylinux_2_17 compliant"

step "SIMD: AVX-512 and AVX2+FMA variants compiled in, chosen at run time (cpuid)"
"$PY" -m zipfile -e "$RUST_WHEEL" "$WORK/rust/unpacked"
objdump -d --no-show-raw-insn "$WORK"/rust/unpacked/rnnrs/_core*.so >"$WORK/disassembly"
for pattern in zmm 'vfmadd.*ymm' cpuid; do
  grep -q "$pattern" "$WORK/disassembly" || fail "no '$pattern' instruction in the extension"
done

step "pure-Python wheel: pip wheel with cargo and rustc hidden from PATH"
no_rust_path=
IFS=: read -ra dirs <<<"$PATH"
for dir in "${dirs[@]}"; do
  [ -x "$dir/cargo" ] || [ -x "$dir/rustc" ] || no_rust_path+="${no_rust_path:+:}$dir"
done
env PATH="$no_rust_path" "$PY" -m pip wheel --quiet --disable-pip-version-check --no-deps \
  --wheel-dir "$WORK/pure" .
PURE_WHEEL=$(one_wheel "$WORK/pure")
echo "$(basename "$PURE_WHEEL")"
[[ $(basename "$PURE_WHEEL") == rnnrs-*-py3-none-any.whl ]] || fail "not a py3-none-any wheel"

step "sdist (maturin's, through build_backend): holds the backend; builds the same pure wheel"
"$PY" -c 'import sys; sys.path.insert(0, "build_backend"); import rnnrs_build
rnnrs_build.build_sdist(sys.argv[1])' "$WORK/sdist" >/dev/null
SDIST=$(echo "$WORK"/sdist/rnnrs-*.tar.gz)
tar -tzf "$SDIST" >"$WORK/sdist/files"
grep -q '^rnnrs-[^/]*/build_backend/rnnrs_build/__init__.py$' "$WORK/sdist/files" ||
  fail "no build backend in the sdist"
grep -q '^rnnrs-[^/]*/LICENSE$' "$WORK/sdist/files" || fail "no LICENSE in the sdist"
env PATH="$no_rust_path" "$PY" -m pip wheel --quiet --disable-pip-version-check --no-deps \
  --wheel-dir "$WORK/from-sdist" "$SDIST"
cmp "$(one_wheel "$WORK/from-sdist")" "$PURE_WHEEL" || fail "the sdist gives a different wheel"

step "both wheels: the same metadata and package files, LICENSE included"
"$PY" - "$RUST_WHEEL" "$PURE_WHEEL" <<'EOF'
import sys
import zipfile

rust, pure = (zipfile.ZipFile(path) for path in sys.argv[1:])
info = next(n for n in pure.namelist() if n.endswith(".dist-info/METADATA")).rsplit("/", 1)[0]
for name in ("METADATA", "entry_points.txt", "licenses/LICENSE"):
    member = f"{info}/{name}"
    assert rust.read(member) == pure.read(member), f"{member} differs between the wheels"
assert pure.read(f"{info}/licenses/LICENSE") == open("LICENSE", "rb").read()
package = {n for n in rust.namelist() if not n.startswith(info)}
compiled = {n for n in package if n.endswith(".so")}
assert compiled == {"rnnrs/_core.abi3.so"}, compiled
assert package - compiled == {n for n in pure.namelist() if not n.startswith(info)}, (
    "the wheels hold different Python files"
)
assert "rnnrs/py.typed" in package
print(f"identical: METADATA, entry_points.txt, LICENSE and {len(package - compiled)} files")
EOF

step "fresh virtualenv: install each wheel, import, train, run the CLI"
"$PY" -m venv "$WORK/venv"
V="$WORK/venv/bin"
smoke() { # $1: the backend the installed wheel must run on
  # Run outside the source tree so that only the installed package can be imported.
  (cd "$WORK" && "$V/python" - "$1" <<'EOF'
import sys

import numpy as np

import rnnrs

assert rnnrs.backend() == sys.argv[1], f"backend {rnnrs.backend()}, expected {sys.argv[1]}"
ids = np.tile(np.arange(10), 300)  # a cycle: every token predicts the next one exactly
model = rnnrs.RNNLM(10, cell="lstm", hidden_size=32, num_layers=1, embed_size=16)
before = model.perplexity(ids[:500])
rnnrs.Trainer(model, rnnrs.Adam(lr=1e-2), bptt=16, batch_size=8, progress=False).fit(
    ids, max_steps=60
)
after = model.perplexity(ids[:500])
assert before > 8 and after < 1.5, (before, after)
print(f"backend {rnnrs.backend()}: perplexity {before:.2f} -> {after:.3f} in 60 steps")
EOF
  "$V/rnnrs" --help >/dev/null)
}
"$V/pip" install --quiet --disable-pip-version-check "$PURE_WHEEL"
smoke numpy
"$V/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps "$RUST_WHEEL"
smoke rust

step "wheels checked"
