#!/usr/bin/env bash
# `shardlog serve` against the local Kinesis servers a user would pick instead, in one run, on
# loopback, with the same boto3 client (scripts/peers/load.py):
#
#   shardlog serve          optimised build with symbols (--profile profiling), --durability interval, a temporary data directory
#   kinesalite              npm; in memory, and on LevelDB (--path, a temporary directory)
#   kinesis-local           npm (kinesis-mock built for Node.js); in memory
#   moto_server             PyPI moto[server]; in memory
#
# For each: records/s of writes (put_records, batches of 500 x 100 B) and of reads
# (get_records back to the end), and the server process's own CPU time per record
# (utime + stime from /proc/PID/stat around each phase). Every record read back is checked.
# Then the Rust load generator (cli/examples/serve_load.rs: raw HTTP/1.1 keep-alive from
# several connections) shows shardlog serve's own ceiling.
#
# Usage: scripts/peers/run.sh [RECORDS]     (default 50000; results in target/peers/)
#
# Installs what it needs under target/peers/ on first use: a Python virtual environment
# (boto3, moto[server]) and an npm scratch directory (kinesalite, kinesis-local). A peer that
# cannot be installed or started is reported as such in the table.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
work=$root/target/peers
records=${1:-50000}
mkdir -p "$work"
results=$work/results-$(date +%Y%m%d-%H%M%S).jsonl
: >"$results"

PY_PINS="boto3==1.44.5 botocore==1.44.5 moto[server]==5.2.5"
NPM_PINS="kinesalite@3.3.3 kinesis-local@0.6.2"

started=()
cleanup() {
  local pid
  for pid in "${started[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT

note() { printf '== %s\n' "$*" >&2; }

# --- installs -----------------------------------------------------------------------------
venv=$work/py-venv
if [[ "$(cat "$venv/pins.txt" 2>/dev/null)" != "$PY_PINS" ]]; then
  note "python venv: $PY_PINS"
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/pip" install --disable-pip-version-check --no-input --retries 5 --timeout 60 -q $PY_PINS
  echo "$PY_PINS" >"$venv/pins.txt"
fi
npm_dir=$work/npm
npm_ok=1
if [[ "$(cat "$npm_dir/pins.txt" 2>/dev/null)" != "$NPM_PINS" ]]; then
  note "npm: $NPM_PINS"
  rm -rf "$npm_dir"
  mkdir -p "$npm_dir"
  # shellcheck disable=SC2086
  if (cd "$npm_dir" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error $NPM_PINS >&2); then
    echo "$NPM_PINS" >"$npm_dir/pins.txt"
  else
    npm_ok=0
  fi
fi
note "cargo build --profile profiling (shardlog, serve_load)"
(cd "$root" && cargo build --profile profiling -q -p shardlog-cli --bin shardlog --example serve_load)
shardlog=$root/target/profiling/shardlog
serve_load=$root/target/profiling/examples/serve_load

# --- helpers ------------------------------------------------------------------------------
free_port() {
  "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT PID: until 127.0.0.1:PORT accepts (or the process died, or 60 s passed).
wait_port() {
  local i
  for ((i = 0; i < 600; i++)); do
    kill -0 "$2" 2>/dev/null || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

stop() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# measure NAME PID ENDPOINT: run the boto3 load against a started server and record a row.
measure() {
  local name=$1 pid=$2 endpoint=$3 out
  note "$name: $records records via boto3 at $endpoint (server pid $pid)"
  if out=$(timeout 1800 "$venv/bin/python" "$root/scripts/peers/load.py" --endpoint "$endpoint" --pid "$pid" \
    --records "$records"); then
    echo "{\"server\": \"$name\", \"ok\": true, \"result\": $out}" >>"$results"
  else
    echo "{\"server\": \"$name\", \"ok\": false, \"why\": \"load failed: $(echo "$out" | tr -d '"\n' | cut -c1-200)\"}" >>"$results"
  fi
}

unavailable() {
  note "$1: $2"
  echo "{\"server\": \"$1\", \"ok\": false, \"why\": \"$2\"}" >>"$results"
}

logs=$work/logs
mkdir -p "$logs"

# --- shardlog serve -----------------------------------------------------------------------
data=$(mktemp -d)
"$shardlog" serve --addr 127.0.0.1:0 --dir "$data" --durability interval --log-level warn \
  >"$logs/shardlog.out" 2>"$logs/shardlog.err" &
pid=$!
started+=("$pid")
addr=""
for ((i = 0; i < 600; i++)); do
  addr=$(head -1 "$logs/shardlog.out" 2>/dev/null | sed -n 's/.*listening on http:\/\///p')
  [[ -n "$addr" ]] && break
  sleep 0.1
done
if [[ -n "$addr" ]]; then
  measure "shardlog serve" "$pid" "http://$addr"
  # The server's own ceiling: the Rust load generator on a second stream of the same server.
  note "shardlog serve: Rust load generator"
  "$serve_load" --endpoint "http://$addr" --pid "$pid" --records $((records * 10)) --stream rust-load \
    --json >"$work/serve_load.json" || echo '{"error": "serve_load failed"}' >"$work/serve_load.json"
else
  unavailable "shardlog serve" "did not start (see $logs/shardlog.err)"
fi
stop "$pid"
rm -rf "$data"

# --- kinesalite (memory, LevelDB) ---------------------------------------------------------
if [[ $npm_ok == 1 ]]; then
  for store in memory leveldb; do
    port=$(free_port)
    args=(--port "$port" --createStreamMs 0 --deleteStreamMs 0 --updateStreamMs 0 --shardLimit 1000)
    ldb=""
    if [[ $store == leveldb ]]; then
      ldb=$(mktemp -d)
      args+=(--path "$ldb")
    fi
    node "$npm_dir/node_modules/kinesalite/cli.js" "${args[@]}" >"$logs/kinesalite-$store.log" 2>&1 &
    pid=$!
    started+=("$pid")
    if wait_port "$port" "$pid"; then
      measure "kinesalite ($store)" "$pid" "http://127.0.0.1:$port"
    else
      unavailable "kinesalite ($store)" "did not start (see $logs/kinesalite-$store.log)"
    fi
    stop "$pid"
    [[ -n "$ldb" ]] && rm -rf "$ldb"
  done

  # --- kinesis-local (kinesis-mock) -------------------------------------------------------
  port=$(free_port)
  tls_port=$(free_port)
  km=$npm_dir/node_modules/kinesis-local
  KINESIS_MOCK_PLAIN_PORT=$port KINESIS_MOCK_TLS_PORT=$tls_port KINESIS_MOCK_CERT_PATH=$km/server.json \
    CREATE_STREAM_DURATION=0ms SHARD_LIMIT=1000 LOG_LEVEL=WARN \
    node "$km/main.js" >"$logs/kinesis-local.log" 2>&1 &
  pid=$!
  started+=("$pid")
  if wait_port "$port" "$pid"; then
    measure "kinesis-local" "$pid" "http://127.0.0.1:$port"
  else
    unavailable "kinesis-local" "did not start (see $logs/kinesis-local.log)"
  fi
  stop "$pid"
else
  unavailable "kinesalite (memory)" "npm install failed"
  unavailable "kinesis-local" "npm install failed"
fi

# --- moto_server --------------------------------------------------------------------------
port=$(free_port)
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$logs/moto.log" 2>&1 &
pid=$!
started+=("$pid")
if wait_port "$port" "$pid"; then
  measure "moto_server" "$pid" "http://127.0.0.1:$port"
else
  unavailable "moto_server" "did not start (see $logs/moto.log)"
fi
stop "$pid"

# --- table --------------------------------------------------------------------------------
"$venv/bin/python" - "$results" "$work/serve_load.json" <<'EOF'
import json, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
base = next((r["result"] for r in rows if r["server"] == "shardlog serve" and r["ok"]), None)
print()
print(f"boto3 client, {base['records'] if base else '?'} records x {base['size'] if base else '?'} B, "
      f"put_records batches of {base['batch'] if base else '?'}, {base['shards'] if base else '?'} shards")
hdr = ("server", "write rec/s", "read rec/s", "server CPU us/rec (write)", "server CPU us/rec (read)", "intact",
       "shardlog rec/s / peer's (w, r)", "peer CPU / shardlog's (w, r)")
print("| " + " | ".join(hdr) + " |")
print("|" + "---|" * len(hdr))
ratio = lambda a, b: f"{a / b:.1f}x" if b else "n/a"
for r in rows:
    if not r["ok"]:
        print(f"| {r['server']} | not measured: {r['why']} |" + " |" * (len(hdr) - 2))
        continue
    x = r["result"]
    cells = [r["server"], f"{x['write_rps']:,}", f"{x['read_rps']:,}", f"{x['write_cpu_us_per_record']:.2f}",
             f"{x['read_cpu_us_per_record']:.2f}", "yes" if x["intact"] else "NO"]
    if base and r["server"] != "shardlog serve":
        cells += [f"{ratio(base['write_rps'], x['write_rps'])}, {ratio(base['read_rps'], x['read_rps'])}",
                  f"{ratio(x['write_cpu_us_per_record'], base['write_cpu_us_per_record'])}, "
                  f"{ratio(x['read_cpu_us_per_record'], base['read_cpu_us_per_record'])}"]
    else:
        cells += ["", ""]
    print("| " + " | ".join(cells) + " |")
print("(CPU: utime + stime of the server process from /proc/PID/stat, 10 ms ticks: about +-0.2 us/record "
      f"for shardlog at {base['records'] if base else '?'} records)")
try:
    s = json.load(open(sys.argv[2]))
    print()
    print("shardlog serve with the Rust load generator (cli/examples/serve_load.rs):")
    print(json.dumps(s, indent=1))
except (OSError, ValueError):
    pass
EOF
echo "results: $results" >&2
