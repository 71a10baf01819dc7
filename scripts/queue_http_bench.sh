#!/usr/bin/env bash
# Server CPU per queue record over HTTP (issue #16): `shardlog serve` on loopback (optimised
# build with symbols, --profile profiling; --durability interval; a temporary data directory),
# driven by cli/examples/queue_serve_load.rs over one keep-alive connection: GetRecords of N
# records (pages of 10,000, then of 10), then ReceiveQueueRecords(10) + AcknowledgeQueueRecords
# of the same N records; the server process's utime + stime around each phase.
#
# Usage: scripts/queue_http_bench.sh [RECORDS]     (default 50000)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
records=${1:-50000}
work=$(mktemp -d)
pid=""
cleanup() {
  if [[ -n "$pid" ]]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

(cd "$root" && cargo build --profile profiling -q -p shardlog-cli --bin shardlog --example queue_serve_load)
"$root/target/profiling/shardlog" serve --addr 127.0.0.1:0 --dir "$work/data" --durability interval \
  --log-level warn >"$work/out" 2>"$work/err" &
pid=$!
addr=""
for _ in $(seq 1 600); do
  addr=$(head -1 "$work/out" 2>/dev/null | sed -n 's/.*listening on http:\/\///p')
  [[ -n "$addr" ]] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/err" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$addr" ]] || { echo "shardlog serve did not start" >&2; exit 1; }
"$root/target/profiling/examples/queue_serve_load" --endpoint "http://$addr" --pid "$pid" --records "$records"
