"""Every operation of the current Kinesis model (botocore 1.44.18) except the 12 queue
operations, through boto3 against `shardlog serve`: run by cli/tests/serve_python.rs.

Usage: all_ops.py ENDPOINT_URL

Part 1 calls each of the 45 operations with valid input and checks the parsed response.
Part 2 calls each with invalid input and checks the error code and message. Prints one line
per operation and exits 0 when every check passed, 1 naming the failed check otherwise.
"""

import datetime
import json
import sys
import time
import traceback

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from checks import Mismatch, check, eq

ACCOUNT = "000000000000"
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/channel-role"
POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "readers",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": ["kinesis:GetRecords", "kinesis:GetShardIterator"],
                "Resource": "*",
            }
        ],
    },
    indent=2,
)


CALLED = set()


def call(client, op, **kwargs):
    """Call a boto3 method named after the operation and record it as covered."""
    CALLED.add(op)
    return getattr(client, snake(op))(**kwargs)


def snake(op):
    out = ""
    for i, ch in enumerate(op):
        if ch.isupper() and i > 0 and not op[i - 1].isupper():
            out += "_"
        elif ch.isupper() and i > 0 and i + 1 < len(op) and op[i + 1].islower() and op[i - 1].isupper():
            out += "_"
        out += ch.lower()
    return out


ERRORS = {}


def expect_error(client, op, code, contains, **kwargs):
    """Call the operation and require a ClientError with this code whose message holds
    `contains`."""
    try:
        getattr(client, snake(op))(**kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        msg = e.response["Error"].get("Message", "")
        if got != code:
            raise Mismatch(f"{op}{kwargs}: got {got} ({msg!r}), want {code}")
        eq(e.response["ResponseMetadata"]["HTTPStatusCode"], 400, f"{op}: HTTP status of {code}")
        if contains not in msg:
            raise Mismatch(f"{op}: message {msg!r} lacks {contains!r}")
        ERRORS[op] = (code, msg)
        return msg
    raise Mismatch(f"{op}{kwargs}: succeeded, want {code}")


def arn(stream):
    return f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{stream}"


def s3_destination(bucket="deliveries", freshness=300, compression="GZIP"):
    return {
        "DataFreshnessInSeconds": freshness,
        "StorageConfiguration": {
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "ExpectedBucketOwner": ACCOUNT,
            "CompressionType": compression,
        },
    }


def part_valid(k):
    # --- Account settings
    a = call(k, "DescribeAccountSettings")["MinimumThroughputBillingCommitment"]
    eq(a, {"Status": "DISABLED"}, "DescribeAccountSettings of a new account")
    a = call(k, "UpdateAccountSettings", MinimumThroughputBillingCommitment={"Status": "ENABLED"})
    a = a["MinimumThroughputBillingCommitment"]
    eq(a["Status"], "ENABLED", "UpdateAccountSettings status")
    check(isinstance(a["StartedAt"], datetime.datetime), "StartedAt is a timestamp")
    eq(a["EarliestAllowedEndAt"] - a["StartedAt"], datetime.timedelta(hours=24), "EarliestAllowedEndAt")

    # --- Streams: on-demand by default, provisioned with a shard count
    call(k, "CreateStream", StreamName="od")
    call(k, "CreateStream", StreamName="prov", ShardCount=2, Tags={"team": "a"})
    call(k, "CreateStream", StreamName="warm", StreamModeDetails={"StreamMode": "ON_DEMAND"}, WarmThroughputMiBps=8,
         RecordDistributionStrategy="AUTO")
    k.get_waiter("stream_exists").wait(StreamName="od", WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    d = call(k, "DescribeStream", StreamName="od")["StreamDescription"]
    eq(d["StreamModeDetails"], {"StreamMode": "ON_DEMAND"}, "CreateStream without ShardCount is on-demand")
    eq(len(d["Shards"]), 4, "on-demand streams start with 4 shards")
    eq(d["EncryptionType"], "NONE", "EncryptionType")
    eq(d["EnhancedMonitoring"], [{"ShardLevelMetrics": []}], "EnhancedMonitoring")
    s = call(k, "DescribeStreamSummary", StreamName="od")["StreamDescriptionSummary"]
    eq(s["OpenShardCount"], 4, "OpenShardCount")
    check(len(s["StreamId"]) == 24 and s["StreamId"][20] == "-", f"StreamId {s['StreamId']!r}")
    eq(s["RecordDistributionStrategy"], "USER_PARTITION_KEY", "default RecordDistributionStrategy")
    eq((s["ConsumerCount"], s["ChannelCount"], s["QueueCount"]), (0, 0, 0), "counts")
    ws = call(k, "DescribeStreamSummary", StreamName="warm")["StreamDescriptionSummary"]
    eq(ws["WarmThroughput"], {"TargetMiBps": 8, "CurrentMiBps": 8}, "WarmThroughput at creation")
    eq(ws["RecordDistributionStrategy"], "AUTO", "AUTO at creation")
    ps = call(k, "DescribeStreamSummary", StreamName="prov")["StreamDescriptionSummary"]
    check("RecordDistributionStrategy" not in ps, "no RecordDistributionStrategy on provisioned streams")
    check(ps["StreamId"] != s["StreamId"], "stream ids differ")
    eq(call(k, "ListStreams")["StreamNames"], ["od", "prov", "warm"], "ListStreams")
    eq(len(call(k, "ListShards", StreamName="prov")["Shards"]), 2, "ListShards")
    lim = call(k, "DescribeLimits")
    eq((lim["OnDemandStreamCount"], lim["OnDemandStreamCountLimit"], lim["OpenShardCount"]), (2, 50, 10), "DescribeLimits")
    eq((lim["ChannelCount"], lim["ChannelCountLimit"]), (0, 50), "DescribeLimits channels")

    # --- Tags on streams
    call(k, "AddTagsToStream", StreamName="prov", Tags={"env": "test"})
    call(k, "RemoveTagsFromStream", StreamName="prov", TagKeys=["team"])
    eq(call(k, "ListTagsForStream", StreamName="prov")["Tags"], [{"Key": "env", "Value": "test"}], "ListTagsForStream")

    # --- Data plane, with DryRun
    put = call(k, "PutRecord", StreamName="od", Data=b"one", PartitionKey="k1")
    # As AWS: puts leave EncryptionType out on unencrypted streams (descriptions say NONE).
    check("EncryptionType" not in put, f"PutRecord on an unencrypted stream has no EncryptionType: {put}")
    expect_error(k, "PutRecord", "DryRunOperationException", "DryRun flag is set",
                 StreamName="od", Data=b"x", PartitionKey="k1", DryRun=True)
    puts = call(k, "PutRecords", StreamName="od", Records=[{"Data": b"two", "PartitionKey": "k1"}])
    eq(puts["FailedRecordCount"], 0, "PutRecords")
    expect_error(k, "PutRecords", "DryRunOperationException", "DryRun",
                 StreamName="od", Records=[{"Data": b"x", "PartitionKey": "k"}], DryRun=True)
    it = call(k, "GetShardIterator", StreamName="od", ShardId=put["ShardId"], ShardIteratorType="TRIM_HORIZON")
    expect_error(k, "GetShardIterator", "DryRunOperationException", "DryRun", StreamName="od",
                 ShardId=put["ShardId"], ShardIteratorType="TRIM_HORIZON", DryRun=True)
    got = call(k, "GetRecords", ShardIterator=it["ShardIterator"])
    eq([r["Data"] for r in got["Records"]], [b"one", b"two"], "GetRecords: the dry runs wrote nothing")
    expect_error(k, "GetRecords", "DryRunOperationException", "DryRun", ShardIterator=it["ShardIterator"], DryRun=True)

    # --- Resharding (provisioned) and retention
    call(k, "SplitShard", StreamName="prov", ShardToSplit="shardId-000000000000",
         NewStartingHashKey=str(2**126))
    call(k, "MergeShards", StreamName="prov", ShardToMerge="shardId-000000000002",
         AdjacentShardToMerge="shardId-000000000003")
    u = call(k, "UpdateShardCount", StreamName="prov", TargetShardCount=4, ScalingType="UNIFORM_SCALING")
    eq((u["CurrentShardCount"], u["TargetShardCount"]), (2, 4), "UpdateShardCount")
    call(k, "IncreaseStreamRetentionPeriod", StreamName="prov", RetentionPeriodHours=48)
    call(k, "DecreaseStreamRetentionPeriod", StreamName="prov", RetentionPeriodHours=24)
    call(k, "UpdateMaxRecordSize", StreamARN=arn("prov"), MaxRecordSizeInKiB=2048)
    eq(call(k, "DescribeStreamSummary", StreamName="prov")["StreamDescriptionSummary"]["MaxRecordSizeInKiB"], 2048,
       "UpdateMaxRecordSize")

    # --- Consumers (with tags), SubscribeToShard (DryRun, then a real one)
    c = call(k, "RegisterStreamConsumer", StreamARN=arn("od"), ConsumerName="c1", Tags={"owner": "me"})["Consumer"]
    eq(c["ConsumerStatus"], "ACTIVE", "RegisterStreamConsumer")
    carn = c["ConsumerARN"]
    eq(call(k, "DescribeStreamConsumer", ConsumerARN=carn)["ConsumerDescription"]["ConsumerName"], "c1",
       "DescribeStreamConsumer")
    eq([x["ConsumerName"] for x in call(k, "ListStreamConsumers", StreamARN=arn("od"))["Consumers"]], ["c1"],
       "ListStreamConsumers")
    expect_error(k, "SubscribeToShard", "DryRunOperationException", "DryRun", ConsumerARN=carn,
                 ShardId=put["ShardId"], StartingPosition={"Type": "TRIM_HORIZON"}, DryRun=True)
    sub = call(k, "SubscribeToShard", ConsumerARN=carn, ShardId=put["ShardId"], StartingPosition={"Type": "TRIM_HORIZON"})
    for event in sub["EventStream"]:
        ev = event["SubscribeToShardEvent"]
        eq([r["Data"] for r in ev["Records"]], [b"one", b"two"], "SubscribeToShard records")
        break
    sub["EventStream"].close()

    # --- Tags and policies by ARN (stream and consumer)
    call(k, "TagResource", ResourceARN=arn("od"), Tags={"a": "1", "b": "2"})
    call(k, "UntagResource", ResourceARN=arn("od"), TagKeys=["b"])
    eq(call(k, "ListTagsForResource", ResourceARN=arn("od"))["Tags"], [{"Key": "a", "Value": "1"}], "stream tags")
    call(k, "TagResource", ResourceARN=carn, Tags={"extra": "x y:z"})
    eq(call(k, "ListTagsForResource", ResourceARN=carn)["Tags"],
       [{"Key": "extra", "Value": "x y:z"}, {"Key": "owner", "Value": "me"}], "consumer tags")
    eq(call(k, "GetResourcePolicy", ResourceARN=arn("od"))["Policy"], "{}", "no policy yet: {}")
    call(k, "PutResourcePolicy", ResourceARN=arn("od"), Policy=POLICY)
    eq(call(k, "GetResourcePolicy", ResourceARN=arn("od"))["Policy"], POLICY, "policy stored byte-identical")
    call(k, "PutResourcePolicy", ResourceARN=carn, Policy=POLICY)
    eq(k.get_resource_policy(ResourceARN=carn)["Policy"], POLICY, "consumer policy")
    call(k, "DeleteResourcePolicy", ResourceARN=arn("od"))
    eq(k.get_resource_policy(ResourceARN=arn("od"))["Policy"], "{}", "deleted policy: {}")
    call(k, "DeregisterStreamConsumer", ConsumerARN=carn)

    # --- Capacity: record distribution, warm throughput, mode switches
    call(k, "UpdateStreamRecordDistributionStrategy", StreamARN=arn("od"), RecordDistributionStrategy="AUTO")
    auto = k.put_records(StreamName="od", Records=[{"Data": b"auto-%d" % i} for i in range(8)])
    eq(auto["FailedRecordCount"], 0, "AUTO puts without PartitionKey")
    eq(len({r["ShardId"] for r in auto["Records"]}), 4, "AUTO spreads records over every open shard")
    eq(k.put_record(StreamName="od", Data=b"auto-single")["SequenceNumber"][:2] in ("49", "50"), True,
       "PutRecord without PartitionKey on AUTO")
    shard = auto["Records"][0]["ShardId"]
    it = k.get_shard_iterator(StreamName="od", ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    recs = [r for r in k.get_records(ShardIterator=it)["Records"] if r["Data"].startswith(b"auto-")]
    check(recs and all("PartitionKey" not in r for r in recs), "AUTO records without a key have no PartitionKey")
    call(k, "UpdateStreamRecordDistributionStrategy", StreamARN=arn("od"), RecordDistributionStrategy="USER_PARTITION_KEY")
    w = call(k, "UpdateStreamWarmThroughput", StreamName="od", WarmThroughputMiBps=16)
    eq(w["WarmThroughput"], {"TargetMiBps": 16, "CurrentMiBps": 16}, "UpdateStreamWarmThroughput")
    eq((w["StreamName"], w["StreamARN"]), ("od", arn("od")), "UpdateStreamWarmThroughput names")
    call(k, "CreateStream", StreamName="mode", ShardCount=1)
    call(k, "UpdateStreamMode", StreamARN=arn("mode"), StreamModeDetails={"StreamMode": "ON_DEMAND"},
         WarmThroughputMiBps=4)
    eq(k.describe_stream_summary(StreamName="mode")["StreamDescriptionSummary"]["StreamModeDetails"],
       {"StreamMode": "ON_DEMAND"}, "UpdateStreamMode to ON_DEMAND")
    call(k, "UpdateStreamMode", StreamARN=arn("mode"), StreamModeDetails={"StreamMode": "PROVISIONED"})

    # --- Encryption
    call(k, "StartStreamEncryption", StreamName="od", EncryptionType="KMS", KeyId="alias/aws/kinesis")
    s = k.describe_stream_summary(StreamName="od")["StreamDescriptionSummary"]
    eq((s["EncryptionType"], s["KeyId"]), ("KMS", "alias/aws/kinesis"), "StartStreamEncryption")
    eq(k.describe_stream(StreamName="od")["StreamDescription"]["KeyId"], "alias/aws/kinesis", "DescribeStream KeyId")
    enc = k.put_record(StreamName="od", Data=b"secret", PartitionKey="k1")
    eq(enc["EncryptionType"], "KMS", "PutRecord on an encrypted stream")
    it = k.get_shard_iterator(StreamName="od", ShardId=enc["ShardId"], ShardIteratorType="AT_SEQUENCE_NUMBER",
                              StartingSequenceNumber=enc["SequenceNumber"])["ShardIterator"]
    r = k.get_records(ShardIterator=it)["Records"][0]
    eq((r["Data"], r.get("EncryptionType")), (b"secret", "KMS"), "records of an encrypted stream")
    call(k, "StopStreamEncryption", StreamName="od", EncryptionType="KMS", KeyId="alias/aws/kinesis")
    eq(k.describe_stream_summary(StreamName="od")["StreamDescriptionSummary"]["EncryptionType"], "NONE",
       "StopStreamEncryption")

    # --- Enhanced monitoring
    m = call(k, "EnableEnhancedMonitoring", StreamName="od", ShardLevelMetrics=["IncomingBytes", "OutgoingRecords"])
    eq((m["CurrentShardLevelMetrics"], m["DesiredShardLevelMetrics"]), ([], ["IncomingBytes", "OutgoingRecords"]),
       "EnableEnhancedMonitoring")
    eq(m["StreamARN"], arn("od"), "EnhancedMonitoringOutput StreamARN")
    m = call(k, "DisableEnhancedMonitoring", StreamName="od", ShardLevelMetrics=["ALL"])
    eq((m["CurrentShardLevelMetrics"], m["DesiredShardLevelMetrics"]), (["IncomingBytes", "OutgoingRecords"], []),
       "DisableEnhancedMonitoring ALL")

    # --- Channels
    ch = call(k, "CreateChannel", ChannelName="deliver", ServiceExecutionRoleARN=ROLE,
              StreamConfigurationList=[{"StreamARN": arn("od"), "RecordConfiguration": {"RecordFormatType": "JSON"}}],
              S3DestinationConfiguration=s3_destination(), Tags={"k": "v"})["ChannelDescription"]
    eq(ch["ChannelStatus"], "ACTIVE", "CreateChannel status without modelled delays")
    carn = ch["ChannelARN"]
    check(carn.startswith(f"arn:aws:kinesis:{REGION}:{ACCOUNT}:channel/"), f"ChannelARN {carn}")
    k.get_waiter("channel_active").wait(ChannelARN=carn, WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    d = call(k, "DescribeChannel", ChannelARN=carn)["ChannelDescription"]
    eq(d["S3DestinationConfiguration"]["DataFreshnessInSeconds"], 300, "DescribeChannel freshness")
    eq(d["S3DestinationConfiguration"]["DeadLetterQueueS3Configuration"]["BucketARN"], "arn:aws:s3:::deliveries",
       "the dead-letter bucket defaults to the destination")
    eq(d["StreamConfigurationList"][0]["StreamARN"], arn("od"), "DescribeChannel stream")
    eq(d["LoggingConfiguration"]["CloudWatchLogs"]["Enabled"], False, "logging off by default")
    tables = call(k, "CreateChannel", ChannelName="tables", ServiceExecutionRoleARN=ROLE,
                  StreamConfigurationList=[{"StreamARN": arn("od"), "RecordConfiguration": {
                      "RecordFormatType": "GSR_JSON",
                      "GSRSchemaARN": f"arn:aws:glue:{REGION}:{ACCOUNT}:schema/reg/sch"}}],
                  S3TablesDestinationConfiguration={
                      "DeadLetterQueueS3Configuration": {"BucketARN": "arn:aws:s3:::errors", "ExpectedBucketOwner": ACCOUNT},
                      "S3TablesConfigurationList": [{
                          "TableBucketARN": f"arn:aws:s3tables:{REGION}:{ACCOUNT}:bucket/tbl",
                          "Namespace": "ns", "TableName": "events", "CompressionType": "ZSTD",
                          "PartitionSpec": {"PartitionFields": [{"Transform": "TIME_HOUR", "SourceName": "ts"}]}}]},
                  )["ChannelDescription"]
    eq(tables["S3TablesDestinationConfiguration"]["S3TablesConfigurationList"][0]["TableName"], "events", "S3 Tables")
    listed = call(k, "ListChannels")["ChannelSummaries"]
    eq([(c["ChannelName"], c["ChannelDestinationType"]) for c in listed], [("deliver", "S3"), ("tables", "S3_TABLES")],
       "ListChannels")
    eq(len(k.list_channels(StreamFilter=[{"StreamARN": arn("prov")}])["ChannelSummaries"]), 0, "ListChannels filter")
    eq(k.describe_stream_summary(StreamName="od")["StreamDescriptionSummary"]["ChannelCount"], 2, "ChannelCount")
    eq(k.describe_limits()["ChannelCount"], 2, "DescribeLimits ChannelCount")
    call(k, "TagResource", ResourceARN=carn, Tags={"more": "tags"})
    eq(k.list_tags_for_resource(ResourceARN=carn)["Tags"], [{"Key": "k", "Value": "v"}, {"Key": "more", "Value": "tags"}],
       "channel tags")
    u = call(k, "UpdateChannel", ChannelARN=carn, S3DestinationConfiguration={"DataFreshnessInSeconds": 600},
             LoggingConfiguration={"CloudWatchLogs": {"Enabled": True}})["ChannelDescription"]
    eq(u["S3DestinationConfiguration"]["DataFreshnessInSeconds"], 600, "UpdateChannel freshness")
    eq(u["LoggingConfiguration"]["CloudWatchLogs"]["Enabled"], True, "UpdateChannel logging")
    check(u["LoggingConfiguration"]["CloudWatchLogs"]["LogGroupName"].startswith("/aws/kinesis/deliver/"),
          "default log group")
    call(k, "DeleteChannel", ChannelARN=carn)
    k.delete_channel(ChannelARN=tables["ChannelARN"])
    eq(k.list_channels()["ChannelSummaries"], [], "channels deleted")

    # --- Account commitment off again (within 24 h: scheduled), and delete a stream
    a = k.update_account_settings(MinimumThroughputBillingCommitment={"Status": "DISABLED"})
    eq(a["MinimumThroughputBillingCommitment"]["Status"], "ENABLED_UNTIL_EARLIEST_ALLOWED_END", "pending disable")
    call(k, "DeleteStream", StreamName="mode")
    k.get_waiter("stream_not_exists").wait(StreamName="mode", WaiterConfig={"Delay": 1, "MaxAttempts": 10})


def part_invalid(k, unchecked):
    """One invalid call per operation: the error code and Kinesis' message."""
    u = unchecked
    carn_bad = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:channel/nope"
    cases = [
        ("UpdateAccountSettings", "ValidationException", "Member must satisfy enum value set: [ENABLED, DISABLED]",
         dict(MinimumThroughputBillingCommitment={"Status": "SOMETIMES"})),
        ("CreateStream", "ValidationException", "Member must have value greater than or equal to 1",
         dict(StreamName="bad", ShardCount=0)),
        ("DeleteStream", "ResourceNotFoundException", "Stream nope under account 000000000000 not found.",
         dict(StreamName="nope")),
        ("DescribeStream", "ResourceNotFoundException", "Stream nope under account", dict(StreamName="nope")),
        ("DescribeStreamSummary", "ValidationException", "Either StreamName or StreamARN must be provided.", {}),
        ("ListStreams", "ValidationException", "Member must have value greater than or equal to 1", dict(Limit=0)),
        ("ListShards", "InvalidArgumentException", "NextToken", dict(StreamName="od", NextToken="abc")),
        ("AddTagsToStream", "InvalidArgumentException", "Some tags contain invalid characters.",
         dict(StreamName="od", Tags={"aws:x": "1"})),
        ("RemoveTagsFromStream", "ValidationException", "Member must have length greater than or equal to 1",
         dict(StreamName="od", TagKeys=[])),
        ("ListTagsForStream", "ValidationException", "Member must have value less than or equal to 50",
         dict(StreamName="od", Limit=51)),
        ("PutRecord", "ValidationException", "Value null at 'partitionKey' failed to satisfy constraint: Member must not be null",
         dict(StreamName="od", Data=b"x")),
        ("PutRecords", "ValidationException", "Value null at 'records.1.member.partitionKey'",
         dict(StreamName="od", Records=[{"Data": b"x"}])),
        ("GetShardIterator", "ResourceNotFoundException", "Shard shardId-000000000099 in stream od",
         dict(StreamName="od", ShardId="shardId-000000000099", ShardIteratorType="LATEST")),
        ("GetRecords", "InvalidArgumentException", "Invalid ShardIterator", dict(ShardIterator="garbage")),
        ("SplitShard", "ValidationException", "not supported for streams in ON_DEMAND capacity mode",
         dict(StreamName="od", ShardToSplit="shardId-000000000000", NewStartingHashKey="5")),
        ("MergeShards", "ValidationException", "not supported for streams in ON_DEMAND capacity mode",
         dict(StreamName="od", ShardToMerge="shardId-000000000000", AdjacentShardToMerge="shardId-000000000001")),
        ("UpdateShardCount", "ValidationException", "not supported for streams in ON_DEMAND capacity mode",
         dict(StreamName="od", TargetShardCount=5, ScalingType="UNIFORM_SCALING")),
        ("IncreaseStreamRetentionPeriod", "InvalidArgumentException", "8761",
         dict(StreamName="od", RetentionPeriodHours=8761)),
        ("DecreaseStreamRetentionPeriod", "InvalidArgumentException", "23",
         dict(StreamName="od", RetentionPeriodHours=23)),
        ("UpdateMaxRecordSize", "ValidationException", "Member must have value less than or equal to 10240",
         dict(StreamARN=arn("od"), MaxRecordSizeInKiB=10241)),
        ("RegisterStreamConsumer", "ValidationException", "Member must satisfy regular expression pattern",
         dict(StreamARN=arn("od"), ConsumerName="bad name")),
        ("DeregisterStreamConsumer", "ResourceNotFoundException", "not found",
         dict(StreamARN=arn("od"), ConsumerName="ghost")),
        ("DescribeStreamConsumer", "InvalidArgumentException", "Either ConsumerARN, or both StreamARN and ConsumerName",
         dict(ConsumerName="ghost")),
        ("ListStreamConsumers", "ResourceNotFoundException", "Stream nope under account", dict(StreamARN=arn("nope"))),
        ("SubscribeToShard", "ValidationException", "consumerARN",
         dict(ConsumerARN="not-an-arn", ShardId="shardId-000000000000", StartingPosition={"Type": "LATEST"})),
        ("UpdateStreamMode", "InvalidArgumentException", "already in ON_DEMAND mode",
         dict(StreamARN=arn("od"), StreamModeDetails={"StreamMode": "ON_DEMAND"})),
        ("UpdateStreamWarmThroughput", "ValidationException", "only for streams in ON_DEMAND capacity mode",
         dict(StreamName="prov", WarmThroughputMiBps=10)),
        ("UpdateStreamRecordDistributionStrategy", "InvalidArgumentException", "only for streams in ON_DEMAND capacity mode",
         dict(StreamARN=arn("prov"), RecordDistributionStrategy="AUTO")),
        ("StartStreamEncryption", "InvalidArgumentException", "Invalid KeyId not-a-key",
         dict(StreamName="od", EncryptionType="KMS", KeyId="not-a-key")),
        ("StopStreamEncryption", "InvalidArgumentException", "is not encrypted",
         dict(StreamName="od", EncryptionType="KMS", KeyId="alias/aws/kinesis")),
        ("EnableEnhancedMonitoring", "ValidationException", "Member must satisfy enum value set",
         dict(StreamName="od", ShardLevelMetrics=["Bogus"])),
        ("DisableEnhancedMonitoring", "ValidationException", "Member must have length greater than or equal to 1",
         dict(StreamName="od", ShardLevelMetrics=[])),
        ("TagResource", "ValidationException", "Member must satisfy regular expression pattern",
         dict(ResourceARN="arn:aws:sqs:us-east-1:000000000000:q", Tags={"a": "b"})),
        ("UntagResource", "ResourceNotFoundException", "not found",
         dict(ResourceARN=arn("nope"), TagKeys=["a"])),
        ("ListTagsForResource", "ResourceNotFoundException", "Queue",
         dict(ResourceARN=f"arn:aws:kinesis:{REGION}:{ACCOUNT}:queue/q1")),
        ("PutResourcePolicy", "InvalidArgumentException", "Invalid policy document",
         dict(ResourceARN=arn("od"), Policy="{not json")),
        ("GetResourcePolicy", "ResourceNotFoundException", "not found", dict(ResourceARN=arn("nope"))),
        ("DeleteResourcePolicy", "ValidationException", "Value null at 'resourceARN'", {}),
        ("CreateChannel", "ValidationException", "Channels need a stream in ON_DEMAND capacity mode",
         dict(ChannelName="c", ServiceExecutionRoleARN=ROLE,
              StreamConfigurationList=[{"StreamARN": arn("prov"), "RecordConfiguration": {"RecordFormatType": "JSON"}}],
              S3DestinationConfiguration=s3_destination())),
        ("DescribeChannel", "ResourceNotFoundException", f"Channel {carn_bad} not found.", dict(ChannelARN=carn_bad)),
        ("ListChannels", "ValidationException", "Member must have value greater than or equal to 1", dict(MaxResults=0)),
        ("UpdateChannel", "ResourceNotFoundException", "not found",
         dict(ChannelARN=carn_bad, S3DestinationConfiguration={"DataFreshnessInSeconds": 400})),
        ("DeleteChannel", "ValidationException", "Member must satisfy regular expression pattern",
         dict(ChannelARN="arn:aws:kinesis:us-east-1:000000000000:stream/x")),
    ]
    for op, code, contains, kwargs in cases:
        expect_error(u, op, code, contains, **kwargs)
    # Two more checks that need state: a third mode switch in 24 hours, and a second S3
    # channel on one stream.
    k.create_stream(StreamName="twice", ShardCount=1)
    for mode in ("ON_DEMAND", "PROVISIONED"):
        k.update_stream_mode(StreamARN=arn("twice"), StreamModeDetails={"StreamMode": mode})
    expect_error(k, "UpdateStreamMode", "LimitExceededException", "2 times in the last 24 hours",
                 StreamARN=arn("twice"), StreamModeDetails={"StreamMode": "ON_DEMAND"})
    first = k.create_channel(ChannelName="one", ServiceExecutionRoleARN=ROLE,
                             StreamConfigurationList=[{"StreamARN": arn("od"), "RecordConfiguration": {"RecordFormatType": "JSON"}}],
                             S3DestinationConfiguration=s3_destination())["ChannelDescription"]
    expect_error(k, "CreateChannel", "LimitExceededException", "at most 2 channels",
                 ChannelName="two", ServiceExecutionRoleARN=ROLE,
                 StreamConfigurationList=[{"StreamARN": arn("od"), "RecordConfiguration": {"RecordFormatType": "JSON"}}],
                 S3DestinationConfiguration=s3_destination())
    expect_error(k, "DeleteStream", "ResourceInUseException", "channel", StreamName="od")
    k.delete_channel(ChannelARN=first["ChannelARN"])


def list_body_ops(client):
    """DescribeLimits and DescribeAccountSettings take no members: the only invalid input
    they can get is a body that is not a structure. A hook swaps the request body for `[]`
    before botocore signs it."""

    def list_body(request, **_):
        request.data = b"[]"

    for op in ("DescribeLimits", "DescribeAccountSettings"):
        client.meta.events.register(f"before-sign.kinesis.{op}", list_body)
        expect_error(client, op, "SerializationException", "Start of list found where not expected")


def main():
    endpoint = sys.argv[1]
    common = dict(endpoint_url=endpoint, region_name=REGION)
    cfg = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30)
    k = boto3.client("kinesis", config=cfg, **common)
    unchecked = boto3.client("kinesis", config=cfg.merge(Config(parameter_validation=False)), **common)
    model_ops = set(k.meta.service_model.operation_names)
    queue_ops = {op for op in model_ops if "Queue" in op}
    eq(len(model_ops), 57, "operations in the model")
    eq(len(queue_ops), 12, "queue operations")
    steps = [
        ("valid input", lambda: part_valid(k)),
        ("invalid input", lambda: part_invalid(k, unchecked)),
        ("invalid input without members", lambda: list_body_ops(boto3.client("kinesis", config=cfg, **common))),
    ]
    for name, fn in steps:
        t = time.monotonic()
        try:
            fn()
        except Mismatch as e:
            print(f"FAILED in {name}: {e}", flush=True)
            traceback.print_exc(file=sys.stdout, chain=False)
            sys.exit(1)
        except Exception as e:
            print(f"FAILED in {name}: {type(e).__name__}: {e}", flush=True)
            traceback.print_exc(file=sys.stdout)
            sys.exit(1)
        print(f"ok: {name} ({time.monotonic() - t:.2f} s)", flush=True)
    want = model_ops - queue_ops
    missing_valid = sorted(want - CALLED)
    missing_invalid = sorted(want - set(ERRORS))
    if missing_valid or missing_invalid:
        print(f"FAILED: not called with valid input: {missing_valid}; not called with invalid input: {missing_invalid}")
        sys.exit(1)
    for op in sorted(want):
        print(f"covered: {op}: valid, and invalid -> {ERRORS[op][0]}", flush=True)
    print(f"all_ops: all checks passed ({len(want)} operations)", flush=True)


if __name__ == "__main__":
    main()
