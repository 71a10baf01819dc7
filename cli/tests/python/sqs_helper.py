"""An SQS-compatible endpoint (moto's server) for cli/tests/serve_lambda.rs.

    sqs_helper.py serve PORT_FILE QUEUE     run moto on a free loopback port with QUEUE created
    sqs_helper.py receive ENDPOINT QUEUE N  print the bodies of N messages as a JSON list
                                            (long polls, at most 60 s)
"""

import json
import os
import sys
import time

import boto3


def client(endpoint):
    return boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")


if sys.argv[1] == "serve":
    from moto.server import ThreadedMotoServer

    port_file, queue = sys.argv[2], sys.argv[3]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server._server.server_port
    client(f"http://127.0.0.1:{port}").create_queue(QueueName=queue)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(port_file + ".tmp", port_file)
    while True:
        time.sleep(3600)
elif sys.argv[1] == "receive":
    endpoint, queue, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
    sqs = client(endpoint)
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    bodies = []
    deadline = time.monotonic() + 60
    while len(bodies) < n and time.monotonic() < deadline:
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for m in r.get("Messages", []):
            bodies.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    print(json.dumps(bodies))
