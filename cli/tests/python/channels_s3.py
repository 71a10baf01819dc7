"""Channel delivery from `shardlog serve --s3-endpoint` into moto's S3 server: run by
cli/tests/serve_python.rs.

Usage: channels_s3.py KINESIS_ENDPOINT S3_ENDPOINT OUT_DIR

Creates two buckets in the S3 server, three on-demand streams with an S3 channel each
(GZIP with the default key template, ZSTD, NONE with a custom OutputKeyTemplate; freshness
1 s, undeliverable records to a dead-letter bucket with a prefix), writes JSON records plus
one record that is not JSON to each, waits (bounded) until every object arrived, and copies
every object to OUT_DIR/<bucket>/<key> for the Rust side to decode and check. Then a channel
to a bucket that does not exist must turn FAILED with the S3 error as its reason, which the
ChannelActive waiter reports as a failure. Exits 0 when every check passed.
"""

import json
import os
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import WaiterError

REGION = "us-east-1"
ACCOUNT = "000000000000"
# moto's default account: the owner of the buckets it creates.
S3_ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/delivery"
RECORDS = 20


def fail(what):
    print(f"FAILED: {what}", flush=True)
    sys.exit(1)


def main():
    kinesis_ep, s3_ep, out_dir = sys.argv[1:4]
    cfg = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30)
    k = boto3.client("kinesis", endpoint_url=kinesis_ep, region_name=REGION, config=cfg)
    s3 = boto3.client("s3", endpoint_url=s3_ep, region_name=REGION, config=cfg)
    s3.create_bucket(Bucket="deliveries")
    s3.create_bucket(Bucket="errors")

    channels = []
    for name, compression, template in [
        ("gz", "GZIP", None),
        ("zs", "ZSTD", None),
        ("raw", "NONE", "data/!{stream-name}/!{yyyy}/part!{extension}"),
    ]:
        stream = f"s-{name}"
        k.create_stream(StreamName=stream)
        storage = {
            "BucketARN": "arn:aws:s3:::deliveries",
            "ExpectedBucketOwner": S3_ACCOUNT,
            "CompressionType": compression,
        }
        if template:
            storage["OutputKeyTemplate"] = template
        arn = k.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
        c = k.create_channel(
            ChannelName=f"ch-{name}",
            ServiceExecutionRoleARN=ROLE,
            StreamConfigurationList=[{"StreamARN": arn, "RecordConfiguration": {"RecordFormatType": "JSON"}}],
            S3DestinationConfiguration={
                "DataFreshnessInSeconds": 1,
                "StorageConfiguration": storage,
                "DeadLetterQueueS3Configuration": {
                    "BucketARN": "arn:aws:s3:::errors",
                    "ExpectedBucketOwner": S3_ACCOUNT,
                    "ErrorOutputPrefix": "failed/",
                },
            },
        )["ChannelDescription"]
        k.get_waiter("channel_active").wait(ChannelARN=c["ChannelARN"], WaiterConfig={"Delay": 1, "MaxAttempts": 5})
        records = [{"Data": json.dumps({"n": i, "stream": stream}).encode(), "PartitionKey": f"k{i}"} for i in range(RECORDS)]
        records.append({"Data": b"this is not json", "PartitionKey": "bad"})
        out = k.put_records(StreamName=stream, Records=records)
        if out["FailedRecordCount"] != 0:
            fail(f"put_records to {stream}: {out}")
        channels.append(name)

    # Every channel writes one data object and one error object.
    want = {"deliveries": len(channels), "errors": len(channels)}
    deadline = time.monotonic() + 60
    while True:
        have = {b: s3.list_objects_v2(Bucket=b).get("KeyCount", 0) for b in want}
        if all(have[b] >= n for b, n in want.items()):
            break
        if time.monotonic() > deadline:
            fail(f"objects never arrived: have {have}, want {want}")
        time.sleep(0.2)

    for bucket in want:
        for obj in s3.list_objects_v2(Bucket=bucket)["Contents"]:
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])
            path = os.path.join(out_dir, bucket, obj["Key"])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(body["Body"].read())
            print(f"object: {bucket}/{obj['Key']} {body.get('ContentEncoding', '-')} {body['ContentType']}", flush=True)

    # A bucket that does not exist: the channel turns FAILED with S3's reason.
    k.create_stream(StreamName="s-missing")
    arn = k.describe_stream_summary(StreamName="s-missing")["StreamDescriptionSummary"]["StreamARN"]
    c = k.create_channel(
        ChannelName="ch-missing",
        ServiceExecutionRoleARN=ROLE,
        StreamConfigurationList=[{"StreamARN": arn, "RecordConfiguration": {"RecordFormatType": "STRING"}}],
        S3DestinationConfiguration={
            "DataFreshnessInSeconds": 1,
            "StorageConfiguration": {
                "BucketARN": "arn:aws:s3:::no-such-bucket",
                "ExpectedBucketOwner": S3_ACCOUNT,
                "CompressionType": "NONE",
            },
        },
    )["ChannelDescription"]
    k.put_record(StreamName="s-missing", Data=b"hello", PartitionKey="k")
    deadline = time.monotonic() + 30
    while True:
        d = k.describe_channel(ChannelARN=c["ChannelARN"])["ChannelDescription"]
        if d["ChannelStatus"] == "FAILED":
            break
        if time.monotonic() > deadline:
            fail(f"the channel to a missing bucket never failed: {d['ChannelStatus']}")
        time.sleep(0.2)
    reason = d.get("ChannelStatusReason", "")
    if "NoSuchBucket" not in reason:
        fail(f"ChannelStatusReason {reason!r} does not name NoSuchBucket")
    try:
        k.get_waiter("channel_active").wait(ChannelARN=c["ChannelARN"], WaiterConfig={"Delay": 1, "MaxAttempts": 2})
        fail("the ChannelActive waiter accepted a FAILED channel")
    except WaiterError:
        pass
    listed = {s["ChannelName"]: s for s in k.list_channels()["ChannelSummaries"]}
    if listed["ch-missing"].get("ChannelStatusReason") != reason:
        fail("ListChannels does not show the failure reason")
    print(f"failed channel: {reason}", flush=True)
    print("channels_s3: all checks passed", flush=True)


if __name__ == "__main__":
    main()
