"""boto3 against `shardlog serve`: run by cli/tests/serve_python.rs.

Usage: scenario.py ENDPOINT_URL

Drives an unmodified boto3 Kinesis client through the control plane, the data plane, all
five iterator types, split and merge (reading closed shards to their end), ListShards
filters, retention changes, enhanced fan-out with SubscribeToShard (boto3 reads the event
stream over HTTP/1.1), and a set of bad requests with their exact error codes. Exits 0
when every check passed, 1 with a message naming the failed check otherwise.
"""

import datetime
import sys
import time
import traceback

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from checks import Mismatch, check, eq

MAX_HASH = 2**128 - 1
ACCOUNT = "000000000000"
REGION = "us-east-1"


def expect_error(code, fn, *args, contains=None, **kwargs):
    """Call fn and require a ClientError with this exact code (and message part)."""
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        msg = e.response["Error"].get("Message", "")
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        if got != code:
            raise Mismatch(f"{fn.__name__}{kwargs}: got {got} ({msg!r}), want {code}")
        eq(status, 400, f"HTTP status of {code}")
        if contains is not None and contains not in msg:
            raise Mismatch(f"{fn.__name__}: message {msg!r} lacks {contains!r}")
        return msg
    raise Mismatch(f"{fn.__name__}{kwargs}: succeeded, want {code}")


def arn(stream):
    return f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{stream}"


def shard_id(n):
    return f"shardId-{n:012d}"


def read_to_end(k, iterator, limit=4, max_calls=200):
    """GetRecords until the shard is done: an open shard's empty page (returns the records and
    the last response), or a closed shard's missing NextShardIterator."""
    out = []
    for _ in range(max_calls):
        r = k.get_records(ShardIterator=iterator, Limit=limit)
        out.extend(r["Records"])
        check(isinstance(r["MillisBehindLatest"], int), "MillisBehindLatest is an integer")
        nxt = r.get("NextShardIterator")
        if nxt is None:
            return out, r
        if not r["Records"] and r["MillisBehindLatest"] == 0:
            return out, r
        check(nxt != iterator, "NextShardIterator is a new iterator")
        iterator = nxt
    raise Mismatch("shard never drained")


def iterator(k, stream, shard, kind, **extra):
    return k.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType=kind, **extra)["ShardIterator"]


def ids(shards):
    return [s["ShardId"] for s in shards]


def step_control_plane(k):
    k.create_stream(StreamName="py1", ShardCount=1)
    k.create_stream(StreamName="py2", ShardCount=2)
    k.create_stream(StreamName="py3", ShardCount=1)
    k.get_waiter("stream_exists").wait(StreamName="py1", WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    d = k.describe_stream(StreamName="py1")["StreamDescription"]
    eq(d["StreamName"], "py1", "DescribeStream name")
    eq(d["StreamARN"], arn("py1"), "DescribeStream ARN")
    eq(d["StreamStatus"], "ACTIVE", "DescribeStream status")
    eq(d["RetentionPeriodHours"], 24, "default retention")
    eq(d["HasMoreShards"], False, "HasMoreShards")
    eq(len(d["Shards"]), 1, "py1 shard count")
    eq(d["Shards"][0]["HashKeyRange"], {"StartingHashKey": "0", "EndingHashKey": str(MAX_HASH)}, "hash range")
    check(isinstance(d["StreamCreationTimestamp"], datetime.datetime), "creation timestamp parsed as a datetime")
    age = datetime.datetime.now(datetime.timezone.utc) - d["StreamCreationTimestamp"]
    check(abs(age.total_seconds()) < 60, f"creation timestamp is now-ish ({age})")

    names = k.list_streams()["StreamNames"]
    eq(names, ["py1", "py2", "py3"], "ListStreams")
    page = k.list_streams(Limit=2)
    eq(page["StreamNames"], ["py1", "py2"], "ListStreams Limit=2")
    eq(page["HasMoreStreams"], True, "HasMoreStreams")
    eq([s["StreamName"] for s in page["StreamSummaries"]], ["py1", "py2"], "StreamSummaries")
    rest = k.list_streams(ExclusiveStartStreamName="py2")
    eq(rest["StreamNames"], ["py3"], "ListStreams ExclusiveStartStreamName")
    paged = [n for p in k.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 1}) for n in p["StreamNames"]]
    eq(paged, ["py1", "py2", "py3"], "ListStreams paginator")

    s = k.describe_stream_summary(StreamName="py2")["StreamDescriptionSummary"]
    eq(s["OpenShardCount"], 2, "OpenShardCount")
    eq(s["ConsumerCount"], 0, "ConsumerCount")
    eq(s["StreamModeDetails"], {"StreamMode": "PROVISIONED"}, "StreamModeDetails")
    eq(s["MaxRecordSizeInKiB"], 1024, "MaxRecordSizeInKiB")
    shards = k.list_shards(StreamName="py2")["Shards"]
    eq(ids(shards), [shard_id(0), shard_id(1)], "ListShards py2")
    eq(shards[1]["HashKeyRange"]["StartingHashKey"], str(2**127), "second shard's start")

    k.add_tags_to_stream(StreamName="py2", Tags={"team": "storage", "env": "test"})
    tags = k.list_tags_for_stream(StreamName="py2")["Tags"]
    eq(sorted((t["Key"], t["Value"]) for t in tags), [("env", "test"), ("team", "storage")], "tags")
    k.remove_tags_from_stream(StreamName="py2", TagKeys=["env"])
    eq(k.list_tags_for_stream(StreamName="py2")["Tags"], [{"Key": "team", "Value": "storage"}], "tags after remove")

    k.update_max_record_size(StreamARN=arn("py2"), MaxRecordSizeInKiB=2048)
    eq(k.describe_stream_summary(StreamARN=arn("py2"))["StreamDescriptionSummary"]["MaxRecordSizeInKiB"], 2048,
       "MaxRecordSizeInKiB after UpdateMaxRecordSize")
    lim = k.describe_limits()
    eq((lim["ShardLimit"], lim["OpenShardCount"], lim["OnDemandStreamCount"], lim["OnDemandStreamCountLimit"]),
       (500, 4, 0, 50), "DescribeLimits")


def step_puts_and_iterators(k):
    payloads = [bytes(range(256)), b"", b"\x00" * 10, b"hello", "snowman \u2603".encode(), b"\xff\xfe" * 100]
    before = datetime.datetime.now(datetime.timezone.utc)
    seqs = []
    for i, data in enumerate(payloads[:3]):
        r = k.put_record(StreamName="py1", Data=data, PartitionKey=f"k{i}")
        eq(r["ShardId"], shard_id(0), "PutRecord ShardId")
        seqs.append(r["SequenceNumber"])
    time.sleep(0.01)  # AT_TIMESTAMP below needs a millisecond boundary between the two halves
    r = k.put_records(
        StreamName="py1",
        Records=[{"Data": d, "PartitionKey": f"k{i + 3}"} for i, d in enumerate(payloads[3:])],
    )
    eq(r["FailedRecordCount"], 0, "PutRecords FailedRecordCount")
    eq(len(r["Records"]), 3, "PutRecords result count")
    for e in r["Records"]:
        eq(e["ShardId"], shard_id(0), "PutRecords ShardId")
        seqs.append(e["SequenceNumber"])
    after = datetime.datetime.now(datetime.timezone.utc)
    check([int(s) for s in seqs] == sorted(int(s) for s in seqs) and len(set(seqs)) == 6,
          f"sequence numbers increase: {seqs}")

    # TRIM_HORIZON: everything, intact, in order.
    recs, _ = read_to_end(k, iterator(k, "py1", shard_id(0), "TRIM_HORIZON"))
    eq([r["Data"] for r in recs], payloads, "TRIM_HORIZON data")
    eq([r["SequenceNumber"] for r in recs], seqs, "TRIM_HORIZON sequence numbers")
    eq([r["PartitionKey"] for r in recs], [f"k{i}" for i in range(6)], "partition keys")
    slack = datetime.timedelta(seconds=1)
    for r in recs:
        ts = r["ApproximateArrivalTimestamp"]
        check(before - slack <= ts <= after + slack, f"arrival {ts} within [{before}, {after}]")

    # AT_SEQUENCE_NUMBER / AFTER_SEQUENCE_NUMBER.
    recs, _ = read_to_end(k, iterator(k, "py1", shard_id(0), "AT_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[2]))
    eq([r["SequenceNumber"] for r in recs], seqs[2:], "AT_SEQUENCE_NUMBER")
    recs, _ = read_to_end(k, iterator(k, "py1", shard_id(0), "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[2]))
    eq([r["SequenceNumber"] for r in recs], seqs[3:], "AFTER_SEQUENCE_NUMBER")

    # AT_TIMESTAMP: from the first record at or after the given time (boto3 sends epoch seconds).
    all_recs, _ = read_to_end(k, iterator(k, "py1", shard_id(0), "TRIM_HORIZON"))
    t = all_recs[3]["ApproximateArrivalTimestamp"]
    want = [r["SequenceNumber"] for r in all_recs if r["ApproximateArrivalTimestamp"] >= t]
    recs, _ = read_to_end(k, iterator(k, "py1", shard_id(0), "AT_TIMESTAMP", Timestamp=t))
    eq([r["SequenceNumber"] for r in recs], want, "AT_TIMESTAMP")
    check(len(want) < 6, "AT_TIMESTAMP skipped the earlier records")
    recs, _ = read_to_end(k, iterator(k, "py1", shard_id(0), "AT_TIMESTAMP", Timestamp=datetime.datetime(2000, 1, 1)))
    eq(len(recs), 6, "AT_TIMESTAMP before the trim horizon reads from it")

    # LATEST: nothing old; a record put afterwards is the first read.
    latest = iterator(k, "py1", shard_id(0), "LATEST")
    r = k.get_records(ShardIterator=latest)
    eq(r["Records"], [], "LATEST before any new put")
    put = k.put_record(StreamName="py1", Data=b"after-latest", PartitionKey="z")
    recs, _ = read_to_end(k, r["NextShardIterator"])
    eq([(x["Data"], x["SequenceNumber"]) for x in recs], [(b"after-latest", put["SequenceNumber"])], "LATEST")
    recs, _ = read_to_end(k, latest)
    eq([x["Data"] for x in recs], [b"after-latest"], "LATEST iterator frozen at creation")

    # GetRecords Limit and a StreamARN-named iterator.
    it = k.get_shard_iterator(StreamARN=arn("py1"), ShardId=shard_id(0), ShardIteratorType="TRIM_HORIZON")
    r = k.get_records(ShardIterator=it["ShardIterator"], Limit=2, StreamARN=arn("py1"))
    eq([x["Data"] for x in r["Records"]], payloads[:2], "GetRecords Limit=2")
    check(r["MillisBehindLatest"] >= 0, "MillisBehindLatest non-negative")

    # ExplicitHashKey routes to the owning shard.
    r = k.put_records(
        StreamName="py2",
        Records=[
            {"Data": b"low", "PartitionKey": "a", "ExplicitHashKey": "5"},
            {"Data": b"high", "PartitionKey": "a", "ExplicitHashKey": str(MAX_HASH)},
        ],
    )
    eq([e["ShardId"] for e in r["Records"]], [shard_id(0), shard_id(1)], "ExplicitHashKey routing")
    big = bytes(i % 251 for i in range(1536 * 1024))  # over 1 MiB: allowed after UpdateMaxRecordSize 2048
    r = k.put_record(StreamName="py2", Data=big, PartitionKey="big", ExplicitHashKey="7")
    recs, _ = read_to_end(k, iterator(k, "py2", shard_id(0), "AT_SEQUENCE_NUMBER", StartingSequenceNumber=r["SequenceNumber"]))
    eq(len(recs), 1, "one big record")
    check(recs[0]["Data"] == big, "1.5 MiB record read back intact")
    return seqs


def step_reshard(k):
    """py3: split shard 0, then merge its children; read each closed shard to its end."""
    created = k.describe_stream_summary(StreamName="py3")["StreamDescriptionSummary"]["StreamCreationTimestamp"]
    for i in range(5):
        k.put_record(StreamName="py3", Data=f"p0-{i}".encode(), PartitionKey=f"p{i}")
    mid = str(2**127)
    k.split_shard(StreamName="py3", ShardToSplit=shard_id(0), NewStartingHashKey=mid)
    k.get_waiter("stream_exists").wait(StreamName="py3", WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    shards = k.list_shards(StreamName="py3")["Shards"]
    eq(ids(shards), [shard_id(i) for i in range(3)], "shards after split")
    check("EndingSequenceNumber" in shards[0]["SequenceNumberRange"], "parent closed")
    eq(shards[1]["ParentShardId"], shard_id(0), "child 1 parent")
    eq(shards[1]["HashKeyRange"], {"StartingHashKey": "0", "EndingHashKey": str(2**127 - 1)}, "child 1 range")
    eq(shards[2]["HashKeyRange"], {"StartingHashKey": mid, "EndingHashKey": str(MAX_HASH)}, "child 2 range")

    # Writes go to the children now.
    r = k.put_records(
        StreamName="py3",
        Records=[{"Data": b"c1", "PartitionKey": "x", "ExplicitHashKey": "1"},
                 {"Data": b"c2", "PartitionKey": "x", "ExplicitHashKey": mid}],
    )
    eq([e["ShardId"] for e in r["Records"]], [shard_id(1), shard_id(2)], "writes after split")

    # The parent reads to its end: every record, then no NextShardIterator and ChildShards.
    recs, last = read_to_end(k, iterator(k, "py3", shard_id(0), "TRIM_HORIZON"), limit=2)
    eq([x["Data"] for x in recs], [f"p0-{i}".encode() for i in range(5)], "parent records")
    check("NextShardIterator" not in last, "closed shard: NextShardIterator absent at the end")
    check("ChildShards" in last, "closed shard: ChildShards present at the end")
    eq(sorted(c["ShardId"] for c in last["ChildShards"]), [shard_id(1), shard_id(2)], "ChildShards after split")
    for c in last["ChildShards"]:
        eq(c["ParentShards"], [shard_id(0)], "ChildShards parents")

    # Merge the two children.
    k.merge_shards(StreamName="py3", ShardToMerge=shard_id(1), AdjacentShardToMerge=shard_id(2))
    k.get_waiter("stream_exists").wait(StreamName="py3", WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    shards = k.list_shards(StreamName="py3")["Shards"]
    eq(ids(shards), [shard_id(i) for i in range(4)], "shards after merge")
    eq(shards[3]["ParentShardId"], shard_id(1), "merged ParentShardId")
    eq(shards[3]["AdjacentParentShardId"], shard_id(2), "merged AdjacentParentShardId")
    eq(shards[3]["HashKeyRange"], {"StartingHashKey": "0", "EndingHashKey": str(MAX_HASH)}, "merged range")
    put = k.put_record(StreamName="py3", Data=b"merged", PartitionKey="m")
    eq(put["ShardId"], shard_id(3), "writes after merge")
    for child, data in ((1, b"c1"), (2, b"c2")):
        recs, last = read_to_end(k, iterator(k, "py3", shard_id(child), "TRIM_HORIZON"))
        eq([x["Data"] for x in recs], [data], f"shard {child} records")
        check("NextShardIterator" not in last, f"shard {child}: NextShardIterator absent at the end")
        eq(last.get("ChildShards"), [{"ShardId": shard_id(3), "ParentShards": [shard_id(1), shard_id(2)],
                                      "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": str(MAX_HASH)}}],
           f"shard {child} ChildShards")
    recs, last = read_to_end(k, iterator(k, "py3", shard_id(3), "TRIM_HORIZON"))
    eq([x["Data"] for x in recs], [b"merged"], "merged shard records")
    check("NextShardIterator" in last, "open shard keeps a NextShardIterator")
    check("ChildShards" not in last, "open shard has no ChildShards")

    # ListShards filters.
    def listed(**kw):
        return ids(k.list_shards(StreamName="py3", **kw)["Shards"])

    eq(listed(ShardFilter={"Type": "AT_LATEST"}), [shard_id(3)], "AT_LATEST")
    eq(listed(ShardFilter={"Type": "AFTER_SHARD_ID", "ShardId": shard_id(1)}), [shard_id(2), shard_id(3)],
       "AFTER_SHARD_ID")
    eq(listed(ShardFilter={"Type": "FROM_TRIM_HORIZON"}), [shard_id(i) for i in range(4)], "FROM_TRIM_HORIZON")
    eq(listed(ShardFilter={"Type": "AT_TRIM_HORIZON"}), [shard_id(0)], "AT_TRIM_HORIZON")
    now = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1)
    eq(listed(ShardFilter={"Type": "AT_TIMESTAMP", "Timestamp": now}), [shard_id(3)], "AT_TIMESTAMP now")
    eq(listed(ShardFilter={"Type": "AT_TIMESTAMP", "Timestamp": created}), [shard_id(0)], "AT_TIMESTAMP at creation")
    eq(listed(ShardFilter={"Type": "FROM_TIMESTAMP", "Timestamp": now}), [shard_id(3)], "FROM_TIMESTAMP now")
    eq(listed(ExclusiveStartShardId=shard_id(2)), [shard_id(3)], "ExclusiveStartShardId")
    page = k.list_shards(StreamName="py3", MaxResults=3)
    eq(ids(page["Shards"]), [shard_id(i) for i in range(3)], "ListShards page 1")
    rest = k.list_shards(NextToken=page["NextToken"])
    eq(ids(rest["Shards"]), [shard_id(3)], "ListShards page 2 (NextToken alone)")
    check("NextToken" not in rest, "no NextToken after the last page")


def step_retention(k):
    k.increase_stream_retention_period(StreamName="py1", RetentionPeriodHours=48)
    eq(k.describe_stream_summary(StreamName="py1")["StreamDescriptionSummary"]["RetentionPeriodHours"], 48,
       "retention after increase")
    k.decrease_stream_retention_period(StreamARN=arn("py1"), RetentionPeriodHours=24)
    eq(k.describe_stream(StreamName="py1")["StreamDescription"]["RetentionPeriodHours"], 24, "retention after decrease")
    k.increase_stream_retention_period(StreamName="py1", RetentionPeriodHours=48)
    expect_error("InvalidArgumentException", k.increase_stream_retention_period, StreamName="py1",
                 RetentionPeriodHours=36, contains="can not be shorter than existing retention period")
    expect_error("InvalidArgumentException", k.decrease_stream_retention_period, StreamName="py1",
                 RetentionPeriodHours=72, contains="can not be longer than existing retention period")
    k.decrease_stream_retention_period(StreamName="py1", RetentionPeriodHours=24)
    expect_error("InvalidArgumentException", k.decrease_stream_retention_period, StreamName="py1",
                 RetentionPeriodHours=12, contains="Minimum allowed retention period is 24 hours")
    expect_error("InvalidArgumentException", k.increase_stream_retention_period, StreamName="py1",
                 RetentionPeriodHours=9000)
    expect_error("ResourceNotFoundException", k.increase_stream_retention_period, StreamName="gone",
                 RetentionPeriodHours=48)


def events(stream, want_records, deadline_s=30):
    """Collect SubscribeToShardEvents until `want_records` records arrived or the stream ends."""
    got, evs = [], []
    end = time.monotonic() + deadline_s
    for event in stream:
        check(time.monotonic() < end, "subscription delivered too slowly")
        check("SubscribeToShardEvent" in event, f"unexpected event {list(event)}")
        ev = event["SubscribeToShardEvent"]
        # Absent only in the final event of a closed shard, which carries ChildShards instead.
        check(("ContinuationSequenceNumber" in ev) != ("ChildShards" in ev),
              f"ContinuationSequenceNumber xor ChildShards: {sorted(ev)}")
        check(isinstance(ev["MillisBehindLatest"], int), "MillisBehindLatest present")
        evs.append(ev)
        got.extend(ev["Records"])
        if len(got) >= want_records or "ChildShards" in ev:
            break
    return got, evs


def step_fan_out(k, seqs):
    c = k.register_stream_consumer(StreamARN=arn("py1"), ConsumerName="efo1")["Consumer"]
    eq(c["ConsumerStatus"], "ACTIVE", "consumer status")
    check(c["ConsumerARN"].startswith(arn("py1") + "/consumer/efo1:"), f"consumer ARN {c['ConsumerARN']}")
    d = k.describe_stream_consumer(ConsumerARN=c["ConsumerARN"])["ConsumerDescription"]
    eq(d["StreamARN"], arn("py1"), "DescribeStreamConsumer StreamARN")
    d = k.describe_stream_consumer(StreamARN=arn("py1"), ConsumerName="efo1")["ConsumerDescription"]
    eq(d["ConsumerARN"], c["ConsumerARN"], "DescribeStreamConsumer by name")
    eq([x["ConsumerName"] for x in k.list_stream_consumers(StreamARN=arn("py1"))["Consumers"]], ["efo1"],
       "ListStreamConsumers")
    eq(k.describe_stream_summary(StreamName="py1")["StreamDescriptionSummary"]["ConsumerCount"], 1, "ConsumerCount")
    expect_error("ResourceInUseException", k.register_stream_consumer, StreamARN=arn("py1"), ConsumerName="efo1")

    # TRIM_HORIZON: the stored records arrive as events.
    r = k.subscribe_to_shard(ConsumerARN=c["ConsumerARN"], ShardId=shard_id(0),
                             StartingPosition={"Type": "TRIM_HORIZON"})
    stream = r["EventStream"]
    got, evs = events(stream, 7)
    eq([x["SequenceNumber"] for x in got[:6]], seqs, "SubscribeToShard TRIM_HORIZON records")
    eq(got[6]["Data"], b"after-latest", "SubscribeToShard seventh record")
    eq(evs[-1]["ContinuationSequenceNumber"], got[-1]["SequenceNumber"], "ContinuationSequenceNumber")
    # Live: a record put while subscribed arrives on the open stream.
    put = k.put_record(StreamName="py1", Data=b"live", PartitionKey="l")
    got, _ = events(stream, 1)
    eq([(x["Data"], x["SequenceNumber"]) for x in got], [(b"live", put["SequenceNumber"])], "live record")
    # Same consumer and shard again within 5 s: ResourceInUseException.
    expect_error("ResourceInUseException", k.subscribe_to_shard, ConsumerARN=c["ConsumerARN"], ShardId=shard_id(0),
                 StartingPosition={"Type": "LATEST"})
    stream.close()

    # A second consumer on py3: AT_SEQUENCE_NUMBER, then a closed shard ends with ChildShards.
    c2 = k.register_stream_consumer(StreamARN=arn("py3"), ConsumerName="efo2")["Consumer"]
    first = k.get_records(ShardIterator=iterator(k, "py3", shard_id(0), "TRIM_HORIZON"), Limit=2)["Records"]
    r = k.subscribe_to_shard(ConsumerARN=c2["ConsumerARN"], ShardId=shard_id(0),
                             StartingPosition={"Type": "AFTER_SEQUENCE_NUMBER",
                                               "SequenceNumber": first[1]["SequenceNumber"]})
    got, evs = events(r["EventStream"], 10**9)
    eq([x["Data"] for x in got], [f"p0-{i}".encode() for i in range(2, 5)], "subscription to a closed shard")
    check("ChildShards" in evs[-1], "the last event of a closed shard carries ChildShards")
    eq(sorted(x["ShardId"] for x in evs[-1]["ChildShards"]), [shard_id(1), shard_id(2)], "event ChildShards")
    r["EventStream"].close()
    r = k.subscribe_to_shard(ConsumerARN=c2["ConsumerARN"], ShardId=shard_id(3),
                             StartingPosition={"Type": "AT_TIMESTAMP", "Timestamp": datetime.datetime(2000, 1, 1)})
    got, _ = events(r["EventStream"], 1)
    eq([x["Data"] for x in got], [b"merged"], "AT_TIMESTAMP subscription")
    r["EventStream"].close()

    expect_error("ResourceNotFoundException", k.subscribe_to_shard, ConsumerARN=c["ConsumerARN"],
                 ShardId=shard_id(9), StartingPosition={"Type": "LATEST"})
    expect_error("ResourceNotFoundException", k.subscribe_to_shard,
                 ConsumerARN=arn("py1") + "/consumer/nobody:1700000000", ShardId=shard_id(0),
                 StartingPosition={"Type": "LATEST"})
    # A stream with consumers is only deleted with EnforceConsumerDeletion.
    expect_error("ResourceInUseException", k.delete_stream, StreamName="py3")
    k.deregister_stream_consumer(ConsumerARN=c2["ConsumerARN"])


def step_bad_requests(k, unchecked):
    """`unchecked` skips botocore's client-side parameter validation, so the server sees it."""
    expect_error("ResourceNotFoundException", k.describe_stream, StreamName="nope",
                 contains=f"Stream nope under account {ACCOUNT} not found.")
    expect_error("ResourceNotFoundException", k.put_record, StreamName="nope", Data=b"x", PartitionKey="k")
    expect_error("ResourceNotFoundException", k.get_shard_iterator, StreamName="py1", ShardId=shard_id(7),
                 ShardIteratorType="TRIM_HORIZON")
    expect_error("ResourceInUseException", k.create_stream, StreamName="py1", ShardCount=1)
    expect_error("InvalidArgumentException", k.get_records, ShardIterator="not-an-iterator",
                 contains="Invalid ShardIterator")
    good = iterator(k, "py1", shard_id(0), "TRIM_HORIZON")
    garbled = good[:10] + ("A" if good[10] != "A" else "B") + good[11:]
    expect_error("InvalidArgumentException", k.get_records, ShardIterator=garbled)
    expect_error("InvalidArgumentException", k.get_shard_iterator, StreamName="py1", ShardId=shard_id(0),
                 ShardIteratorType="AT_SEQUENCE_NUMBER", contains="StartingSequenceNumber")
    expect_error("InvalidArgumentException", k.get_shard_iterator, StreamName="py1", ShardId=shard_id(0),
                 ShardIteratorType="AT_TIMESTAMP", contains="timestampInMillis")
    expect_error("InvalidArgumentException", k.get_shard_iterator, StreamName="py1", ShardId=shard_id(0),
                 ShardIteratorType="AT_TIMESTAMP", Timestamp=datetime.datetime(2100, 1, 1),
                 contains="cannot be greater than the currentTimestampInMillis")
    expect_error("InvalidArgumentException", k.split_shard, StreamName="py2", ShardToSplit=shard_id(0),
                 NewStartingHashKey="1")
    expect_error("InvalidArgumentException", k.split_shard, StreamName="py3", ShardToSplit=shard_id(0),
                 NewStartingHashKey=str(2**126), contains="already been merged or split")
    k.create_stream(StreamName="py4", ShardCount=3)
    expect_error("InvalidArgumentException", k.merge_shards, StreamName="py4", ShardToMerge=shard_id(0),
                 AdjacentShardToMerge=shard_id(2), contains="not an adjacent pair")
    expect_error("InvalidArgumentException", k.list_shards, StreamName="py3", NextToken="abc",
                 contains="NextToken and StreamName cannot be provided together.")
    expect_error("InvalidArgumentException", k.list_shards, StreamName="py3", ShardFilter={"Type": "AFTER_SHARD_ID"})
    expect_error("InvalidArgumentException", k.list_shards, StreamName="py3", ShardFilter={"Type": "AT_TIMESTAMP"})
    expect_error("InvalidArgumentException", k.put_record, StreamName="py1", Data=b"x", PartitionKey="k",
                 ExplicitHashKey=str(2**128))
    # The model's bound, checked before anything else: a ValidationException (not an
    # InvalidArgumentException about the limit), as AWS answers.
    expect_error("ValidationException", k.get_records, ShardIterator=good, Limit=10001,
                 contains="Value '10001' at 'limit' failed to satisfy constraint: "
                          "Member must have value less than or equal to 10000")
    # Constraint violations botocore does not check itself.
    expect_error("ValidationException", k.create_stream, StreamName="bad name!", ShardCount=1,
                 contains="Member must satisfy regular expression pattern")
    expect_error("ValidationException", k.put_record, StreamName="py1", Data=b"x", PartitionKey="k" * 257)
    expect_error("ValidationException", k.put_record, StreamName="py1", Data=b"x" * (1024 * 1024 + 1),
                 PartitionKey="k")
    expect_error("ValidationException", k.update_max_record_size, StreamARN=arn("py1"), MaxRecordSizeInKiB=10241)
    # And ones it does check, sent anyway.
    expect_error("ValidationException", unchecked.create_stream, StreamName="py5", ShardCount=0,
                 contains="Value '0' at 'shardCount' failed to satisfy constraint")
    expect_error("ValidationException", unchecked.get_shard_iterator, StreamName="py1", ShardId=shard_id(0),
                 ShardIteratorType="SOON", contains="Member must satisfy enum value set")
    expect_error("ValidationException", unchecked.put_records, StreamName="py1", Records=[],
                 contains="Member must have length greater than or equal to 1")
    # The model requires Data; PartitionKey (no longer `required` in the model) is required by
    # the server on streams that route by partition key, checked after the model.
    msg = expect_error("ValidationException", unchecked.put_record, StreamName="py1")
    check(msg == "1 validation error detected: Value null at 'data' failed to satisfy constraint: "
                 "Member must not be null", f"the model's missing member reported: {msg!r}")
    msg = expect_error("ValidationException", unchecked.put_record, StreamName="py1", Data=b"x")
    check("Value null at 'partitionKey' failed to satisfy constraint: Member must not be null" in msg,
          f"the missing partition key reported: {msg!r}")
    expect_error("SerializationException", unchecked.create_stream, StreamName="py5", ShardCount="three")

    # Deleting: with EnforceConsumerDeletion, then the stream is gone.
    k.delete_stream(StreamName="py3", EnforceConsumerDeletion=True)
    k.get_waiter("stream_not_exists").wait(StreamName="py3", WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    expect_error("ResourceNotFoundException", k.describe_stream_summary, StreamName="py3")
    eq(k.list_streams()["StreamNames"], ["py1", "py2", "py4"], "ListStreams after delete")


def main():
    endpoint = sys.argv[1]
    common = dict(endpoint_url=endpoint, region_name=REGION)
    cfg = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30)
    k = boto3.client("kinesis", config=cfg, **common)
    unchecked = boto3.client("kinesis", config=cfg.merge(Config(parameter_validation=False)), **common)
    steps = [
        ("control plane", lambda: step_control_plane(k)),
        ("puts and the five iterator types", lambda: step_puts_and_iterators(k)),
        ("split, merge and ListShards filters", lambda: step_reshard(k)),
        ("retention", lambda: step_retention(k)),
    ]
    state = {}
    for name, fn in steps:
        r = run_step(name, fn)
        if name.startswith("puts"):
            state["seqs"] = r
    run_step("enhanced fan-out (SubscribeToShard)", lambda: step_fan_out(k, state["seqs"]))
    run_step("bad requests", lambda: step_bad_requests(k, unchecked))
    print("scenario: all checks passed", flush=True)


def run_step(name, fn):
    t = time.monotonic()
    try:
        r = fn()
    except Mismatch as e:
        print(f"FAILED in {name}: {e}", flush=True)
        traceback.print_exc(file=sys.stdout, chain=False)
        sys.exit(1)
    except Exception as e:  # an unexpected client error or a crash in the script
        print(f"FAILED in {name}: {type(e).__name__}: {e}", flush=True)
        traceback.print_exc(file=sys.stdout)
        sys.exit(1)
    print(f"ok: {name} ({time.monotonic() - t:.2f} s)", flush=True)
    return r


if __name__ == "__main__":
    main()
