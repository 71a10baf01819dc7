#!/usr/bin/env bash
# `cargo install --path cli` from a fresh clone, then the installed binary serves: a clone of
# the committed HEAD (nothing untracked or uncommitted comes along), `cargo install --locked
# --path cli --root DIR`, then `DIR/bin/shardlog serve` with a start-up stream answers
# /healthcheck and a Kinesis ListStreams call, and stops cleanly on SIGTERM.
#
# Usage: scripts/install-check.sh
# The build reuses this checkout's target/ as its cache (CARGO_TARGET_DIR) so that CI does not
# compile every dependency a second time; the sources are the clone's.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${SHARDLOG_PYTHON:-python3}"
tmp="$(mktemp -d)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid" || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "install-check: git clone (committed HEAD) into $tmp/clone"
git clone -q --no-local "$root" "$tmp/clone"
echo "install-check: cargo install --locked --path cli --root $tmp/root"
(cd "$tmp/clone" && CARGO_TARGET_DIR="$root/target" cargo install -q --locked --path cli --root "$tmp/root")
bin="$tmp/root/bin/shardlog"
"$bin" --version

mkfifo "$tmp/out"
"$bin" serve --addr 127.0.0.1:0 --dir "$tmp/data" --create-stream installed:2 --log-level warn >"$tmp/out" &
server_pid=$!
exec 3<"$tmp/out"
read -r -t 60 line <&3 || { echo "install-check: the installed binary printed no listening line"; exit 1; }
url="${line##* }"
echo "install-check: $line"

"$python" - "$url" <<'PY'
import json, sys, urllib.request
url = sys.argv[1]
with urllib.request.urlopen(url + "/healthcheck", timeout=30) as r:
    assert r.status == 200 and json.loads(r.read()) == {"status": "ok"}, "unhealthy"
req = urllib.request.Request(url + "/", data=b"{}", method="POST", headers={
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-Target": "Kinesis_20131202.ListStreams",
    "X-Amz-Date": "20260101T000000Z",
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kinesis/aws4_request, "
                     "SignedHeaders=host;x-amz-date, Signature=00",
})
with urllib.request.urlopen(req, timeout=30) as r:
    names = json.loads(r.read())["StreamNames"]
assert names == ["installed"], names
print("install-check: /healthcheck 200, ListStreams", names)
PY

kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""
if [[ $status != 0 ]]; then echo "install-check: serve exited with $status"; exit 1; fi
echo "install-check: passed (cargo install from a fresh clone; the installed binary serves)"
