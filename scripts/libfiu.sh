#!/usr/bin/env bash
# Reliability R4: external fault injection with libfiu into a real binary's POSIX calls.
#
# For each scenario below, `examples/fiu_workload.rs` makes N Sync put attempts (one record
# each) into an Engine under `fiu-run -x`, reopening the engine after every storage error as
# an application must. Then, without faults:
#   - `shardlog verify DIR` must exit 0 (a torn active-segment tail is only a warning);
#   - `fiu_workload check` reopens the engine and requires every acknowledged put back, in its
#     shard, under its sequence number, with its exact bytes; nothing foreign, duplicated or
#     reordered (a put that failed but reached the disk may appear, once).
# Acknowledgements are reported through a file written only with writev(2), which no scenario
# injects faults into (see the example's docs). The engine writes with pwrite(2), so the
# "write" scenario fails pwrite (and plain write, which only stdout/stderr use).
#
# Usage: scripts/libfiu.sh [--disk] [scenario-substring]
#   --disk   put the data directories on $TMPDIR (default: /dev/shm when it exists; faults are
#            injected at the system-call level, so a tmpfs tests the same code paths, faster)
#   SHARDLOG_LIBFIU_RECORDS=N   put attempts per scenario (default 2000; nightly: 100000)
# Installs fiu-utils and libfiu-dev with apt-get if fiu-run is missing (needs root).
# Exit 0 when every scenario passes, 1 otherwise.
set -uo pipefail

SCENARIOS=(
  # name      fiu-run -c commands (separated by ';')
  "write      enable_random name=posix/io/rw/pwrite,probability=0.01;enable_random name=posix/io/rw/write,probability=0.01"
  "fdatasync  enable_random name=posix/io/sync/fdatasync,probability=0.02"
  "enospc     enable_random name=posix/io/rw/pwrite,probability=0.01,failinfo=28"
  "short      enable_random name=posix/io/rw/pwrite/reduce,probability=0.3"
  "mixed      enable_random name=posix/io/rw/pwrite,probability=0.005;enable_random name=posix/io/rw/pwrite/reduce,probability=0.1;enable_random name=posix/io/sync/fdatasync,probability=0.01;enable_random name=posix/io/sync/fsync,probability=0.01;enable_random name=posix/io/dir/rename,probability=0.01;enable_random name=posix/io/dir/unlink,probability=0.01;enable_random name=posix/io/rw/ftruncate,probability=0.01"
)

cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
records="${SHARDLOG_LIBFIU_RECORDS:-2000}"
base="${TMPDIR:-/tmp}"
[[ -d /dev/shm && -w /dev/shm ]] && base=/dev/shm
filter=""
for arg in "$@"; do
  case "$arg" in
    --disk) base="${TMPDIR:-/tmp}" ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) filter="$arg" ;;
  esac
done

if ! command -v fiu-run >/dev/null 2>&1; then
  echo "installing fiu-utils libfiu-dev"
  if ! apt-get install -y fiu-utils libfiu-dev >/dev/null 2>&1; then
    apt-get update >/dev/null 2>&1
    apt-get install -y fiu-utils libfiu-dev >/dev/null 2>&1 || { echo "FAILED: cannot install libfiu"; exit 1; }
  fi
fi

echo "building shardlog (release) and the fiu_workload example"
if ! cargo build --release -q -p shardlog-cli --bin shardlog || ! cargo build --release -q -p shardlog --example fiu_workload; then
  echo "FAILED: build"
  exit 1
fi
target="${CARGO_TARGET_DIR:-target}/release"
workload="$target/examples/fiu_workload"
shardlog="$target/shardlog"

work="$(mktemp -d -p "$base" shardlog-libfiu.XXXXXX)"
trap 'rm -rf "$work"' EXIT
failed=0
ran=0
start_all=$SECONDS

for row in "${SCENARIOS[@]}"; do
  read -r name commands <<<"$row"
  [[ -n "$filter" && "$name" != *"$filter"* ]] && continue
  ran=$((ran + 1))
  dir="$work/$name/data"
  acks="$work/$name/acks"
  mkdir -p "$work/$name"
  fiu_args=(-x -f "")
  IFS=';' read -ra cmds <<<"$commands"
  for c in "${cmds[@]}"; do fiu_args+=(-c "$c"); done
  start=$SECONDS
  fiu-run "${fiu_args[@]}" "$workload" run --dir "$dir" --acks "$acks" --records "$records" \
    >"$work/$name/run.out" 2>"$work/$name/run.err"
  run_rc=$?
  summary="$(grep -E '^(done|abort)' "$acks" 2>/dev/null | tail -n 1)"
  "$shardlog" verify "$dir" >"$work/$name/verify.out" 2>&1
  verify_rc=$?
  "$workload" check --dir "$dir" --acks "$acks" >"$work/$name/check.out" 2>&1
  check_rc=$?
  took=$((SECONDS - start))
  if [[ $run_rc -eq 0 && $verify_rc -eq 0 && $check_rc -eq 0 && "$summary" == done* ]]; then
    echo "scenario $name: PASS (${took} s)"
  else
    echo "scenario $name: FAIL (workload exit $run_rc, verify exit $verify_rc, check exit $check_rc, ${took} s)"
    failed=$((failed + 1))
    tail -n 5 "$work/$name/run.err" | sed 's/^/    run: /'
  fi
  echo "    workload: ${summary:-<no summary: the workload did not finish>}"
  tail -n 1 "$work/$name/verify.out" | sed 's/^/    verify:   /'
  grep -E '^check:' "$work/$name/check.out" | sed 's/^check: /    check:    /' | cut -c1-220
  grep -E '^  ' "$work/$name/check.out" | head -n 10 | sed 's/^/    /'
  if [[ $verify_rc -ne 0 ]]; then
    grep -v '^OK\|^FAILED' "$work/$name/verify.out" | head -n 10 | sed 's/^/    verify: /'
  fi
done

if [[ $ran -eq 0 ]]; then
  echo "no scenario matches '$filter'"
  exit 1
fi
echo "libfiu: $((ran - failed)) of $ran scenarios passed, $records put attempts each, $((SECONDS - start_all)) s (data on $base)"
[[ $failed -eq 0 ]]
