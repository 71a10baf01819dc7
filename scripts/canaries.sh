#!/usr/bin/env bash
# Reliability R9: every planted bug (a `canary-*` cargo feature) must be caught by its harness.
#
# For each row of CANARIES below, build the harness with the canary feature on, run it, and
# require it to FAIL. Prints "canary <name>: caught (<target>)" per row and exits 1 if any
# canary went unnoticed (or its harness did not even build).
#
# Usage: scripts/canaries.sh [--release] [feature-substring]
#   --release          run the harnesses in release mode
#   feature-substring  only run rows whose feature contains it
#
# To add a canary: add the feature to Cargo.toml `[features]`, plant the bug behind
# `#[cfg(feature = "...")]`, and add a row here. Row format (whitespace separated):
#   <feature> <integration-test target> [extra `cargo test` args, e.g. a test-name filter]
# A target written `loom:<name>` is a loom model: it is built with RUSTFLAGS="--cfg loom" in
# its own target dir (target/loom, so the normal build cache is not invalidated) and always in
# release mode. A lost wake-up makes loom report a deadlock and abort the test process; that
# counts as caught too.
set -uo pipefail

CANARIES=(
  "canary-payload-only-crc      crash_bytes"
  "canary-no-dir-fsync-on-roll  crash_bytes"
  "canary-no-dir-fsync-on-roll  io_errors"
  "canary-relaxed-publish       loom:loom_notify"
  "canary-notify-without-lock   loom:loom_notify"
  "canary-rename-without-dir-fsync  engine_crash"
  "canary-decoder-oob               fuzz_corpus"
  "canary-next-offset-from-count    shard_roundtrip"
  "canary-ack-before-visible        loom:loom_notify"
  "canary-read-horizon-apart        concurrency  a_trim_right_after_a_read_fixed_its_view"
)

cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

profile=()
filter=""
for arg in "$@"; do
  case "$arg" in
    --release) profile=(--release) ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) filter="$arg" ;;
  esac
done

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
missed=0
ran=0

for row in "${CANARIES[@]}"; do
  read -r feature target extra <<<"$row"
  [[ -n "$filter" && "$feature" != *"$filter"* ]] && continue
  run=(cargo)
  prof=("${profile[@]}")
  if [[ "$target" == loom:* ]]; then
    target="${target#loom:}"
    run=(env RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo)
    prof=(--release)
  fi
  name="${feature#canary-}"
  log="$logs/$feature.$target.log"
  ran=$((ran + 1))
  # A harness that does not compile with the canary on would "fail" without catching anything.
  if ! "${run[@]}" test -p shardlog "${prof[@]}" --features "$feature" --test "$target" --no-run >"$log" 2>&1; then
    echo "canary $name: NOT CAUGHT ($target does not build with --features $feature)"
    tail -n 20 "$log" | sed 's/^/    /'
    missed=$((missed + 1))
    continue
  fi
  start=$SECONDS
  # shellcheck disable=SC2086 # $extra is a list of extra arguments
  if "${run[@]}" test -p shardlog "${prof[@]}" --features "$feature" --test "$target" $extra >>"$log" 2>&1; then
    echo "canary $name: NOT CAUGHT ($target passed with the bug planted, $((SECONDS - start)) s)"
    missed=$((missed + 1))
  else
    failed=$(grep -cE '^test .* FAILED$' "$log")
    how="$failed failing tests"
    grep -q 'deadlock' "$log" && how="$how, loom deadlock (lost wake-up)"
    echo "canary $name: caught ($target: $how, $((SECONDS - start)) s)"
  fi
done

if [[ $ran -eq 0 ]]; then
  echo "no canary matches '$filter'"
  exit 1
fi
if [[ $missed -gt 0 ]]; then
  echo "$missed of $ran canary checks NOT caught"
  exit 1
fi
echo "all $ran canary checks caught"
