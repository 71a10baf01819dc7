"""boto3 against `shardlog serve --tls`: run by cli/tests/serve_python.rs.

Usage: tls.py ENDPOINT_URL CERT_PEM

The client trusts only the server's self-signed certificate (`verify=CERT_PEM`): create a
stream, put and get a record, and push it through SubscribeToShard, all over HTTPS. A client
that trusts only the system's certificate authorities must fail verification. Exits 0 when
every check passed.
"""

import sys

import boto3
from botocore.config import Config
from botocore.exceptions import SSLError


def client(endpoint, verify):
    return boto3.client(
        "kinesis",
        endpoint_url=endpoint,
        region_name="us-east-1",
        verify=verify,
        config=Config(retries={"max_attempts": 1}),
    )


def main():
    endpoint, cert = sys.argv[1], sys.argv[2]
    k = client(endpoint, cert)
    k.create_stream(StreamName="tls", ShardCount=1)
    put = k.put_record(StreamName="tls", PartitionKey="k", Data=b"over https")
    it = k.get_shard_iterator(StreamName="tls", ShardId=put["ShardId"], ShardIteratorType="TRIM_HORIZON")
    got = k.get_records(ShardIterator=it["ShardIterator"])
    assert [r["Data"] for r in got["Records"]] == [b"over https"], got

    arn = k.describe_stream_summary(StreamName="tls")["StreamDescriptionSummary"]["StreamARN"]
    consumer = k.register_stream_consumer(StreamARN=arn, ConsumerName="tls")["Consumer"]["ConsumerARN"]
    sub = k.subscribe_to_shard(
        ConsumerARN=consumer, ShardId=put["ShardId"], StartingPosition={"Type": "TRIM_HORIZON"}
    )
    pushed = None
    for event in sub["EventStream"]:
        records = event["SubscribeToShardEvent"]["Records"]
        if records:
            pushed = [r["Data"] for r in records]
            break
    sub["EventStream"].close()
    assert pushed == [b"over https"], pushed

    try:
        client(endpoint, True).list_streams()
    except SSLError:
        pass
    else:
        raise AssertionError("a client trusting only the system CAs accepted the self-signed certificate")
    print("tls: all checks passed")


if __name__ == "__main__":
    main()
