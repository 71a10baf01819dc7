"""boto3's `lambda` and `kinesis` clients against `shardlog serve`, whose mappings invoke a real
Lambda Powertools handler (lambda_stub.py): run by cli/tests/serve_lambda.rs.

Usage: lambda_scenario.py ENDPOINT_URL STUB_LOG ON_FAILURE_DIR

Creates a mapping with every Kinesis parameter, checks the responses as boto3 parses them
(LastModified a datetime, 202/200 statuses, UUID, states), Lambda's error codes and
statuses, partial batch failures reported by Powertools (a flaky record retried from where
it failed, a poison record bisected, retried and sent to the on-failure destination), per-key
order, pause and resume, updates (filter criteria, batch size), ListEventSourceMappings
filters and the paginator, and deletion. Exits 0 when every check passed.
"""

import base64
import datetime
import glob
import json
import os
import sys
import time
import traceback

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from checks import Mismatch, check, eq

ENDPOINT, STUB_LOG, FAILURE_DIR = sys.argv[1:4]
ACCOUNT = "000000000000"
REGION = "us-east-1"
DLQ = f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders-dlq"


def expect_error(code, status, fn, contains=None, **kwargs):
    try:
        fn(**kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        msg = e.response["Error"].get("Message", "")
        eq(got, code, f"{fn.__name__} error code ({msg!r})")
        eq(e.response["ResponseMetadata"]["HTTPStatusCode"], status, f"HTTP status of {code}")
        if contains is not None and contains not in msg:
            raise Mismatch(f"{fn.__name__}: message {msg!r} lacks {contains!r}")
        return msg
    raise Mismatch(f"{fn.__name__}{kwargs}: succeeded, want {code}")


def wait(what, cond, timeout=90):
    """Poll `cond` (it waits on the server's pollers) for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Mismatch(f"timed out waiting for {what}")
        time.sleep(0.02)


def invocations(function=None):
    try:
        with open(STUB_LOG) as f:
            entries = [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []
    return [e for e in entries if function is None or e["function"] == function]


def succeeded(entries):
    """(seq, key, data) of every record an invocation processed successfully, in order."""
    out = []
    for e in entries:
        if e["outcome"] != "ok":
            continue
        failed = {f["itemIdentifier"] for f in (e.get("response") or {}).get("batchItemFailures", [])}
        out.extend((s, k, d) for s, k, d in zip(e["seqs"], e["keys"], e["data"]) if s not in failed)
    return out


def state(lam, uuid):
    return lam.get_event_source_mapping(UUID=uuid)["State"]


def main():
    cfg = Config(retries={"max_attempts": 1})
    kin = boto3.client("kinesis", endpoint_url=ENDPOINT, config=cfg)
    lam = boto3.client("lambda", endpoint_url=ENDPOINT, config=cfg)

    kin.create_stream(StreamName="orders", ShardCount=2)
    arn = kin.describe_stream_summary(StreamName="orders")["StreamDescriptionSummary"]["StreamARN"]

    # Errors before anything exists.
    expect_error("ResourceNotFoundException", 404, lam.get_event_source_mapping, UUID="a1b2c3d4-5678-90ab-cdef-111111111111")
    expect_error("ResourceNotFoundException", 404, lam.delete_event_source_mapping, UUID="a1b2c3d4-5678-90ab-cdef-111111111111")
    expect_error("InvalidParameterValueException", 400, lam.create_event_source_mapping, contains="StartingPosition",
                 FunctionName="powertools", EventSourceArn=arn)
    expect_error("InvalidParameterValueException", 400, lam.create_event_source_mapping, contains="stream/nope",
                 FunctionName="powertools", EventSourceArn=arn.replace("orders", "nope"), StartingPosition="LATEST")
    expect_error("InvalidParameterValueException", 400, lam.create_event_source_mapping, contains="between 60 and 604800",
                 FunctionName="powertools", EventSourceArn=arn, StartingPosition="LATEST", MaximumRecordAgeInSeconds=30)
    expect_error("InvalidParameterValueException", 400, lam.create_event_source_mapping, contains="not supported for Kinesis",
                 FunctionName="powertools", EventSourceArn=arn, StartingPosition="LATEST", Queues=["q"])
    eq(lam.list_event_source_mappings()["EventSourceMappings"], [], "no mapping was created")

    # Records: 4 keys; one flaky record (fails once) and one poison record (always fails).
    payloads = []
    for i in range(24):
        key = f"k{i % 4}"
        data = f"rec-{i}"
        if i == 5:
            data = "flaky-5"
        if i == 10:
            data = "poison-10"
        payloads.append((key, data))
    put = kin.put_records(StreamName="orders", Records=[{"PartitionKey": k, "Data": d.encode()} for k, d in payloads])
    eq(put["FailedRecordCount"], 0, "all records put")
    seq_of = {d: r["SequenceNumber"] for (k, d), r in zip(payloads, put["Records"])}

    ts = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    created = lam.create_event_source_mapping(
        FunctionName="powertools",
        EventSourceArn=arn,
        StartingPosition="AT_TIMESTAMP",
        StartingPositionTimestamp=ts,
        BatchSize=4,
        MaximumBatchingWindowInSeconds=0,
        ParallelizationFactor=2,
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=2,
        MaximumRecordAgeInSeconds=3600,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        DestinationConfig={"OnFailure": {"Destination": DLQ}},
        TumblingWindowInSeconds=0,
        MetricsConfig={"Metrics": ["EventCount"]},
        Tags={"team": "data"},
    )
    eq(created["ResponseMetadata"]["HTTPStatusCode"], 202, "CreateEventSourceMapping status")
    eq(created["State"], "Creating", "State of a new mapping")
    uuid = created["UUID"]
    eq(len(uuid), 36, "UUID length")
    check(isinstance(created["LastModified"], datetime.datetime), "LastModified parses as a datetime")
    check(isinstance(created["StartingPositionTimestamp"], datetime.datetime), "StartingPositionTimestamp parses")
    eq(int(created["StartingPositionTimestamp"].timestamp()), int(ts.timestamp()), "StartingPositionTimestamp")
    eq(created["FunctionArn"], f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:powertools", "FunctionArn")
    eq(created["EventSourceMappingArn"], f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{uuid}", "ESM ARN")
    for k, v in [("BatchSize", 4), ("ParallelizationFactor", 2), ("BisectBatchOnFunctionError", True),
                 ("MaximumRetryAttempts", 2), ("MaximumRecordAgeInSeconds", 3600), ("TumblingWindowInSeconds", 0),
                 ("FunctionResponseTypes", ["ReportBatchItemFailures"]), ("StartingPosition", "AT_TIMESTAMP"),
                 ("DestinationConfig", {"OnFailure": {"Destination": DLQ}}), ("MetricsConfig", {"Metrics": ["EventCount"]}),
                 ("StateTransitionReason", "User action"), ("LastProcessingResult", "No records processed")]:
        eq(created[k], v, k)
    expect_error("ResourceConflictException", 409, lam.create_event_source_mapping, contains=uuid,
                 FunctionName="powertools", EventSourceArn=arn, StartingPosition="LATEST")

    wait("the mapping to run", lambda: state(lam, uuid) == "Enabled")
    want = {d for _, d in payloads if d != "poison-10"}
    wait("every good record to be processed", lambda: want <= {d for _, _, d in succeeded(invocations("powertools"))})
    docs = wait("the poison record's on-failure document", lambda: glob.glob(os.path.join(FAILURE_DIR, uuid, "*.json")))
    eq(len(docs), 1, "one discarded batch")
    with open(docs[0]) as f:
        doc = json.load(f)
    eq(doc["requestContext"]["condition"], "RetryAttemptsExhausted", "condition")
    eq(doc["requestContext"]["approximateInvokeCount"], 3, "invocations of the discarded batch")
    # Powertools reported the poison record (its batch partly succeeded): a partial failure,
    # retried from that record until the retries ran out, is not a function error.
    check("functionError" not in doc["responseContext"], f"a partial failure: {doc['responseContext']}")
    eq(doc["KinesisBatchInfo"]["startSequenceNumber"], seq_of["poison-10"], "the discarded batch starts at the poison record")
    eq(doc["KinesisBatchInfo"]["streamArn"], arn, "streamArn")

    calls = invocations("powertools")
    # The flaky record: reported by Powertools, then retried from it.
    flaky_calls = [c for c in calls if "flaky-5" in c["data"]]
    check(len(flaky_calls) >= 2, f"the flaky record was retried: {flaky_calls}")
    first = flaky_calls[0]
    failed_ids = [f["itemIdentifier"] for f in first["response"]["batchItemFailures"]]
    eq(failed_ids, [seq_of["flaky-5"]], "Powertools reported the flaky record")
    eq(flaky_calls[1]["data"][0], "flaky-5", "the retry starts at the reported record")
    # Every retry of the poison record's batch started at it.
    poison_calls = [c for c in calls if "poison-10" in c["data"]]
    eq(len(poison_calls), 3, "the poison record's invocations (1 + MaximumRetryAttempts)")
    check(all(c["data"][0] == "poison-10" for c in poison_calls[1:]), "retries start at the reported record")
    # Per key, first deliveries are in put order.
    order = {}
    for s, k, d in succeeded(calls):
        order.setdefault(k, [])
        if d not in order[k]:
            order[k].append(d)
    for k, ds in order.items():
        want_k = [d for kk, d in payloads if kk == k and d in ds]
        eq(ds, want_k, f"order of key {k}")

    m = lam.get_event_source_mapping(UUID=uuid)
    eq(m["ResponseMetadata"]["HTTPStatusCode"], 200, "GetEventSourceMapping status")
    eq(m["State"], "Enabled", "State")
    eq(m["LastProcessingResult"], "OK", "LastProcessingResult")

    # A second mapping (the recorder) on the same stream; list filters and the paginator.
    other = lam.create_event_source_mapping(FunctionName="recorder", EventSourceArn=arn, StartingPosition="LATEST")["UUID"]
    wait("the recorder to run", lambda: state(lam, other) == "Enabled")
    eq([m["UUID"] for m in lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]], [uuid, other],
       "listed in creation order")
    eq([m["UUID"] for m in lam.list_event_source_mappings(FunctionName="recorder")["EventSourceMappings"]], [other],
       "FunctionName filter")
    eq(lam.list_event_source_mappings(EventSourceArn=arn.replace("orders", "other"))["EventSourceMappings"], [],
       "EventSourceArn filter")
    pages = list(lam.get_paginator("list_event_source_mappings").paginate(PaginationConfig={"PageSize": 1}))
    eq([m["UUID"] for p in pages for m in p["EventSourceMappings"]], [uuid, other], "paginated with Marker/MaxItems")
    eq(len(pages), 2, "one mapping per page")

    # Pause: nothing reaches the paused mapping while the other one keeps delivering.
    paused = lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    eq(paused["ResponseMetadata"]["HTTPStatusCode"], 202, "UpdateEventSourceMapping status")
    eq(paused["State"], "Disabling", "State while pausing")
    wait("the pause", lambda: state(lam, uuid) == "Disabled")
    before = len(invocations("powertools"))
    kin.put_records(StreamName="orders", Records=[{"PartitionKey": f"p{i}", "Data": f"paused-{i}".encode()} for i in range(6)])
    wait("the recorder to get the paused records",
         lambda: {f"paused-{i}" for i in range(6)} <= {d for c in invocations("recorder") for d in c["data"]})
    eq(len(invocations("powertools")), before, "no invocation while disabled")
    resumed = lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    eq(resumed["State"], "Enabling", "State while resuming")
    wait("the resumed mapping to catch up",
         lambda: {f"paused-{i}" for i in range(6)} <= {d for _, _, d in succeeded(invocations("powertools"))})

    # Update: a filter on metadata and a new batch size.
    upd = lam.update_event_source_mapping(
        UUID=uuid, BatchSize=2, FilterCriteria={"Filters": [{"Pattern": json.dumps({"partitionKey": [{"prefix": "keep-"}]})}]}
    )
    eq(upd["State"], "Updating", "State while updating")
    wait("the update", lambda: state(lam, uuid) == "Enabled")
    m = lam.get_event_source_mapping(UUID=uuid)
    eq(m["BatchSize"], 2, "new BatchSize")
    eq(m["FilterCriteria"]["Filters"][0]["Pattern"], json.dumps({"partitionKey": [{"prefix": "keep-"}]}), "FilterCriteria")
    before = {d for c in invocations("powertools") for d in c["data"]}
    kin.put_records(StreamName="orders", Records=[{"PartitionKey": k, "Data": k.encode()} for k in ["drop-1", "keep-1", "drop-2", "keep-2"]])
    wait("the filtered records", lambda: {"keep-1", "keep-2"} <= {d for _, _, d in succeeded(invocations("powertools"))})
    wait("the recorder to read them all", lambda: {"drop-1", "drop-2"} <= {d for c in invocations("recorder") for d in c["data"]})
    got = {d for c in invocations("powertools") for d in c["data"]} - before
    eq(got, {"keep-1", "keep-2"}, "records matching no filter are dropped")
    # The service model's constraints, as the service words them (boto3's own checks off).
    raw = boto3.client("lambda", endpoint_url=ENDPOINT, config=Config(retries={"max_attempts": 1}, parameter_validation=False))
    expect_error("ValidationException", 400, raw.update_event_source_mapping, contains="at 'batchSize'", UUID=uuid, BatchSize=0)
    expect_error("ValidationException", 400, raw.get_event_source_mapping, contains="at 'uUID'", UUID="short")
    eq(lam.get_event_source_mapping(UUID=uuid)["BatchSize"], 2, "a refused update changes nothing")

    # Delete both.
    gone = lam.delete_event_source_mapping(UUID=uuid)
    eq(gone["ResponseMetadata"]["HTTPStatusCode"], 202, "DeleteEventSourceMapping status")
    eq(gone["State"], "Deleting", "State while deleting")
    lam.delete_event_source_mapping(UUID=other)

    def deleted(u):
        try:
            lam.get_event_source_mapping(UUID=u)
            return False
        except ClientError as e:
            return e.response["Error"]["Code"] == "ResourceNotFoundException"

    wait("the deletions", lambda: deleted(uuid) and deleted(other))
    eq(lam.list_event_source_mappings()["EventSourceMappings"], [], "no mapping left")
    print("lambda scenario: all checks passed")


if __name__ == "__main__":
    try:
        main()
    except Exception:
        traceback.print_exc()
        sys.exit(1)
