"""The 12 queue operations of the Kinesis model (botocore 1.44.18) through boto3 against
`shardlog serve`, with the engine on a manual clock: run by cli/tests/serve_python.rs.

Usage: queues.py ENDPOINT_URL

Time moves only when this script asks: it prints `CLOCK <milliseconds>` and waits for the
test to answer `ok` on stdin after advancing the server's engine clock, so visibility
timeouts and dead-lettering happen exactly when the script says, with no sleeping.

Covers every queue operation with valid input (parsed responses checked) and invalid input
(error codes checked): the dead-letter lifecycle driven by the engine clock, visibility
changes, restore resetting the receive count, deletes invalidating handles, tags and
policies on queue ARNs, QueueCount, the stream refusals and the queue metrics.
"""

import datetime
import json
import re
import sys
import traceback
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from checks import Mismatch, check, eq

ACCOUNT = "000000000000"
REGION = "us-east-1"
CALLED = set()
INVALID = set()


def advance(ms):
    """Ask the test to move the server's engine clock forward."""
    print(f"CLOCK {ms}", flush=True)
    answer = sys.stdin.readline().strip()
    eq(answer, "ok", "clock answer")


def call(client, op, **kwargs):
    CALLED.add(op)
    method = "".join("_" + c.lower() if c.isupper() else c for c in op).lstrip("_")
    return getattr(client, method)(**kwargs)


def expect_error(client, op, code, **kwargs):
    try:
        call(client, op, **kwargs)
    except ClientError as e:
        eq(e.response["Error"]["Code"], code, f"{op} error code")
        INVALID.add(op)
        return e.response["Error"].get("Message", "")
    raise Mismatch(f"{op} with invalid input succeeded")


def receive(k, arn, op="ReceiveQueueRecords", **kw):
    return call(k, op, QueueARN=arn, WaitTimeSeconds=1, **kw)["QueueRecords"]


def entries(records, **extra):
    return [dict(ReceiptHandle=r["ReceiptHandle"], **extra) for r in records]


def main():
    endpoint = sys.argv[1]
    cfg = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=60)
    k = boto3.client("kinesis", config=cfg, endpoint_url=endpoint, region_name=REGION)
    unchecked = boto3.client(
        "kinesis", config=cfg.merge(Config(parameter_validation=False)), endpoint_url=endpoint, region_name=REGION
    )
    queue_ops = {op for op in k.meta.service_model.operation_names if "Queue" in op}
    eq(len(queue_ops), 12, "queue operations in the model")

    k.create_stream(StreamName="jobs", StreamModeDetails={"StreamMode": "ON_DEMAND"})
    k.create_stream(StreamName="prov", ShardCount=1)
    stream = k.describe_stream_summary(StreamName="jobs")["StreamDescriptionSummary"]
    stream_arn = stream["StreamARN"]
    prov_arn = k.describe_stream_summary(StreamName="prov")["StreamDescriptionSummary"]["StreamARN"]
    k.put_records(StreamName="jobs", Records=[{"Data": f"job-{i}".encode(), "PartitionKey": f"k{i}"} for i in range(5)])

    # --- CreateQueue / DescribeQueue / ListQueues -------------------------------------
    d = call(
        k,
        "CreateQueue",
        QueueName="workers",
        StreamConfigurationList=[{"StreamARN": stream_arn, "StartingPosition": {"Type": "TRIM_HORIZON"}}],
        QueueAttributes={
            "VisibilityTimeoutSeconds": 30,
            "DeadLetterConfiguration": {"TargetType": "BUILT_IN", "MaxReceiveCount": 2},
        },
        Tags={"team": "billing"},
    )["QueueDescription"]
    arn = d["QueueARN"]
    check(arn.startswith(f"arn:aws:kinesis:{REGION}:{ACCOUNT}:queue/"), f"queue ARN {arn}")
    qid = arn.split("/")[-1]
    check(len(qid) <= 63 and all(c.islower() or c.isdigit() or c == "-" for c in qid), "queue id is a DNS label")
    eq(d["QueueName"], "workers", "QueueName")
    eq(d["QueueStatus"], "ACTIVE", "QueueStatus")
    check(isinstance(d["QueueCreationTimestamp"], datetime.datetime), "creation timestamp parsed")
    eq(d["StreamConfigurationList"][0]["StreamARN"], stream_arn, "stream ARN")
    eq(d["StreamConfigurationList"][0]["StartingPosition"]["Type"], "TRIM_HORIZON", "starting position")
    check(isinstance(d["StreamConfigurationList"][0]["StartingPosition"]["Timestamp"], datetime.datetime),
          "ACTIVE queues report the effective start")
    eq(d["QueueAttributes"], {"VisibilityTimeoutSeconds": 30,
                              "DeadLetterConfiguration": {"TargetType": "BUILT_IN", "MaxReceiveCount": 2}}, "attributes")
    eq(call(k, "DescribeQueue", QueueARN=arn)["QueueDescription"], d, "DescribeQueue")
    other = k.create_queue(
        QueueName="audit",
        StreamConfigurationList=[{"StreamARN": stream_arn, "StartingPosition": {"Type": "TRIM_HORIZON"}}],
    )["QueueDescription"]
    eq(other["QueueAttributes"], {"VisibilityTimeoutSeconds": 30,
                                  "DeadLetterConfiguration": {"TargetType": "BUILT_IN", "MaxReceiveCount": 6}},
       "defaults are echoed")
    page = call(k, "ListQueues", MaxResults=1)
    eq(len(page["QueueSummaries"]), 1, "page size")
    rest = k.list_queues(NextToken=page["NextToken"])
    names = [q["QueueName"] for q in page["QueueSummaries"] + rest["QueueSummaries"]]
    eq(names, ["workers", "audit"], "listed queues")
    s = page["QueueSummaries"][0]
    eq(s["Streams"][0]["StreamARN"], stream_arn, "summary stream")
    check(isinstance(s["Streams"][0]["StreamCreationTimestamp"], datetime.datetime), "stream creation timestamp")
    eq(k.list_queues(StreamFilter=[{"StreamARN": prov_arn}])["QueueSummaries"], [], "filter by another stream")
    eq(len(k.list_queues(StreamFilter=[{"StreamARN": stream_arn}])["QueueSummaries"]), 2, "filter by the stream")
    eq(k.describe_stream_summary(StreamName="jobs")["StreamDescriptionSummary"]["QueueCount"], 2, "QueueCount")

    # --- Receive and acknowledge -------------------------------------------------------
    first = receive(k, arn, Limit=3)
    eq(len(first), 3, "first receive")
    for r in first:
        check(r["Data"].startswith(b"job-"), "Data is bytes")
        check(r["PartitionKey"].startswith("k"), "PartitionKey")
        eq(r["ReceiveCount"], 1, "ReceiveCount of a first delivery")
        check(isinstance(r["ApproximateArrivalTimestamp"], datetime.datetime), "arrival timestamp")
        check(isinstance(r["FirstReceiveTimestamp"], datetime.datetime), "first receive timestamp")
        check(re.fullmatch(r"[a-z0-9]{1,64}", r["RecordId"]) is not None, "RecordId pattern")
    rest = receive(k, arn, Limit=10)
    eq(len(rest), 2, "second receive")
    eq(receive(k, arn), [], "nothing visible while in flight (a 1 s long poll)")
    out = call(k, "AcknowledgeQueueRecords", QueueARN=arn, Entries=entries(first) + [{"ReceiptHandle": "forged"}])
    eq(len(out["Successful"]), 3, "acknowledged")
    eq([f["ErrorCode"] for f in out["Failed"]], ["InvalidArgumentException"], "forged handle")
    out = k.acknowledge_queue_records(QueueARN=arn, Entries=entries(first[:1]))
    eq([f["ErrorCode"] for f in out["Failed"]], ["ResourceNotFoundException"], "acknowledged twice")
    # RecordId is the same in every queue of the stream.
    in_audit = receive(k, other["QueueARN"], Limit=10)
    eq({r["RecordId"] for r in in_audit}, {r["RecordId"] for r in first + rest}, "RecordIds across queues")

    # --- Visibility changes -------------------------------------------------------------
    d_rec, e_rec = rest
    out = call(
        k,
        "UpdateQueueRecordsVisibility",
        QueueARN=arn,
        Entries=[dict(ReceiptHandle=d_rec["ReceiptHandle"], VisibilityTimeoutSeconds=0),
                 dict(ReceiptHandle=e_rec["ReceiptHandle"], VisibilityTimeoutSeconds=120)],
    )
    eq((len(out["Successful"]), out["Failed"]), (2, []), "visibility changed")
    again = receive(k, arn)
    eq([r["RecordId"] for r in again], [d_rec["RecordId"]], "visibility 0 made it visible at once")
    eq(again[0]["ReceiveCount"], 2, "second delivery")
    check(again[0]["ReceiptHandle"] != d_rec["ReceiptHandle"], "a new handle per receive")

    # --- Dead-letter lifecycle on the engine clock -------------------------------------
    advance(31_000)  # D's second delivery times out: MaxReceiveCount 2 -> dead letter
    eq(receive(k, arn), [], "a dead letter is skipped by normal receives")
    dl = receive(k, arn, op="ReceiveDeadLetterQueueRecords", VisibilityTimeoutSeconds=60)
    eq([r["RecordId"] for r in dl], [d_rec["RecordId"]], "dead letter received")
    eq(dl[0]["Data"], d_rec["Data"], "dead letter keeps its data")
    out = call(k, "UpdateDeadLetterQueueRecordsVisibility", QueueARN=arn,
               Entries=entries(dl, VisibilityTimeoutSeconds=0))
    eq(len(out["Successful"]), 1, "dead-letter visibility 0")
    dl2 = receive(k, arn, op="ReceiveDeadLetterQueueRecords")
    eq(len(dl2), 1, "the released dead letter comes back")
    out = k.acknowledge_dead_letter_queue_records(QueueARN=arn, Entries=entries(dl))
    eq([f["ErrorCode"] for f in out["Failed"]], ["ResourceNotFoundException"], "a stale dead-letter handle")
    out = k.acknowledge_queue_records(QueueARN=arn, Entries=entries(dl2))
    eq([f["ErrorCode"] for f in out["Failed"]], ["InvalidArgumentException"], "a dead-letter handle on the normal op")
    out = call(k, "RestoreDeadLetterQueueRecords", QueueARN=arn, Entries=entries(dl2))
    eq(len(out["Successful"]), 1, "restored")
    back = receive(k, arn)
    eq([r["RecordId"] for r in back], [d_rec["RecordId"]], "restored record is received again")
    eq(back[0]["ReceiveCount"], 1, "restore resets the receive count")
    eq(len(k.acknowledge_queue_records(QueueARN=arn, Entries=entries(back))["Successful"]), 1, "ack restored")
    advance(120_000)  # E's extended visibility ends
    e_again = receive(k, arn)
    eq([(r["RecordId"], r["ReceiveCount"]) for r in e_again], [(e_rec["RecordId"], 2)], "extended record back")
    advance(31_000)
    dl3 = receive(k, arn, op="ReceiveDeadLetterQueueRecords")
    eq([r["RecordId"] for r in dl3], [e_rec["RecordId"]], "second dead letter")
    out = call(k, "AcknowledgeDeadLetterQueueRecords", QueueARN=arn, Entries=entries(dl3))
    eq(len(out["Successful"]), 1, "dead letter discarded")
    advance(3_600_000)
    eq(receive(k, arn, op="ReceiveDeadLetterQueueRecords"), [], "discarded for good")

    # --- UpdateQueue, tags and policies on the queue ARN --------------------------------
    u = call(k, "UpdateQueue", QueueARN=arn, QueueAttributes={"VisibilityTimeoutSeconds": 60})["QueueDescription"]
    eq(u["QueueAttributes"]["VisibilityTimeoutSeconds"], 60, "updated visibility")
    eq(u["QueueAttributes"]["DeadLetterConfiguration"]["MaxReceiveCount"], 2, "dead-letter config kept")
    k.tag_resource(ResourceARN=arn, Tags={"env": "test"})
    eq(k.list_tags_for_resource(ResourceARN=arn)["Tags"],
       [{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "billing"}], "queue tags")
    k.untag_resource(ResourceARN=arn, TagKeys=["team"])
    eq(len(k.list_tags_for_resource(ResourceARN=arn)["Tags"]), 1, "untagged")
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kinesis:ReceiveQueueRecords"}]})
    k.put_resource_policy(ResourceARN=arn, Policy=policy)
    eq(k.get_resource_policy(ResourceARN=arn)["Policy"], policy, "queue policy")
    k.delete_resource_policy(ResourceARN=arn)
    eq(k.get_resource_policy(ResourceARN=arn)["Policy"], "{}", "policy deleted")

    # --- Metrics -------------------------------------------------------------------------
    text = urllib.request.urlopen(f"{endpoint}/metrics", timeout=10).read().decode()
    label = f'queue_id="{qid}",queue_name="workers"'
    for name in ("kinesis_received_queue_records_total", "kinesis_acknowledged_queue_records_total",
                 "kinesis_empty_receives_total", "kinesis_visible_queue_records", "kinesis_in_flight_queue_records",
                 "kinesis_visible_dead_letter_queue_records"):
        check(f"{name}{{{label}}}" in text, f"metric {name} for the queue")
    check(f"kinesis_acknowledged_queue_records_total{{{label}}} 5" in text, "5 acknowledged (a dead letter included)")

    # --- Refusals and invalid input ------------------------------------------------------
    expect_error(k, "CreateQueue", "ValidationException", QueueName="p",
                 StreamConfigurationList=[{"StreamARN": prov_arn}])
    msg = expect_error(k, "CreateQueue", "ResourceInUseException", QueueName="workers",
                       StreamConfigurationList=[{"StreamARN": stream_arn}])
    check("workers" in msg, f"duplicate-name message: {msg}")
    expect_error(unchecked, "CreateQueue", "ValidationException", QueueName="t",
                 StreamConfigurationList=[{"StreamARN": stream_arn, "StartingPosition": {"Type": "AT_TIMESTAMP"}}])
    expect_error(unchecked, "DescribeQueue", "ValidationException", QueueARN="not-an-arn")
    expect_error(k, "DescribeQueue", "ResourceNotFoundException", QueueARN=arn.replace(qid, "qnope"))
    expect_error(unchecked, "ListQueues", "ValidationException", MaxResults=0)
    expect_error(unchecked, "UpdateQueue", "ValidationException", QueueARN=arn,
                 QueueAttributes={"DeadLetterConfiguration": {"TargetType": "NONE", "MaxReceiveCount": 3}})
    expect_error(unchecked, "ReceiveQueueRecords", "ValidationException", QueueARN=arn, Limit=11)
    expect_error(unchecked, "ReceiveDeadLetterQueueRecords", "ValidationException", QueueARN=arn, WaitTimeSeconds=21)
    expect_error(unchecked, "AcknowledgeQueueRecords", "ValidationException", QueueARN=arn, Entries=[])
    expect_error(unchecked, "UpdateQueueRecordsVisibility", "ValidationException", QueueARN=arn,
                 Entries=[{"ReceiptHandle": "x", "VisibilityTimeoutSeconds": 43_201}])
    expect_error(unchecked, "AcknowledgeDeadLetterQueueRecords", "ValidationException", QueueARN=arn,
                 Entries=[{"ReceiptHandle": "x"}] * 11)
    expect_error(unchecked, "UpdateDeadLetterQueueRecordsVisibility", "ValidationException", QueueARN=arn,
                 Entries=[{"ReceiptHandle": "x"}])
    expect_error(unchecked, "RestoreDeadLetterQueueRecords", "ValidationException", QueueARN=arn,
                 Entries=[{"ReceiptHandle": ""}])
    expect_error(k, "DeleteStream", "ResourceInUseException", StreamName="jobs", EnforceConsumerDeletion=True)
    CALLED.discard("DeleteStream")
    INVALID.discard("DeleteStream")
    try:
        k.update_stream_mode(StreamARN=stream_arn, StreamModeDetails={"StreamMode": "PROVISIONED"})
        raise Mismatch("UpdateStreamMode to PROVISIONED with queues succeeded")
    except ClientError as e:
        eq(e.response["Error"]["Code"], "ResourceInUseException", "UpdateStreamMode with queues")

    # --- DeleteQueue invalidates handles -------------------------------------------------
    k.put_record(StreamName="jobs", Data=b"last", PartitionKey="z")
    last = receive(k, arn)
    eq(len(last), 1, "one more record")
    call(k, "DeleteQueue", QueueARN=arn)
    expect_error(k, "AcknowledgeQueueRecords", "ResourceNotFoundException", QueueARN=arn, Entries=entries(last))
    expect_error(k, "DeleteQueue", "ResourceNotFoundException", QueueARN=arn)
    expect_error(k, "ReceiveQueueRecords", "ResourceNotFoundException", QueueARN=arn, WaitTimeSeconds=1)
    expect_error(k, "UpdateQueue", "ResourceNotFoundException", QueueARN=arn,
                 QueueAttributes={"VisibilityTimeoutSeconds": 1})
    k.delete_queue(QueueARN=other["QueueARN"])
    eq(k.list_queues()["QueueSummaries"], [], "no queues left")
    k.delete_stream(StreamName="jobs")

    eq(CALLED & queue_ops, queue_ops, "every queue operation called with valid input")
    eq(INVALID & queue_ops, queue_ops, "every queue operation called with invalid input")
    print(f"queues: all checks passed ({len(queue_ops)} operations)", flush=True)


if __name__ == "__main__":
    try:
        main()
    except Mismatch as e:
        print(f"FAILED: {e}", flush=True)
        traceback.print_exc(file=sys.stdout, chain=False)
        sys.exit(1)
    except Exception as e:  # noqa: BLE001
        print(f"FAILED: {type(e).__name__}: {e}", flush=True)
        traceback.print_exc(file=sys.stdout)
        sys.exit(1)
