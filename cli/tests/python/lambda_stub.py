"""The Lambda Invoke API, as AWS Lambda, `sam local start-lambda` and the Runtime Interface
Emulator serve it, running real Python handlers in process — the test's function host.

    lambda_stub.py PORT_FILE LOG_FILE ACCESS_KEY SECRET_KEY REGION [CERT_PEM KEY_PEM]

Serves `POST /2015-03-31/functions/{name}/invocations` on a free loopback port (written to
PORT_FILE), over HTTPS with CERT_PEM/KEY_PEM when they are given. Every request's SigV4 signature is verified with botocore's signer against
ACCESS_KEY/SECRET_KEY for service `lambda` (a bad one gets 403, as Lambda answers). The
handler's return value is the 200 response; an exception becomes Lambda's error response
(200, `X-Amz-Function-Error: Unhandled`, `{"errorMessage", "errorType", "stackTrace"}`). An
unknown function is 404 `ResourceNotFoundException`. Each invocation is appended to LOG_FILE
as one JSON line: function, shard, sequence numbers, data, outcome, and the event's window
members.

Functions:
- `powertools`: a Lambda Powertools `BatchProcessor` handler for Kinesis
  (`process_partial_response`): a record whose data contains "poison" always fails, one
  containing "flaky" fails the first time it is seen. Powertools reports the failures as
  `batchItemFailures`, and raises when every record of the batch failed.
- `sleepy`: sleeps 5 s the first time it sees a record containing "slow" (for timeouts),
  else succeeds.
- `recorder`: succeeds.
"""

import base64
import datetime
import json
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

PORT_FILE, LOG_FILE, ACCESS_KEY, SECRET_KEY, REGION = sys.argv[1:6]
LOCK = threading.Lock()
SEEN = set()


def first_time(key):
    with LOCK:
        if key in SEEN:
            return False
        SEEN.add(key)
        return True


def record_handler(record: KinesisStreamRecord):
    text = record.kinesis.data_as_text()
    if "poison" in text:
        raise ValueError(f"poison record {record.kinesis.sequence_number}")
    if "flaky" in text and first_time(("flaky", record.kinesis.sequence_number)):
        raise RuntimeError(f"flaky record {record.kinesis.sequence_number} fails once")
    return text


class Context:
    function_name = "powertools"
    aws_request_id = "stub"


def powertools(event):
    # A processor per invocation: invocations run concurrently (shards, parallel lanes).
    processor = BatchProcessor(event_type=EventType.KinesisDataStreams)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=Context())


def sleepy(event):
    for r in event.get("Records", []):
        text = base64.b64decode(r["kinesis"]["data"]).decode()
        if "slow" in text and first_time(("slow", r["kinesis"]["sequenceNumber"])):
            time.sleep(5)
    return {}


def recorder(event):
    return {}


FUNCTIONS = {"powertools": powertools, "sleepy": sleepy, "recorder": recorder}


def signature_problem(handler, body):
    """Why the request's SigV4 signature is wrong, or None."""
    auth = handler.headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "missing or unsupported Authorization"
    fields = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    scope = fields["Credential"].split("/")
    if scope[0] != ACCESS_KEY or scope[2] != REGION or scope[3] != "lambda":
        return "unexpected credential scope " + fields["Credential"]
    signed = fields["SignedHeaders"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        return "host and x-amz-date must be signed, got " + fields["SignedHeaders"]
    headers = {h: handler.headers[h] for h in signed}
    url = "http://" + handler.headers["Host"] + handler.path
    req = AWSRequest(method="POST", url=url, data=body, headers=headers)
    req.context["timestamp"] = handler.headers["X-Amz-Date"]
    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "lambda", REGION)
    expected = signer.signature(signer.string_to_sign(req, signer.canonical_request(req)), req)
    if expected != fields["Signature"]:
        return "signature mismatch"
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, payload, headers=()):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        parts = self.path.split("?")[0].split("/")
        if len(parts) != 5 or parts[1:3] != ["2015-03-31", "functions"] or parts[4] != "invocations":
            return self.reply(404, {"Type": "User", "message": "unknown path " + self.path},
                              [("x-amzn-ErrorType", "UnknownOperationException")])
        problem = signature_problem(self, body)
        if problem:
            return self.reply(403, {"message": problem}, [("x-amzn-ErrorType", "InvalidSignatureException")])
        name = parts[3]
        fn = FUNCTIONS.get(name)
        if fn is None or self.headers.get("X-Amz-Invocation-Type") != "RequestResponse":
            return self.reply(404, {"Type": "User", "Message": "Function not found: " + name},
                              [("x-amzn-ErrorType", "ResourceNotFoundException")])
        event = json.loads(body)
        recs = event.get("Records", [])
        entry = {
            "function": name,
            "shard": recs[0]["eventID"].split(":")[0] if recs else event.get("shardId"),
            "seqs": [r["kinesis"]["sequenceNumber"] for r in recs],
            "keys": [r["kinesis"]["partitionKey"] for r in recs],
            "data": [base64.b64decode(r["kinesis"]["data"]).decode() for r in recs],
            "window": {k: event[k] for k in ("window", "state", "isFinalInvokeForWindow") if k in event},
        }
        try:
            result = fn(event)
            entry["outcome"] = "ok"
            entry["response"] = result
            status, payload, headers = 200, result, [("X-Amz-Executed-Version", "$LATEST")]
        except Exception as e:
            entry["outcome"] = "error"
            entry["error"] = type(e).__name__
            payload = {"errorMessage": str(e), "errorType": type(e).__name__,
                       "stackTrace": traceback.format_exception(type(e), e, e.__traceback__)}
            status, headers = 200, [("X-Amz-Function-Error", "Unhandled"), ("X-Amz-Executed-Version", "$LATEST")]
        entry["at"] = datetime.datetime.now().isoformat()
        with LOCK:
            with open(LOG_FILE, "a") as f:
                f.write(json.dumps(entry) + "\n")
        try:
            self.reply(status, payload, headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the caller gave up (its timeout)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
if len(sys.argv) > 7:
    import ssl

    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(sys.argv[6], sys.argv[7])
    server.socket = tls.wrap_socket(server.socket, server_side=True)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os  # noqa: E402

os.rename(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
