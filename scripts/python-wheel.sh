#!/usr/bin/env bash
# Build the Python wheel (python/, maturin, bindings = "bin") and test it in a fresh virtual
# environment: pip install the wheel, boto3 and pytest, then run python/tests, whose fixtures
# come from the installed wheel's pytest plugin.
#
# Usage: scripts/python-wheel.sh
# Installs maturin from PyPI into target/python-tools/ (kept between runs); the wheel goes to
# target/wheels/; the test environment target/wheel-test-venv/ is made anew every run.
# SHARDLOG_PYTHON names the interpreter (default python3).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
python="${SHARDLOG_PYTHON:-python3}"
maturin_version=1.16.0
pins=(pytest==9.2.0 boto3==1.44.5 botocore==1.44.5)
pip_flags=(--disable-pip-version-check --no-input --retries 5 --timeout 60)

tools="$root/target/python-tools/venv"
if [[ ! -x "$tools/bin/maturin" ]] || [[ "$("$tools/bin/maturin" --version)" != "maturin $maturin_version" ]]; then
  echo "python-wheel: installing maturin $maturin_version into $tools"
  rm -rf "$tools"
  "$python" -m venv "$tools"
  "$tools/bin/pip" install -q "${pip_flags[@]}" "maturin==$maturin_version"
fi

echo "python-wheel: maturin build --release"
rm -rf "$root/target/wheels"
(cd python && "$tools/bin/maturin" build --release --out "$root/target/wheels")
wheel="$(ls "$root"/target/wheels/shardlog-*.whl)"

venv="$root/target/wheel-test-venv"
rm -rf "$venv"
"$python" -m venv "$venv"
echo "python-wheel: pip install $(basename "$wheel") ${pins[*]} into a fresh venv"
"$venv/bin/pip" install -q "${pip_flags[@]}" "$wheel" "${pins[@]}"

# Run from outside python/ so that `import shardlog` finds the installed package, not the
# source tree; the fixtures come from the wheel's pytest11 entry point.
cd "$root/target"
env -u PYTHONPATH -u SHARDLOG_BIN "$venv/bin/pytest" -p no:cacheprovider -v "$root/python/tests"
