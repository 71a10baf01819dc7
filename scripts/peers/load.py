#!/usr/bin/env python3
"""One boto3 client against a Kinesis endpoint: write, then read everything back.

    load.py --endpoint http://127.0.0.1:4567 [--pid PID] [--records 50000] [--shards 4]

Creates a stream, writes --records records of --size bytes with put_records in batches of
--batch (re-putting entries a server reports as failed), then reads every shard from
TRIM_HORIZON with get_records (Limit 10000) until it is caught up, and checks that every
record came back intact, exactly once, in order within its shard. With --pid, the server
process's own CPU time (utime + stime from /proc/PID/stat) is measured around each phase.
Prints one JSON object on stdout; exits 1 if any record is missing, duplicated or damaged.
"""

import argparse
import hashlib
import json
import os
import sys
import time

import boto3
from botocore.config import Config

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # fields 14 and 15 of proc(5)


def payload(i, size):
    """Record i's data: its index, then bytes derived from it (so damage is detectable)."""
    head = b"%012d" % i
    fill = hashlib.sha256(head).digest()
    body = (fill * (size // len(fill) + 1))[: max(0, size - len(head))]
    return (head + body)[:size]


def wait_active(k, stream, deadline_s=60):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            s = k.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
            if s["StreamStatus"] == "ACTIVE":
                return
        except k.exceptions.ResourceNotFoundException:
            pass
        time.sleep(0.05)
    sys.exit(f"stream {stream} never became ACTIVE")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--pid", type=int, help="server process whose CPU time is measured")
    ap.add_argument("--records", type=int, default=50_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--stream", default="load")
    a = ap.parse_args()

    cfg = Config(retries={"max_attempts": 10, "mode": "standard"}, connect_timeout=10, read_timeout=300,
                 max_pool_connections=1)
    k = boto3.client("kinesis", endpoint_url=a.endpoint, region_name="us-east-1", config=cfg,
                     aws_access_key_id="AKIDLOADTEST", aws_secret_access_key="load-test-secret")
    k.create_stream(StreamName=a.stream, ShardCount=a.shards)
    wait_active(k, a.stream)
    shards = [s["ShardId"] for s in k.list_shards(StreamName=a.stream)["Shards"]]

    # Requests are built before the clock starts; the client still encodes them (base64, JSON).
    batches = []
    for start in range(0, a.records, a.batch):
        batches.append([{"Data": payload(i, a.size), "PartitionKey": f"pk-{i}"}
                        for i in range(start, min(start + a.batch, a.records))])

    # Write.
    re_put = 0
    cpu0, t0 = cpu_seconds(a.pid), time.perf_counter()
    for entries in batches:
        while entries:
            r = k.put_records(StreamName=a.stream, Records=entries)
            if r["FailedRecordCount"] == 0:
                break
            entries = [e for e, res in zip(entries, r["Records"]) if "ErrorCode" in res]
            re_put += len(entries)
    write_s, write_cpu = time.perf_counter() - t0, cpu_seconds(a.pid) - cpu0

    # Read everything back, shard by shard (checked after the clock stops).
    pages = []
    calls = 0
    cpu0, t0 = cpu_seconds(a.pid), time.perf_counter()
    for shard in shards:
        it = k.get_shard_iterator(StreamName=a.stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        empty = 0
        while it:
            r = k.get_records(ShardIterator=it, Limit=10_000)
            calls += 1
            recs = r["Records"]
            pages.append((shard, recs))
            if not recs:
                empty += 1
                # Caught up (or a server that keeps answering empty pages behind the tip).
                if r.get("MillisBehindLatest", 0) == 0 or empty > 100:
                    break
            else:
                empty = 0
            it = r.get("NextShardIterator")
    read_s, read_cpu = time.perf_counter() - t0, cpu_seconds(a.pid) - cpu0

    seen = {}
    bad = []
    last_seq = {}
    for shard, recs in pages:
        for rec in recs:
            data = rec["Data"]
            seq = int(rec["SequenceNumber"])
            if seq <= last_seq.get(shard, -1):
                bad.append(f"{shard}: sequence {seq} after {last_seq[shard]}")
            last_seq[shard] = seq
            try:
                i = int(data[:12])
            except ValueError:
                bad.append(f"{shard}: undecodable record {data[:20]!r}")
                continue
            if data != payload(i, a.size) or rec["PartitionKey"] != f"pk-{i}":
                bad.append(f"{shard}: record {i} damaged")
            seen[i] = seen.get(i, 0) + 1

    missing = a.records - sum(1 for i in seen if 0 <= i < a.records)
    dupes = sum(c - 1 for c in seen.values() if c > 1)
    intact = not bad and missing == 0 and dupes == 0
    n = a.records
    out = {
        "records": n,
        "size": a.size,
        "batch": a.batch,
        "shards": len(shards),
        "write_s": round(write_s, 3),
        "read_s": round(read_s, 3),
        "write_rps": round(n / write_s),
        "read_rps": round(n / read_s),
        "write_cpu_us_per_record": round(write_cpu / n * 1e6, 3) if a.pid else None,
        "read_cpu_us_per_record": round(read_cpu / n * 1e6, 3) if a.pid else None,
        "get_records_calls": calls,
        "re_put": re_put,
        "missing": missing,
        "duplicates": dupes,
        "damaged": len(bad),
        "intact": intact,
    }
    print(json.dumps(out))
    if not intact:
        for b in bad[:10]:
            print(b, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
