#!/usr/bin/env bash
# Reliability R6: run every cargo-fuzz target (or the named ones) for SECONDS each on the
# stable toolchain (`-s none`: no sanitizer), with the limits of the reliability table:
# -timeout=10, -rss_limit_mb=2048. Each run starts from and adds to fuzz/corpus/<target>/.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET ...]      (default: 60 s, every target)
#   SHARDLOG_FUZZ_JOBS=N   targets fuzzed at the same time (default: 1)
# Installs cargo-fuzz with `cargo install --locked` when it is missing.
# Prints one line per target (executions, seconds, result) and a log path per target;
# exits 1 when any target found a crash, panic, timeout or OOM (the input is in
# fuzz/artifacts/<target>/; minimise it with `cargo fuzz tmin -s none <target> <file>`), or
# when the record decoder (`batch_decode`) ran fewer than 5 M executions per 60 s (the PR
# gate of reliability goal R6).
# `.ci/run` runs it with 60 s per target and two jobs.
set -uo pipefail

cd "$(dirname "$0")/../fuzz"
export CARGO_TERM_COLOR=never
seconds="${1:-60}"
shift || true
jobs="${SHARDLOG_FUZZ_JOBS:-1}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked >&2 || { echo "cargo install cargo-fuzz failed" >&2; exit 1; }
fi

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  mapfile -t targets < <(cargo fuzz list)
fi

cargo fuzz build -s none >&2 || { echo "fuzz build failed" >&2; exit 1; }

logs="target/fuzz-logs"
mkdir -p "$logs"

run_one() {
  local t="$1" log="$logs/$1.log"
  local extra=()
  # engine_ops and queue_ops inputs are programs: let them be long (up to their 64 operations)
  # from the start.
  [[ "$t" == engine_ops || "$t" == queue_ops ]] && extra=(-max_len=1024 -len_control=0)
  mkdir -p "corpus/$t"
  cargo fuzz run -s none "$t" -- -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 "${extra[@]}" >"$log" 2>&1
  local rc=$?
  local execs
  execs=$(grep -Eo '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1)
  local secs
  secs=$(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log" | grep -Eo 'in [0-9]+' | grep -Eo '[0-9]+' | tail -1)
  if [[ $rc -eq 0 && "$t" == batch_decode && "$seconds" -ge 60 ]]; then
    local need=$((5000000 * seconds / 60))
    if [[ "${execs:-0}" -lt $need ]]; then
      printf '%-20s %12s execs %6s s  TOO FEW (need %s) %s\n' "$t" "${execs:-?}" "${secs:-?}" "$need" "$log"
      return 1
    fi
  fi
  if [[ $rc -eq 0 ]]; then
    printf '%-20s %12s execs %6s s  ok          %s\n' "$t" "${execs:-?}" "${secs:-?}" "$log"
  else
    printf '%-20s %12s execs %6s s  FINDING rc=%s %s\n' "$t" "${execs:-?}" "${secs:-?}" "$rc" "$log"
  fi
  return $rc
}

status=0
running=0
pids=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  running=$((running + 1))
  if [[ $running -ge $jobs ]]; then
    wait -n || status=1
    running=$((running - 1))
  fi
done
while [[ $running -gt 0 ]]; do
  wait -n || status=1
  running=$((running - 1))
done
exit $status
